package t

import (
	"bufio"
	"crypto/tls"
	"encoding/hex"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests of ucspi-starttls -D (DANE client authentication, server mode):
// tlsd -n -A asks for any client certificate, ucspi-starttls matches it
// with the TLSA records of the EHLO name from a fake DNSSEC resolver on
// 127.0.0.1, and tells the fresh app SSL_CLIENT_DANE and
// SSL_CLIENT_DANE_NAME. The session never depends on the outcome.

// daneDNS is fakeDNS that also records the names asked for.
type daneDNS struct {
	addr  string
	mu    sync.Mutex
	names []string
}

func startDaneDNS(t *testing.T, secure bool, rcode int, rdata ...[]byte) *daneDNS {
	t.Helper()
	d := &daneDNS{}
	d.addr = spoofDNS(t, func(q []byte) [][]byte {
		var labels []string
		for i := 12; i < len(q) && q[i] != 0 && i+1+int(q[i]) <= len(q); i += int(q[i]) + 1 {
			labels = append(labels, string(q[i+1:i+1+int(q[i])]))
		}
		d.mu.Lock()
		d.names = append(d.names, strings.Join(labels, "."))
		d.mu.Unlock()
		return [][]byte{tlsaReply(q, secure, rcode, rdata)}
	})
	return d
}

func (d *daneDNS) asked() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.names...)
}

// tlsaRdata is the wire form of "3 sel 1 <sha256>" for cert.
func tlsaRdata(t *testing.T, c *testCert, sel string) []byte {
	t.Helper()
	f := strings.Fields(tlsaOf(t, c.DER, sel))
	h, _ := hex.DecodeString(f[2])
	s, _ := strconv.Atoi(sel)
	return append([]byte{3, byte(s), 1}, h...)
}

// smtpTLSClient greets as helo, does STARTTLS with cert (nil: none), and
// returns the app's X-DANE line after a fresh EHLO inside TLS.
func smtpTLSClient(t *testing.T, port int, helo string, cert *testCert) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	reply := func() []string {
		var ls []string
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v after %q", err, ls)
			}
			l = strings.TrimRight(l, "\r\n")
			ls = append(ls, l)
			if len(l) < 4 || l[3] != '-' {
				return ls
			}
		}
	}
	reply()
	c.Write([]byte("EHLO " + helo + "\r\n"))
	if r := reply(); !strings.Contains(strings.Join(r, "\n"), "STARTTLS") {
		t.Fatalf("no STARTTLS: %q", r)
	}
	c.Write([]byte("STARTTLS\r\n"))
	if r := reply(); !strings.HasPrefix(r[0], "220 ") {
		t.Fatalf("STARTTLS: %q", r)
	}
	cfg := &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
	if cert != nil {
		kp, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{kp}
	}
	tc := tls.Client(c, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	br = bufio.NewReader(tc)
	tc.Write([]byte("EHLO after.test\r\n"))
	r := reply()
	tc.Write([]byte("QUIT\r\n"))
	reply()
	for _, l := range r {
		if i := strings.Index(l, "X-DANE "); i >= 0 {
			return l[i+len("X-DANE "):]
		}
	}
	t.Fatalf("no X-DANE line: %q", r)
	return ""
}

func daneServer(t *testing.T, extra ...string) *server {
	t.Helper()
	dir := certDir(t)
	app, _ := filepath.Abs(filepath.Join("testdata", "dane-client", "app.sh"))
	args := []string{"-c", "20", "127.0.0.1", "0", "tlsd", "-n", "-A", "ucspi-starttls"}
	args = append(append(args, extra...), "smtp", app)
	return serve(t, baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+dir+"/server.key", "UCSPITLS="), args...)
}

// TestDaneClientAuth: matching records → verified, a mismatch → failed,
// no certificate, no AD, SERVFAIL or no records → none; the session goes
// on in every case, and the name asked is _25._tcp.<EHLO name>.
func TestDaneClientAuth(t *testing.T) {
	p := certs(t)
	tests := []struct {
		name   string
		secure bool
		rcode  int
		rdata  [][]byte
		cert   *testCert
		want   string // "SSL_CLIENT_DANE SSL_CLIENT_DANE_NAME SSL_CLIENT_VERIFY"
		reason string // in the log line
	}{
		{"spki match", true, 0, [][]byte{tlsaRdata(t, p.Client, "1")}, p.Client, "verified mx.client.test GENEROUS", ""},
		{"cert match among others", true, 0, [][]byte{tlsaRdata(t, p.Other, "1"), tlsaRdata(t, p.Client, "0")}, p.Client, "verified mx.client.test GENEROUS", ""},
		{"untrusted CA self-made cert matches", true, 0, [][]byte{tlsaRdata(t, p.RogueCli, "1")}, p.RogueCli, "verified mx.client.test GENEROUS", ""},
		{"mismatch", true, 0, [][]byte{tlsaRdata(t, p.Other, "1")}, p.Client, "failed mx.client.test GENEROUS", "reason=mismatch"},
		{"no certificate", true, 0, [][]byte{tlsaRdata(t, p.Client, "1")}, nil, "none unset NONE", "reason=no-certificate"},
		{"no AD bit", false, 0, [][]byte{tlsaRdata(t, p.Client, "1")}, p.Client, "none mx.client.test GENEROUS", "reason=insecure"},
		{"SERVFAIL", true, 2, nil, p.Client, "none mx.client.test GENEROUS", "reason=rcode-2"},
		{"no records", true, 0, nil, p.Client, "none mx.client.test GENEROUS", "reason=no-tlsa"},
		{"dane-ta only", true, 0, [][]byte{append([]byte{2, 1, 1}, make([]byte, 32)...)}, p.Client, "none mx.client.test GENEROUS", "reason=no-usable-tlsa"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dns := startDaneDNS(t, tc.secure, tc.rcode, tc.rdata...)
			s := daneServer(t, "-D", "_25._tcp", "-r", dns.addr)
			got := smtpTLSClient(t, s.Port, "MX.Client.test", tc.cert)
			if got != tc.want {
				t.Errorf("app saw %q, want %q", got, tc.want)
			}
			var logLine string
			waitFor(5*time.Second, func() bool {
				for _, l := range lines(s.Stderr.String()) {
					if strings.Contains(l, "info: dane-client ") {
						logLine = l
						return true
					}
				}
				return false
			})
			want := "ucspi-starttls: info: dane-client conn="
			if !strings.HasPrefix(logLine, want) || !strings.Contains(logLine, " result="+strings.Fields(tc.want)[0]+" ") ||
				!strings.Contains(logLine, tc.reason) {
				t.Errorf("log line %q (want %q)", logLine, tc.reason)
			}
			if tc.cert != nil {
				if a := dns.asked(); len(a) == 0 || a[0] != "_25._tcp.mx.client.test" {
					t.Errorf("asked %q", a)
				}
			} else if a := dns.asked(); len(a) != 0 {
				t.Errorf("asked %q without a certificate", a)
			}
		})
	}
}

// TestDaneClientAuthOff: without -D the app gets neither variable, even
// when the environment had them (a rule cannot fake them), and no DNS.
func TestDaneClientAuthOff(t *testing.T) {
	p := certs(t)
	dir := certDir(t)
	app, _ := filepath.Abs(filepath.Join("testdata", "dane-client", "app.sh"))
	s := serve(t, baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+dir+"/server.key", "UCSPITLS=",
		"SSL_CLIENT_DANE=verified", "SSL_CLIENT_DANE_NAME=fake.test"),
		"127.0.0.1", "0", "tlsd", "-n", "-A", "ucspi-starttls", "smtp", app)
	if got := smtpTLSClient(t, s.Port, "mx.client.test", p.Client); got != "unset unset GENEROUS" {
		t.Errorf("app saw %q", got)
	}
	for _, args := range [][]string{{"-D", "_25._tcp", "pop3", "true"}, {"-c", "-D", "_25._tcp", "smtp", "true"},
		{"-D", "bad label", "smtp", "true"}, {"-D", "_25._tcp", "-r", "127.0.0.1", "smtp", "true"}} {
		r := run(t, baseEnv(), "", bin("ucspi-starttls"), args...)
		if r.Code != 100 {
			t.Errorf("%q: exit %d %s", args, r.Code, r.Stderr)
		}
	}
}
