package t

import (
	"bufio"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of ucspi-starttls -c (client mode) under tcpclient and tlsc -n,
// against this suite's own server chain with mailfront and against fake
// servers that strip STARTTLS or inject a response.

func stcData(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", "starttls-client", name))
	return p
}

// stcServer starts tcpserver … tlsd -n ucspi-starttls smtp mailfront with
// the given certificate stem; offer=false leaves UCSPITLS unset, so the
// server does not offer STARTTLS.
func stcServer(t *testing.T, dir, stem string, offer bool) int {
	t.Helper()
	need(t, "/usr/sbin/mailfront")
	env := baseEnv("CERTFILE="+dir+"/"+stem+".crt", "KEYFILE="+dir+"/"+stem+".key")
	if offer {
		env = append(env, "UCSPITLS=")
	}
	s := serve(t, env, "-c", "100", "127.0.0.1", "0", "tlsd", "-n", "ucspi-starttls", "smtp",
		"/usr/sbin/mailfront", "smtp", "echo", "accept")
	return s.Port
}

// stcSend runs the client chain against port with the policy and extra
// environment, and the send.sh client as prog.
func stcSend(t *testing.T, port int, name, policy string, extra ...string) result {
	t.Helper()
	dir := certDir(t)
	env := baseEnv(append([]string{"CAFILE=" + dir + "/ca.crt"}, extra...)...)
	return run(t, env, "", bin("tcpclient"), "-T", "5", "127.0.0.1", strconv.Itoa(port),
		"tlsc", "-n", "-k", name, "--verify-report", "ucspi-starttls", "-c", "-t", "5", "-p", policy, "smtp", stcData("send.sh"))
}

// spkiSHA256 is the "3 1 1" data of a PEM chain's first certificate.
func tlsaOf(t *testing.T, der []byte, sel string) string {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	b := c.Raw
	if sel == "1" {
		b = c.RawSubjectPublicKeyInfo
	}
	h := sha256.Sum256(b)
	return sel + " 1 " + hex.EncodeToString(h[:])
}

// The outcome a case expects.
const (
	sentTLS   = "tls"
	sentClear = "clear"
	deferred  = "defer"
)

// TestStarttlsClientPolicies: each policy against each kind of server,
// with the expected outcome: prog sends its message inside TLS, in clear,
// or gets a 421 (deferred) and nothing reaches the server in clear.
func TestStarttlsClientPolicies(t *testing.T) {
	dir := certDir(t)
	p := certs(t)
	good := stcServer(t, dir, "server", true)
	clear := stcServer(t, dir, "server", false)
	rogue := stcServer(t, dir, "roguesrv", true)
	ee := "TLSA=3 " + tlsaOf(t, p.Server.DER, "1")
	eeWrong := "TLSA=3 " + tlsaOf(t, p.Other.DER, "1")
	ta := "TLSA=2 " + tlsaOf(t, p.CA.DER, "0")
	base := "TLSA_BASENAME=localhost"
	tests := []struct {
		name   string
		port   int
		k      string
		policy string
		env    []string
		want   string
		verify string // SSL_PEER_VERIFY prog sees (TLS cases)
	}{
		{"none offered", good, "localhost", "none", nil, sentClear, ""},
		{"may offered", good, "localhost", "may", nil, sentTLS, "verified"},
		{"encrypt offered", good, "localhost", "encrypt", nil, sentTLS, "verified"},
		{"verify offered", good, "localhost", "verify", nil, sentTLS, "verified"},
		{"dane without TLSA", good, "localhost", "dane", nil, sentTLS, "verified"},
		{"may not offered", clear, "localhost", "may", nil, sentClear, ""},
		{"none not offered", clear, "localhost", "none", nil, sentClear, ""},
		{"encrypt not offered", clear, "localhost", "encrypt", nil, deferred, ""},
		{"verify not offered", clear, "localhost", "verify", nil, deferred, ""},
		{"dane not offered", clear, "localhost", "dane", []string{ee, base}, deferred, ""},
		{"dane not offered without TLSA", clear, "localhost", "dane", nil, sentClear, ""},
		{"may untrusted CA", rogue, "localhost", "may", nil, sentTLS, "untrusted:unknown-authority"},
		{"encrypt untrusted CA", rogue, "localhost", "encrypt", nil, sentTLS, "untrusted:unknown-authority"},
		{"verify untrusted CA", rogue, "localhost", "verify", nil, deferred, ""},
		{"may wrong name", good, "other.test", "may", nil, sentTLS, "untrusted:name-mismatch"},
		{"verify wrong name", good, "other.test", "verify", nil, deferred, ""},
		{"dane-ee match", rogue, "localhost", "dane", []string{"TLSA=3 " + tlsaOf(t, p.RogueSrv.DER, "1"), base}, sentTLS, "dane-ee"},
		{"dane-ee match good server", good, "localhost", "dane", []string{ee, base}, sentTLS, "dane-ee"},
		{"dane-ee mismatch", good, "localhost", "dane", []string{eeWrong, base}, deferred, ""},
		{"dane-ta", good, "localhost", "dane", []string{ta, base}, sentTLS, "dane-ta"},
		{"dane-ta wrong base name", good, "localhost", "dane", []string{ta, "TLSA_BASENAME=other.test"}, sentTLS, "dane-ta"},
		{"dane unusable records", rogue, "localhost", "dane", []string{"TLSA=1 " + tlsaOf(t, p.RogueSrv.DER, "1"), base}, sentTLS, "untrusted:unknown-authority"},
		{"dane-only without TLSA", good, "localhost", "dane-only", nil, deferred, ""},
		{"may with TLSA mismatch", good, "localhost", "may", []string{eeWrong, base}, sentTLS, "untrusted:dane-mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := stcSend(t, tc.port, tc.k, tc.policy, tc.env...)
			logs := lines(r.Stderr)
			var logLine string
			for _, l := range logs {
				if strings.HasPrefix(l, "ucspi-starttls: ") {
					if logLine != "" {
						t.Errorf("more than one ucspi-starttls line:\n%s", r.Stderr)
					}
					logLine = l
				}
			}
			switch tc.want {
			case sentTLS:
				if r.Code != 0 || !strings.Contains(r.Stdout, "result sent") ||
					!strings.Contains(r.Stdout, "SSL_PROTOCOL=TLSv1.3 SSL_PEER_VERIFY="+tc.verify+" SSLCTLFD=unset") ||
					strings.Contains(r.Stdout, "<- 250-STARTTLS") ||
					!strings.Contains(logLine, " result=tls") || !strings.Contains(logLine, " verify="+tc.verify) {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			case sentClear:
				if r.Code != 0 || !strings.Contains(r.Stdout, "result sent") || !strings.Contains(r.Stdout, "SSL_PROTOCOL=unset") ||
					!strings.Contains(logLine, "info: ") || !strings.Contains(logLine, " verify=cleartext result=cleartext") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			case deferred:
				if r.Code != 75 || !strings.Contains(r.Stdout, "<- 421 4.7.0 TLS policy "+tc.policy) ||
					strings.Contains(r.Stdout, "-> MAIL") || !strings.Contains(logLine, "warning: ") ||
					!strings.Contains(logLine, "warning: defer ") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			}
			// The greeting prog sees is the server's, from before TLS.
			if tc.want != deferred && !strings.Contains(r.Stdout, " mailfront ESMTP\n-> EHLO client.test\n") {
				t.Errorf("greeting: %s", r.Stdout)
			}
		})
	}
}

// fakeSMTP is a scripted server: it greets, answers EHLO with ehlo,
// answers STARTTLS with starttls (written in one write), and records
// every line it receives.
type fakeSMTP struct {
	port int
	mu   sync.Mutex
	got  []string
	done chan struct{}
}

func startFake(t *testing.T, greeting, ehlo, starttls string) *fakeSMTP {
	t.Helper()
	return startFakeEHLOs(t, greeting, []string{ehlo}, starttls)
}

// startFakeEHLOs is startFake answering the i-th EHLO with ehlos[i] (the
// last one for every further EHLO).
func startFakeEHLOs(t *testing.T, greeting string, ehlos []string, starttls string) *fakeSMTP {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSMTP{port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		defer close(f.done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if greeting == "" {
			// Silent server: wait for the client to give up.
			bufio.NewReader(c).ReadString(0)
			return
		}
		c.Write([]byte(greeting))
		if ehlos[0] == "CLOSE" {
			return
		}
		br := bufio.NewReader(c)
		data, n := false, 0
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			f.mu.Lock()
			f.got = append(f.got, l)
			f.mu.Unlock()
			if data {
				if l == "." {
					data = false
					c.Write([]byte("250 2.0.0 queued\r\n"))
				}
				continue
			}
			switch strings.ToUpper(strings.Fields(l + " x")[0]) {
			case "EHLO":
				c.Write([]byte(ehlos[min(n, len(ehlos)-1)]))
				n++
			case "STARTTLS":
				c.Write([]byte(starttls))
			case "DATA":
				data = true
				c.Write([]byte("354 go ahead\r\n"))
			case "QUIT":
				c.Write([]byte("221 bye\r\n"))
				return
			default:
				c.Write([]byte("250 ok\r\n"))
			}
		}
	}()
	return f
}

func (f *fakeSMTP) lines(t *testing.T) []string {
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("fake server did not finish")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

// TestStarttlsClientStripping: STARTTLS missing from EHLO, or refused,
// or answered with an injected reply behind the 220: a mandatory policy
// sends QUIT and defers (no MAIL in clear), may goes on in clear only
// where no TLS was started, and injected bytes never reach prog.
func TestStarttlsClientStripping(t *testing.T) {
	const greet = "220 fake.test ESMTP\r\n"
	const noTLS = "250-fake.test\r\n250 8BITMIME\r\n"
	const withTLS = "250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
	tests := []struct {
		name, policy, ehlo, starttls string
		want                         string // sentClear or deferred
		reason                       string
	}{
		{"stripped encrypt", "encrypt", noTLS, "", deferred, "starttls-not-offered"},
		{"stripped verify", "verify", noTLS, "", deferred, "starttls-not-offered"},
		{"stripped may", "may", noTLS, "", sentClear, "starttls-not-offered"},
		{"refused 454 encrypt", "encrypt", withTLS, "454 4.7.0 TLS not available\r\n", deferred, "starttls-refused-454"},
		{"refused 454 may", "may", withTLS, "454 4.7.0 TLS not available\r\n", sentClear, "starttls-refused-454"},
		{"refused 502 dane-less", "dane", withTLS, "502 5.5.1 no\r\n", sentClear, "starttls-refused-502"},
		{"garbage reply", "encrypt", withTLS, "hello\r\n", deferred, "starttls-reply-syntax"},
		{"injection encrypt", "encrypt", withTLS, "220 go ahead\r\n250 injected\r\n", deferred, "response-injection"},
		{"injection may", "may", withTLS, "220 go ahead\r\n250 injected\r\n", deferred, "response-injection"},
		{"multi-line 220", "may", withTLS, "220-go\r\n220 ahead\r\n", deferred, "starttls-reply-multiline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, greet, tc.ehlo, tc.starttls)
			r := stcSend(t, f.port, "fake.test", tc.policy)
			got := f.lines(t)
			if strings.Contains(r.Stdout, "injected") {
				t.Fatalf("prog saw the injected reply:\n%s", r.Stdout)
			}
			if !strings.Contains(r.Stderr, tc.reason) {
				t.Errorf("log lacks %q:\n%s", tc.reason, r.Stderr)
			}
			switch tc.want {
			case sentClear:
				if r.Code != 0 || !strings.Contains(r.Stdout, "result sent") || !strings.Contains(r.Stdout, "<- 220 fake.test ESMTP") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			case deferred:
				if r.Code != 75 || !strings.Contains(r.Stdout, "<- 421 4.7.0") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
				for _, l := range got {
					if strings.HasPrefix(l, "MAIL") || strings.HasPrefix(l, "RCPT") {
						t.Fatalf("sent in clear: %q", got)
					}
				}
				if tc.reason == "starttls-not-offered" || strings.HasPrefix(tc.reason, "starttls-refused") {
					if len(got) == 0 || got[len(got)-1] != "QUIT" {
						t.Errorf("no QUIT to the server: %q", got)
					}
				}
			}
		})
	}
}

// TestStarttlsClientBadServer: no greeting, an early close, a 2 MB line,
// an endless reply, a refusing greeting: a log line and a 4xx for prog
// (or the server's own greeting), never a hang.
func TestStarttlsClientBadServer(t *testing.T) {
	tests := []struct {
		name, greeting, ehlo string
		code                 int
		stdout, log          string
	}{
		{"no greeting", "", "", 75, "<- 421 4.7.0", "greeting-timeout"},
		{"early close", "220-fake\r\n", "CLOSE", 75, "<- 421 4.7.0", "greeting-connection-closed"},
		{"2 MB line", "220 " + strings.Repeat("x", 2<<20) + "\r\n", "", 75, "<- 421 4.7.0", "greeting-reply-line-too-long"},
		{"endless reply", "220 fake\r\n", strings.Repeat("250-x\r\n", 1000), 75, "<- 421 4.7.0", "ehlo-reply-too-many-lines"},
		{"refusing greeting", "554 5.7.1 go away\r\n", "", 1, "<- 554 5.7.1 go away", "greeting-554"},
		{"busy greeting", "421 4.3.2 busy\r\n", "", 75, "<- 421 4.3.2 busy", "greeting-421"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startFake(t, tc.greeting, tc.ehlo, "")
			dir := certDir(t)
			r := run(t, baseEnv("CAFILE="+dir+"/ca.crt"), "", bin("tcpclient"), "127.0.0.1", strconv.Itoa(f.port),
				"tlsc", "-n", "-k", "fake.test", "--verify-report", "ucspi-starttls", "-c", "-t", "2", "-p", "encrypt", "smtp", stcData("send.sh"))
			if r.Code != tc.code || !strings.Contains(r.Stdout, tc.stdout) || !strings.Contains(r.Stderr, tc.log) {
				t.Fatalf("exit %d stdout:\n%.2000s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
}

// TestStarttlsClientEHLOName: the EHLO ucspi-starttls sends names -e,
// else TCPLOCALHOST, else localhost.
func TestStarttlsClientEHLOName(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  []string
		want string
	}{
		{[]string{"-e", "out.example"}, nil, "EHLO out.example"},
		{nil, []string{"TCPLOCALHOST=local.example"}, "EHLO local.example"},
		{nil, nil, "EHLO localhost"},
	} {
		f := startFake(t, "220 fake\r\n", "250 fake\r\n", "")
		args := append([]string{"127.0.0.1", strconv.Itoa(f.port), "tlsc", "-n", "-k", "fake.test", "--verify-report",
			"ucspi-starttls", "-c", "-t", "5", "-p", "may"}, tc.args...)
		env := baseEnv(append([]string{"CAFILE=" + certDir(t) + "/ca.crt"}, tc.env...)...)
		if tc.env != nil {
			// tcpclient sets TCPLOCALHOST itself only with -h; pass ours
			// through a shell between tcpclient and tlsc.
			args = append([]string{"127.0.0.1", strconv.Itoa(f.port), "sh", "-c", "TCPLOCALHOST=local.example exec \"$@\"", "sh",
				"tlsc", "-n", "-k", "fake.test", "--verify-report", "ucspi-starttls", "-c", "-t", "5", "-p", "may"}, tc.args...)
		}
		r := run(t, env, "", bin("tcpclient"), append(args, "smtp", stcData("send.sh"))...)
		got := f.lines(t)
		if len(got) == 0 || got[0] != tc.want {
			t.Errorf("%q: server got %q; stderr %s", tc.args, got, r.Stderr)
		}
	}
}

// fakeDNS answers every TLSA query on 127.0.0.1 with records, the AD bit
// set when secure, or rcode when it is not 0.
func fakeDNS(t *testing.T, secure bool, rcode int, rdata ...[]byte) string {
	t.Helper()
	return spoofDNS(t, func(q []byte) [][]byte { return [][]byte{tlsaReply(q, secure, rcode, rdata)} })
}

// tlsaReply turns the query q (header and question) into the reply with
// rdata as TLSA records, the AD bit set when secure, or rcode.
func tlsaReply(q []byte, secure bool, rcode int, rdata [][]byte) []byte {
	b := q
	flags := uint16(0x8180) | uint16(rcode)
	if secure {
		flags |= 1 << 5
	}
	b[2], b[3] = byte(flags>>8), byte(flags)
	b[6], b[7] = 0, byte(len(rdata))
	for _, rd := range rdata {
		b = append(b, 0xc0, 12, 0, 52, 0, 1, 0, 0, 1, 0, byte(len(rd)>>8), byte(len(rd)))
		b = append(b, rd...)
	}
	return b
}

// TestTLSALookup: tlsa-lookup sets TLSA and TLSA_BASENAME only from an
// answer with the AD bit; without AD, or with no records, it removes them
// (a stale TLSA from the caller too); a SERVFAIL or a silent resolver is
// a temporary failure (111), never a silent fall back.
func TestTLSALookup(t *testing.T) {
	rd := append([]byte{3, 1, 1}, make([]byte, 32)...)
	show := []string{"sh", "-c", `echo "TLSA=${TLSA-unset} BASE=${TLSA_BASENAME-unset}"`}
	tests := []struct {
		name   string
		secure bool
		rcode  int
		rdata  [][]byte
		code   int
		out    string
	}{
		{"secure", true, 0, [][]byte{rd, {2, 0, 1, 0xab}}, 0, "TLSA=3 1 1 " + strings.Repeat("00", 32) + ";2 0 1 ab BASE=mx.example\n"},
		{"insecure", false, 0, [][]byte{rd}, 0, "TLSA=unset BASE=unset\n"},
		{"secure denial", true, 3, nil, 0, "TLSA=unset BASE=unset\n"},
		{"no records", true, 0, nil, 0, "TLSA=unset BASE=unset\n"},
		{"servfail", false, 2, nil, 111, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fakeDNS(t, tc.secure, tc.rcode, tc.rdata...)
			r := run(t, baseEnv("TLSA=3 1 1 stale"), "", bin("tlsa-lookup"), append([]string{"-r", addr, "-t", "2", "MX.example."}, show...)...)
			if r.Code != tc.code || r.Stdout != tc.out {
				t.Fatalf("exit %d stdout %q stderr %s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
	// A resolver that never answers: 111 after two tries.
	pc, _ := net.ListenPacket("udp4", "127.0.0.1:0")
	defer pc.Close()
	r := run(t, baseEnv(), "", bin("tlsa-lookup"), append([]string{"-r", pc.LocalAddr().String(), "-t", "1", "mx.example"}, show...)...)
	if r.Code != 111 || !strings.Contains(r.Stderr, "tlsa-lookup: fatal: exit"+fatalErr(111, "unable to look up TLSA _25._tcp.mx.example")) {
		t.Fatalf("silent resolver: exit %d stderr %s", r.Code, r.Stderr)
	}
}
