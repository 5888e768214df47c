package t

import (
	"bufio"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of ucspi-starttls -c pop3|imap under tcpclient and tlsc -n:
// against this suite's own server chains (tlsd -n ucspi-starttls in front
// of mailfront's pop3front-auth/imapfront-auth, and popa3d) with small
// client progs (pop3.sh, imap.sh), and against fake servers for the
// response-injection, PREAUTH and stripping vectors.

// pimCVMEnv is the environment of pop3front-auth/imapfront-auth with
// cvm-pwfile over a one-user password file: alice, password "secret".
func pimCVMEnv(t *testing.T) []string {
	t.Helper()
	need(t, "/usr/bin/cvm-pwfile")
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("alice:secret:65534:65534:Alice:/:/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"CVM_SASL_PLAIN=/usr/bin/cvm-pwfile", "CVM_SASL_LOGIN=/usr/bin/cvm-pwfile", "CVM_PWFILE_PATH=" + pw}
}

// pimServer starts tcpserver … tlsd -n ucspi-starttls proto with
// mailfront's front end for proto; after a login the program it runs
// answers with the user and the SSL_PROTOCOL it saw (empty in clear).
// stem names the certificate; offer=false leaves UCSPITLS unset.
func pimServer(t *testing.T, dir, proto, stem string, offer bool) int {
	t.Helper()
	env := append(pimCVMEnv(t), "CERTFILE="+dir+"/"+stem+".crt", "KEYFILE="+dir+"/"+stem+".key")
	if offer {
		env = append(env, "UCSPITLS=")
	}
	var app []string
	switch proto {
	case "pop3":
		need(t, "/usr/sbin/pop3front-auth")
		app = []string{"/usr/sbin/pop3front-auth", "/usr/bin/cvm-pwfile",
			"sh", "-c", `printf '+OK hello %s proto=%s\r\n' "$USER" "${SSL_PROTOCOL-clear}"`}
	default:
		need(t, "/usr/sbin/imapfront-auth")
		app = []string{"/usr/sbin/imapfront-auth",
			"sh", "-c", `printf '%s OK hello %s proto=%s\r\n' "$IMAPLOGINTAG" "$USER" "${SSL_PROTOCOL-clear}"`}
	}
	s := serve(t, baseEnv(env...), append([]string{"-c", "100", "127.0.0.1", "0", "tlsd", "-n", "ucspi-starttls", proto}, app...)...)
	return s.Port
}

// pimRun runs the client chain for proto against port with the policy,
// the name tlsc checks and the proto's client prog.
func pimRun(t *testing.T, port int, proto, k, policy string, extra ...string) result {
	t.Helper()
	env := baseEnv(append([]string{"CAFILE=" + certDir(t) + "/ca.crt"}, extra...)...)
	return run(t, env, "", bin("tcpclient"), "-T", "5", "127.0.0.1", strconv.Itoa(port),
		"tlsc", "-n", "-k", k, "--verify-report", "ucspi-starttls", "-c", "-t", "5", "-p", policy, proto, stcData(proto+".sh"))
}

// logLineOf returns the one ucspi-starttls line of stderr.
func logLineOf(t *testing.T, stderr string) string {
	t.Helper()
	var l string
	for _, s := range lines(stderr) {
		if strings.HasPrefix(s, "ucspi-starttls: ") {
			if l != "" {
				t.Errorf("more than one ucspi-starttls line:\n%s", stderr)
			}
			l = s
		}
	}
	return l
}

// TestStarttlsClientPOP3IMAPPolicies: each policy against the server
// chains with STARTTLS offered, not offered, and with an untrusted
// certificate: prog logs in inside TLS (the server's program sees
// SSL_PROTOCOL), in clear, or gets the protocol's temporary failure and
// nothing reaches the server.
func TestStarttlsClientPOP3IMAPPolicies(t *testing.T) {
	dir := certDir(t)
	for _, proto := range []string{"pop3", "imap"} {
		good := pimServer(t, dir, proto, "server", true)
		clear := pimServer(t, dir, proto, "server", false)
		rogue := pimServer(t, dir, proto, "roguesrv", true)
		greeting := "<- +OK \n"
		deferText := "<- -ERR [SYS/TEMP] TLS policy "
		hello := "<- +OK hello alice proto="
		if proto == "imap" {
			greeting = "<- * OK imapfront ready.\n"
			deferText = "<- * BYE [UNAVAILABLE] TLS policy "
			hello = "<- b OK hello alice proto="
		}
		tests := []struct {
			name   string
			port   int
			k      string
			policy string
			want   string
			verify string
			reason string
		}{
			{"none offered", good, "localhost", "none", sentClear, "", "policy-none"},
			{"may offered", good, "localhost", "may", sentTLS, "verified", ""},
			{"encrypt offered", good, "localhost", "encrypt", sentTLS, "verified", ""},
			{"verify offered", good, "localhost", "verify", sentTLS, "verified", ""},
			{"may not offered", clear, "localhost", "may", sentClear, "", "starttls-not-offered"},
			{"encrypt not offered", clear, "localhost", "encrypt", deferred, "", "starttls-"},
			{"verify not offered", clear, "localhost", "verify", deferred, "", "starttls-"},
			{"may untrusted CA", rogue, "localhost", "may", sentTLS, "untrusted:unknown-authority", ""},
			{"verify untrusted CA", rogue, "localhost", "verify", deferred, "", "verification-untrusted:unknown-authority"},
			{"verify wrong name", good, "other.test", "verify", deferred, "", "verification-untrusted:name-mismatch"},
			{"dane-only without TLSA", good, "localhost", "dane-only", deferred, "", "no-usable-tlsa"},
		}
		for _, tc := range tests {
			t.Run(proto+" "+tc.name, func(t *testing.T) {
				r := pimRun(t, tc.port, proto, tc.k, tc.policy)
				l := logLineOf(t, r.Stderr)
				if !strings.Contains(l, " policy="+tc.policy+" ") || !strings.Contains(l, tc.reason) {
					t.Errorf("log line %q", l)
				}
				switch tc.want {
				case sentTLS:
					if r.Code != 0 || !strings.Contains(r.Stdout, "result ok") ||
						!strings.Contains(r.Stdout, hello+"TLSv1.3") ||
						!strings.Contains(r.Stdout, "SSL_PROTOCOL=TLSv1.3 SSL_PEER_VERIFY="+tc.verify+" SSLCTLFD=unset") ||
						!strings.Contains(l, "info: ") || !strings.Contains(l, " result=tls") ||
						!strings.Contains(l, " verify="+tc.verify) {
						t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
					}
					// After the switch the server forgot the cleartext
					// phase: no STLS/STARTTLS in what prog is told.
					if strings.Contains(r.Stdout, "<- STLS") || strings.Contains(r.Stdout, " STARTTLS") {
						t.Errorf("prog saw a cleartext capability:\n%s", r.Stdout)
					}
				case sentClear:
					if r.Code != 0 || !strings.Contains(r.Stdout, "result ok") || !strings.Contains(r.Stdout, hello+"clear") ||
						!strings.Contains(r.Stdout, "SSL_PROTOCOL=unset") || !strings.Contains(l, " verify=cleartext result=cleartext reason=") {
						t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
					}
				case deferred:
					if r.Code != 75 || !strings.Contains(r.Stdout, deferText+tc.policy+": ") ||
						!strings.Contains(r.Stdout, "<- EOF\nresult deferred") || strings.Contains(r.Stdout, "-> USER") ||
						strings.Contains(r.Stdout, "-> b LOGIN") || !strings.Contains(l, "warning: ") || !strings.Contains(l, "warning: defer ") {
						t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
					}
				}
				// The greeting prog sees is the server's, from before TLS.
				if tc.want != deferred && !strings.Contains(r.Stdout, greeting) {
					t.Errorf("greeting: %s", r.Stdout)
				}
			})
		}
	}
}

// TestStarttlsClientPopa3d: popa3d answers STLS with -ERR. In front of it
// in clear, encrypt still tries STLS and defers on the -ERR, may goes on in clear; behind a STARTTLS server
// chain (which answers CAPA for it) prog talks to popa3d inside TLS.
func TestStarttlsClientPopa3d(t *testing.T) {
	needRoot(t)
	need(t, "/usr/sbin/popa3d")
	dir := certDir(t)
	port := func(offer bool) int {
		env := tlsdEnv(dir)
		if offer {
			env = append(env, "UCSPITLS=")
		}
		return serve(t, env, "-c", "100", "127.0.0.1", "0", "tlsd", "-n", "ucspi-starttls", "pop3", "/usr/sbin/popa3d").Port
	}
	withTLS, clear := port(true), port(false)

	r := pimRun(t, clear, "pop3", "localhost", "encrypt")
	if r.Code != 75 || !strings.Contains(r.Stdout, "<- -ERR [SYS/TEMP] TLS policy encrypt: starttls-not-offered") ||
		!strings.Contains(r.Stderr, " reason=starttls-not-offered") {
		t.Fatalf("encrypt: exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// may: cleartext; popa3d has no user alice, so the login fails, but
	// the dialogue is popa3d's (its bare "+OK" greeting, its answer to
	// USER; the server chain answers CAPA for it).
	r = pimRun(t, clear, "pop3", "localhost", "may")
	if !strings.Contains(r.Stdout, "SSL_PROTOCOL=unset") || !strings.Contains(r.Stdout, "<- +OK\n-> CAPA\n") ||
		!strings.Contains(r.Stdout, "-> USER alice\n<- +OK\n") ||
		!strings.Contains(r.Stderr, " verify=cleartext result=cleartext reason=starttls-not-offered") {
		t.Fatalf("may: exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	r = pimRun(t, withTLS, "pop3", "localhost", "verify")
	if !strings.Contains(r.Stdout, "SSL_PROTOCOL=TLSv1.3 SSL_PEER_VERIFY=verified") || !strings.Contains(r.Stdout, "-> USER alice\n<- +OK") ||
		!strings.Contains(r.Stderr, " version=TLSv1.3 ") || !strings.Contains(r.Stderr, " verify=verified") {
		t.Fatalf("verify: exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// pimFake is a scripted POP3 or IMAP server: it greets, answers each
// command from answer (the reply is written in one write; "" closes),
// and switches to TLS after writing a reply when the answer function
// says so. It records every line it receives, TLS ones prefixed "tls ".
type pimFake struct {
	port int
	mu   sync.Mutex
	got  []string
	done chan struct{}
}

// pimAnswer gives the reply to one command line (tag included for IMAP)
// and whether to start TLS after it.
type pimAnswer func(inTLS bool, line string) (reply string, startTLS bool)

func startPimFake(t *testing.T, greeting string, answer pimAnswer) *pimFake {
	t.Helper()
	p := certs(t)
	cert, err := tls.X509KeyPair(p.Server.CertPEM, p.Server.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &pimFake{port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		defer close(f.done)
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		var c net.Conn = raw
		defer func() { c.Close() }()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write([]byte(greeting))
		br := bufio.NewReader(c)
		inTLS := false
		for n := 0; n < 100; n++ {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			l = strings.TrimRight(l, "\r\n")
			f.mu.Lock()
			if inTLS {
				f.got = append(f.got, "tls "+l)
			} else {
				f.got = append(f.got, l)
			}
			f.mu.Unlock()
			reply, starttls := answer(inTLS, l)
			if reply == "" {
				return
			}
			c.Write([]byte(reply))
			if starttls {
				tc := tls.Server(raw, &tls.Config{Certificates: []tls.Certificate{cert}})
				if tc.Handshake() != nil {
					return
				}
				c, br, inTLS = tc, bufio.NewReader(tc), true
			}
		}
	}()
	return f
}

func (f *pimFake) lines(t *testing.T) []string {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(15 * time.Second):
		t.Fatal("fake server did not finish")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got
}

// fakePOP3 answers CAPA with capa (or -ERR when empty), STLS with stls
// (TLS follows when its last line is "+OK …"), and USER/PASS/QUIT.
func fakePOP3(capa, stls string) pimAnswer {
	return func(inTLS bool, l string) (string, bool) {
		switch strings.ToUpper(strings.Fields(l + " x")[0]) {
		case "CAPA":
			if inTLS {
				return "+OK\r\nUSER\r\n.\r\n", false
			}
			if capa == "" {
				return "-ERR unknown command\r\n", false
			}
			return capa, false
		case "STLS":
			if inTLS {
				return "-ERR TLS already active\r\n", false
			}
			return stls, strings.HasPrefix(lastLine(stls), "+OK")
		case "USER":
			return "+OK\r\n", false
		case "PASS":
			if inTLS {
				return "+OK logged in inside TLS\r\n", false
			}
			return "+OK logged in in clear\r\n", false
		case "QUIT":
			return "+OK bye\r\n", false
		}
		return "-ERR what\r\n", false
	}
}

// lastLine is the last CRLF line of s.
func lastLine(s string) string {
	ls := strings.Split(strings.TrimRight(s, "\r\n"), "\r\n")
	return ls[len(ls)-1]
}

// fakeIMAP answers CAPABILITY with capability, STARTTLS with starttls
// (TLS follows when its last line is "b OK …"), LOGIN and LOGOUT.
func fakeIMAP(capability, starttls string) pimAnswer {
	return func(inTLS bool, l string) (string, bool) {
		w := strings.Fields(l + " x x")
		tag := w[0]
		switch strings.ToUpper(w[1]) {
		case "CAPABILITY":
			if inTLS {
				return "* CAPABILITY IMAP4rev1 AUTH=INSIDE\r\n" + tag + " OK done\r\n", false
			}
			return capability + tag + " OK done\r\n", false
		case "STARTTLS":
			return starttls, strings.HasPrefix(lastLine(starttls), "b OK")
		case "LOGIN":
			if inTLS {
				return tag + " OK logged in inside TLS\r\n", false
			}
			return tag + " OK logged in in clear\r\n", false
		case "LOGOUT":
			return "* BYE\r\n" + tag + " OK bye\r\n", false
		}
		return tag + " BAD what\r\n", false
	}
}

// TestStarttlsClientPOP3IMAPVectors: the response-injection vectors of
// doc/design.md §5.4 (refused under every policy, the tail never reaches
// prog), a PREAUTH greeting (refused when the policy needs TLS,
// cleartext under may), STLS/STARTTLS refused or stripped, STLS tried
// without CAPA under a mandatory policy, and untagged responses before
// the tagged OK dropped.
func TestStarttlsClientPOP3IMAPVectors(t *testing.T) {
	const capaTLS = "+OK\r\nUSER\r\nSTLS\r\n.\r\n"
	const capaNoTLS = "+OK\r\nUSER\r\n.\r\n"
	const capTLS = "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
	const capNoTLS = "* CAPABILITY IMAP4rev1 AUTH=CLEAR\r\n"
	tests := []struct {
		name, proto, greeting string
		answer                pimAnswer
		policy                string
		want                  string // sentTLS, sentClear or deferred
		reason                string
	}{
		{"pop3 injection may", "pop3", "+OK fake\r\n", fakePOP3(capaTLS, "+OK Begin TLS.\r\n+OK\r\nPLAIN\r\n.\r\n"), "may", deferred, "response-injection"},
		{"pop3 injection encrypt", "pop3", "+OK fake\r\n", fakePOP3(capaTLS, "+OK Begin TLS.\r\n+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n"), "encrypt", deferred, "response-injection"},
		{"pop3 data after greeting", "pop3", "+OK fake\r\n+OK\r\nPLAIN\r\n.\r\n", fakePOP3(capaTLS, "+OK go\r\n"), "may", deferred, "unexpected-data-after-greeting"},
		{"pop3 tls", "pop3", "+OK fake\r\n", fakePOP3(capaTLS, "+OK go\r\n"), "verify", sentTLS, ""},
		{"pop3 no CAPA, STLS works, encrypt", "pop3", "+OK fake\r\n", fakePOP3("", "+OK go\r\n"), "encrypt", sentTLS, ""},
		{"pop3 no CAPA may", "pop3", "+OK fake\r\n", fakePOP3("", "+OK go\r\n"), "may", sentClear, "starttls-not-offered"},
		{"pop3 stripped encrypt", "pop3", "+OK fake\r\n", fakePOP3(capaNoTLS, "-ERR no\r\n"), "encrypt", deferred, "starttls-not-offered"},
		{"pop3 refused encrypt", "pop3", "+OK fake\r\n", fakePOP3(capaTLS, "-ERR not now\r\n"), "encrypt", deferred, "starttls-refused-err"},
		{"pop3 refused may", "pop3", "+OK fake\r\n", fakePOP3(capaTLS, "-ERR not now\r\n"), "may", sentClear, "starttls-refused-err"},
		{"pop3 garbage STLS reply", "pop3", "+OK fake\r\n", fakePOP3(capaTLS, "hello\r\n"), "may", deferred, "starttls-reply-syntax"},
		{"pop3 -ERR greeting", "pop3", "-ERR busy\r\n", fakePOP3(capaTLS, ""), "encrypt", "greeting", "greeting-err"},
		{"imap injection may", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "b OK begin\r\n* CAPABILITY IMAP4REV1 AUTH=PLAIN\r\n"), "may", deferred, "response-injection"},
		{"imap injection encrypt", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "b OK begin STARTTLS now.\r\n* CAPABILITY IMAP4REV1 AUTH=PLAIN\r\n2 OK capability done.\r\n"), "encrypt", deferred, "response-injection"},
		{"imap BYE injection", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "b OK begin\r\n* BYE injected\r\n"), "encrypt", deferred, "response-injection"},
		{"imap PREAUTH encrypt", "imap", "* PREAUTH [CAPABILITY IMAP4REV1 STARTTLS LOGINDISABLED] hi\r\n", fakeIMAP(capTLS, "b OK go\r\n"), "encrypt", deferred, "preauth-greeting"},
		{"imap PREAUTH verify", "imap", "* PREAUTH hi\r\n", fakeIMAP(capTLS, "b OK go\r\n"), "verify", deferred, "preauth-greeting"},
		{"imap PREAUTH may", "imap", "* PREAUTH hi\r\n", fakeIMAP(capTLS, "b OK go\r\n"), "may", sentClear, "preauth-greeting"},
		{"imap tls", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "b OK go\r\n"), "verify", sentTLS, ""},
		{"imap untagged before OK dropped", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "* 54321 EXISTS\r\n* OK [ALERT] hi\r\nb OK go\r\n"), "verify", sentTLS, ""},
		{"imap stripped encrypt", "imap", "* OK fake\r\n", fakeIMAP(capNoTLS, "b BAD no\r\n"), "encrypt", deferred, "starttls-not-offered"},
		{"imap stripped may", "imap", "* OK fake\r\n", fakeIMAP(capNoTLS, "b BAD no\r\n"), "may", sentClear, "starttls-not-offered"},
		{"imap NO encrypt", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "b NO no\r\n"), "encrypt", deferred, "starttls-refused-no"},
		{"imap BAD may", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "b BAD no\r\n"), "may", sentClear, "starttls-refused-bad"},
		{"imap continuation", "imap", "* OK fake\r\n", fakeIMAP(capTLS, "+ go on\r\n"), "may", deferred, "starttls-reply-syntax"},
		{"imap BYE greeting", "imap", "* BYE busy\r\n", fakeIMAP(capTLS, ""), "encrypt", "greeting", "greeting-bye"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startPimFake(t, tc.greeting, tc.answer)
			r := pimRun(t, f.port, tc.proto, "localhost", tc.policy)
			got := f.lines(t)
			l := logLineOf(t, r.Stderr)
			if !strings.Contains(l, tc.reason) {
				t.Errorf("log line %q lacks %q", l, tc.reason)
			}
			for _, bad := range []string{"PLAIN", "INJECTED", "injected", "EXISTS", "ALERT", "capability done"} {
				if strings.Contains(r.Stdout, bad) {
					t.Fatalf("prog saw %q sent before the switch:\n%s", bad, r.Stdout)
				}
			}
			clear := 0
			for _, g := range got {
				if strings.HasPrefix(g, "tls ") {
					continue
				}
				if strings.HasPrefix(g, "USER") || strings.HasPrefix(g, "PASS") || strings.Contains(g, "LOGIN") {
					clear++
				}
			}
			switch tc.want {
			case sentTLS:
				if r.Code != 0 || !strings.Contains(r.Stdout, "logged in inside TLS") || clear != 0 ||
					!strings.Contains(r.Stdout, "<- "+strings.TrimRight(tc.greeting, "\r\n")+"\n") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s\nserver got %q", r.Code, r.Stdout, r.Stderr, got)
				}
			case sentClear:
				if r.Code != 0 || !strings.Contains(r.Stdout, "logged in in clear") ||
					!strings.Contains(r.Stdout, "<- "+strings.TrimRight(tc.greeting, "\r\n")+"\n") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			case deferred:
				if r.Code != 75 || clear != 0 || !strings.Contains(r.Stdout, "TLS policy "+tc.policy+": "+tc.reason) {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s\nserver got %q", r.Code, r.Stdout, r.Stderr, got)
				}
			case "greeting":
				// The server's refusing greeting reaches prog as it came.
				if r.Code != 1 || !strings.Contains(r.Stdout, "<- "+strings.TrimRight(tc.greeting, "\r\n")+"\n") || clear != 0 {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			}
		})
	}
}
