package t

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pxShowApp prints its environment, a marker, then echoes what it reads:
// the bytes after the PROXY header must reach it intact.
var pxShowApp = []string{"sh", "-c", "env; echo END-ENV; exec cat"}

// PROXY v2 headers, byte by byte (haproxy's proxy-protocol.txt
// §2.2), as pkg/proxyproto's tests encode them. Each starts with the
// 12-byte signature, then version 2 + PROXY (0x21), TCP over IPv4 (0x11)
// and the length of what follows.
const (
	pxV2Sig = "\r\n\r\n\x00\r\nQUIT\n"
	// 192.0.2.7 port 1 → 192.0.2.8 port 2, then a CRC32C TLV (type 0x03).
	pxV2CRC = pxV2Sig + "\x21\x11\x00\x13" +
		"\xc0\x00\x02\x07" + "\xc0\x00\x02\x08" + "\x00\x01" + "\x00\x02" +
		"\x03\x00\x04" + "\x84\x8e\x4d\xca"
	// 203.0.113.7 port 4242 → 192.0.2.1 port 25, then an SSL TLV (type
	// 0x20, 23 bytes): client flags SSL|CERT_CONN, verify 0 (verified),
	// version "TLSv1.3", CN "admin".
	pxV2Forged = pxV2Sig + "\x21\x11\x00\x26" +
		"\xcb\x00\x71\x07" + "\xc0\x00\x02\x01" + "\x10\x92" + "\x00\x19" +
		"\x20\x00\x17" + "\x03" + "\x00\x00\x00\x00" +
		"\x21\x00\x07" + "TLSv1.3" + "\x22\x00\x05" + "admin"
)

// pxAfter holds bytes that look like a second header: they belong to the
// app and must not be taken by proxy-server.
const pxAfter = "EHLO client.example\r\nPROXY TCP4 6.6.6.6 6.6.6.6 6 6\r\n"

// pxHAProxy runs haproxy in the foreground with cfg (global and
// defaults are added) until Cleanup, and waits until port accepts.
func pxHAProxy(t *testing.T, port int, cfg string) *syncBuffer {
	t.Helper()
	need(t, "haproxy")
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	full := "global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 10s\n  timeout server 10s\n" + cfg
	if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("haproxy", "-db", "-f", path)
	stderr := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	if !waitFor(hangLimit, func() bool {
		select {
		case <-done:
			return true
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Fatalf("haproxy does not listen on %s: %s", addr, stderr)
	}
	select {
	case <-done:
		t.Fatalf("haproxy exited: %s", stderr)
	default:
	}
	return stderr
}

// pxDialFrom connects to addr from 127.0.0.2 (a source the proxy must pass
// on), writes in, half-closes and returns the source and what it read.
func pxDialFrom(t *testing.T, addr string, in string, wrap func(net.Conn) net.Conn) (netip.AddrPort, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	src := c.LocalAddr().(*net.TCPAddr).AddrPort()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	conn := c
	if wrap != nil {
		conn = wrap(c)
	}
	if _, err := io.WriteString(conn, in); err != nil {
		t.Fatalf("write: %v", err)
	}
	if tc, ok := conn.(*tls.Conn); ok {
		tc.CloseWrite()
	} else {
		c.(*net.TCPConn).CloseWrite()
	}
	out, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read: %v (got %q)", err, out)
	}
	return netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), string(out)
}

// pxSplitApp cuts pxShowApp's output into its environment and the echoed
// bytes.
func pxSplitApp(t *testing.T, out string) (map[string]string, string) {
	t.Helper()
	env, echoed, ok := strings.Cut(out, "END-ENV\n")
	if !ok {
		t.Fatalf("app output has no END-ENV: %q", out)
	}
	return envMap(env), echoed
}

// TestProxyServerBehindHAProxy: haproxy in TCP mode sends a v1 or v2
// header; prog sees the client's real address and port (127.0.0.2 and
// its source port) and every byte after the header.
func TestProxyServerBehindHAProxy(t *testing.T) {
	for _, tc := range []struct{ name, server, opts, log string }{
		{"v1", "send-proxy", "-1", " version=v1 srcip=127.0.0.2 "},
		{"v2", "send-proxy-v2", "-2", " version=v2 srcip=127.0.0.2 "},
		{"v2 with TLVs", "send-proxy-v2 proxy-v2-options crc32c,unique-id", "-v", " crc32c=ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, baseEnv(), append([]string{"127.0.0.1", "0", "proxy-server", "-p", "127.0.0.1", tc.opts}, pxShowApp...)...)
			front := freePort(t, "tcp4", "127.0.0.1:0")
			pxHAProxy(t, front, "frontend f\n  bind 127.0.0.1:"+strconv.Itoa(front)+"\n  unique-id-format id-%ci-%cp\n  default_backend b\n"+
				"backend b\n  server s1 "+srv.Addr+" "+tc.server+"\n")
			src, out := pxDialFrom(t, "127.0.0.1:"+strconv.Itoa(front), pxAfter, nil)
			env, echoed := pxSplitApp(t, out)
			want := map[string]string{
				"TCPREMOTEIP": "127.0.0.2", "TCPREMOTEPORT": strconv.Itoa(int(src.Port())),
				"TCPLOCALIP": "127.0.0.1", "TCPLOCALPORT": strconv.Itoa(front),
				"PROXYREMOTEIP": "127.0.0.1", "PROTO": "TCP",
			}
			for k, v := range want {
				if env[k] != v {
					t.Errorf("%s=%q, want %q", k, env[k], v)
				}
			}
			if env["PROXYREMOTEPORT"] == "" || env["PROXYREMOTEPORT"] == env["TCPREMOTEPORT"] {
				t.Errorf("PROXYREMOTEPORT=%q", env["PROXYREMOTEPORT"])
			}
			if echoed != pxAfter {
				t.Errorf("app read %q, want %q", echoed, pxAfter)
			}
			if !waitFor(hangLimit, func() bool { return strings.Contains(srv.Stderr.String(), tc.log) }) {
				t.Errorf("no %q in the log: %s", tc.log, srv.Stderr)
			}
		})
	}
}

// TestProxyServerHAProxyTLS: haproxy terminates TLS, verifies the
// client's certificate and sends the SSL TLV (send-proxy-v2-ssl-cn);
// proxy-server -s turns the session facts into SSL_*, and only -c adds
// the client-certificate claims: under -s they are unset, stale values
// from the caller included.
func TestProxyServerHAProxyTLS(t *testing.T) {
	dir := t.TempDir()
	srvCert := pxWriteCert(t, dir, "server", "mx.example")
	cliCert := pxWriteCert(t, dir, "client", "alice.example")
	for _, tc := range []struct {
		opt        string
		verify, cn string
	}{
		{"-s", "", ""},
		{"-c", "SUCCESS", "alice.example"},
	} {
		t.Run(tc.opt, func(t *testing.T) {
			stale := baseEnv("SSL_CLIENT_VERIFY=stale", "SSL_CLIENT_S_DN_CN=stale")
			srv := serve(t, stale, append([]string{"127.0.0.1", "0", "proxy-server", "-p", "127.0.0.1", "-v", tc.opt}, pxShowApp...)...)
			front := freePort(t, "tcp4", "127.0.0.1:0")
			hlog := pxHAProxy(t, front, "frontend f\n  bind 127.0.0.1:"+strconv.Itoa(front)+" ssl crt "+srvCert.pem+
				" alpn smtp verify optional ca-file "+cliCert.certOnly+"\n  default_backend b\n"+
				"backend b\n  server s1 "+srv.Addr+" send-proxy-v2-ssl-cn proxy-v2-options authority,ssl-cipher,cert-sig,cert-key\n")
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("haproxy: %s\nserver: %s", hlog, srv.Stderr)
				}
			})
			pool := x509.NewCertPool()
			pool.AddCert(srvCert.x509)
			_, out := pxDialFrom(t, "127.0.0.1:"+strconv.Itoa(front), pxAfter, func(c net.Conn) net.Conn {
				return tls.Client(c, &tls.Config{ServerName: "mx.example", RootCAs: pool, NextProtos: []string{"smtp"},
					Certificates: []tls.Certificate{cliCert.pair}, MinVersion: tls.VersionTLS13})
			})
			env, echoed := pxSplitApp(t, out)
			want := map[string]string{
				"TCPREMOTEIP": "127.0.0.2", "SSL_PROTOCOL": "TLSv1.3", "SSL_TLS_SNI_SERVERNAME": "mx.example",
				"SSL_ALPN": "smtp", "SSL_CLIENT_VERIFY": tc.verify, "SSL_CLIENT_S_DN_CN": tc.cn,
			}
			for k, v := range want {
				if got, ok := env[k]; got != v || ok != (v != "") {
					t.Errorf("%s=%q (set %v), want %q", k, got, ok, v)
				}
			}
			if !strings.HasPrefix(env["SSL_CIPHER"], "TLS_") {
				t.Errorf("SSL_CIPHER=%q", env["SSL_CIPHER"])
			}
			if echoed != pxAfter {
				t.Errorf("app read %q, want %q", echoed, pxAfter)
			}
			if !waitFor(hangLimit, func() bool {
				return strings.Contains(srv.Stderr.String(), " version=TLSv1.3 cipher=TLS_")
			}) {
				t.Errorf("no TLV line: %s", srv.Stderr)
			}
		})
	}
}

type pxCert struct {
	pem      string // certificate and key, for haproxy's crt
	certOnly string // the certificate, for ca-file
	x509     *x509.Certificate
	pair     tls.Certificate
}

// pxWriteCert makes a throwaway self-signed ECDSA certificate for cn.
func pxWriteCert(t *testing.T, dir, name, cn string) pxCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cp := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kp := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	c := pxCert{pem: filepath.Join(dir, name+".pem"), certOnly: filepath.Join(dir, name+"-cert.pem")}
	if err := os.WriteFile(c.pem, append(cp, kp...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.certOnly, cp, 0o600); err != nil {
		t.Fatal(err)
	}
	c.x509, _ = x509.ParseCertificate(der)
	if c.pair, err = tls.X509KeyPair(cp, kp); err != nil {
		t.Fatal(err)
	}
	return c
}

// pxEndCode waits for tcpserver's "end" line and returns the exit code.
func pxEndCode(t *testing.T, srv *server) int {
	t.Helper()
	re := regexp.MustCompile(`tcpserver: info: end conn=\d+ ip=\S+ port=\d+ status=(\d+)`)
	var m []string
	waitFor(10*time.Second, func() bool { m = re.FindStringSubmatch(srv.Stderr.String()); return m != nil })
	if m == nil {
		t.Fatalf("no end line: %s", srv.Stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestProxyServerBadHeader: a header that is not exactly right ends the
// connection with exit 1 and a fatal line naming the real peer and the
// reason; prog never runs.
func TestProxyServerBadHeader(t *testing.T) {
	good := []byte(pxV2CRC)
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 1
	for _, tc := range []struct{ name, in, opts, reason string }{
		{"no header", "EHLO x\r\n", "-t5000", "no PROXY signature"},
		{"leading zero port", "PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n", "-t5000", "bad v1 source port"},
		{"LF only", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n", "-t5000", "does not end in CRLF"},
		{"v6 in TCP4", "PROXY TCP4 ::1 ::1 1 2\r\n", "-t5000", "not IPv4"},
		{"v2 bad CRC", string(badCRC), "-t5000", "CRC32C mismatch"},
		{"v2 refused by -1", string(good), "-1", "no PROXY v1 signature"},
		{"v1 refused by -2", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r\n", "-2", "no PROXY v2 signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, baseEnv(), append([]string{"127.0.0.1", "0", "proxy-server", "-p", "127.0.0.1", tc.opts}, pxShowApp...)...)
			out := dial(t, srv.Addr, []byte(tc.in))
			if strings.Contains(string(out), "END-ENV") {
				t.Fatalf("prog ran: %q", out)
			}
			if code := pxEndCode(t, srv); code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			q := strconv.Quote(tc.reason)
			re := regexp.MustCompile(`proxy-server: fatal: exit conn=\d+ ip=127\.0\.0\.1 port=\d+ status=1 err="unable to read PROXY header from ip 127\.0\.0\.1 port \d+: [^\n]*` +
				regexp.QuoteMeta(q[1:len(q)-1]) + "\"\n")
			if !re.MatchString(srv.Stderr.String()) {
				t.Errorf("no fatal line with %q: %s", tc.reason, srv.Stderr)
			}
		})
	}
}

// TestProxyServerTimeout: a client that sends part of a header and stops
// is dropped after -t ms with exit 99, not held forever.
func TestProxyServerTimeout(t *testing.T) {
	srv := serve(t, baseEnv(), append([]string{"127.0.0.1", "0", "proxy-server", "-p", "127.0.0.1", "-t", "300"}, pxShowApp...)...)
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("PROXY TCP4 192.0.2.7 "))
	c.SetDeadline(time.Now().Add(hangLimit))
	out, err := io.ReadAll(c) // proxy-server closes the connection when it exits
	took := time.Since(start)
	if len(out) != 0 || isTimeout(err) || took < 250*time.Millisecond {
		t.Errorf("closed after %v with %q, %v", took, out, err)
	}
	if code := pxEndCode(t, srv); code != 99 {
		t.Errorf("exit code %d, want 99", code)
	}
	if !strings.Contains(srv.Stderr.String(), `err="unable to read PROXY header from ip 127.0.0.1 port `) ||
		!strings.Contains(srv.Stderr.String(), ": timed out after 300 ms\"\n") {
		t.Errorf("no timeout line: %s", srv.Stderr)
	}
}

// TestProxyServerOptional: with -o a connection without a header passes
// unchanged (TCPREMOTEIP stays the real peer) and one with a header is
// rewritten.
func TestProxyServerOptional(t *testing.T) {
	srv := serve(t, baseEnv(), append([]string{"127.0.0.1", "0", "proxy-server", "-p", "127.0.0.1", "-o", "--before-tlsd"}, pxShowApp...)...)
	env, echoed := pxSplitApp(t, string(dial(t, srv.Addr, []byte(pxAfter))))
	if env["TCPREMOTEIP"] != "127.0.0.1" || env["PROXYREMOTEIP"] != "" || echoed != pxAfter {
		t.Errorf("without a header: env %v, echoed %q", env, echoed)
	}
	env, echoed = pxSplitApp(t, string(dial(t, srv.Addr, []byte("PROXY TCP6 2001:db8::7 2001:db8::1 4242 25\r\n"+pxAfter))))
	if env["TCPREMOTEIP"] != "2001:db8::7" || env["TCPREMOTEPORT"] != "4242" || env["PROXYREMOTEIP"] != "127.0.0.1" || echoed != pxAfter {
		t.Errorf("with a header: env %v, echoed %q", env, echoed)
	}
}

// pxDialSrc connects to addr from the loopback address src, writes in,
// half-closes and returns all it reads (within 10 s); a reset is the end.
func pxDialSrc(t *testing.T, src, addr string, in []byte) string {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, src, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		c.Write(in)
		c.(*net.TCPConn).CloseWrite()
	}()
	out, _ := io.ReadAll(c)
	return string(out)
}

// TestProxyServerUntrusted: a client that reaches proxy-server directly
// and forges a PROXY v2 header (another TCPREMOTEIP, an SSL TLV saying
// its certificate was verified as "admin") is refused with exit 1 and
// one warning naming it, and the app never runs, whether the header is
// required or optional (-o); the same header from the trusted proxy's
// address is taken. Direct clients without a header still pass under -o.
func TestProxyServerUntrusted(t *testing.T) {
	forged := pxV2Forged
	for _, tc := range []struct {
		name, opts, src, in string
		code                int
		remote              string // TCPREMOTEIP the app sees; "" = it must not run
	}{
		{"forged from untrusted", "-c", "127.0.0.2", forged + pxAfter, 1, ""},
		{"forged from untrusted -o", "-co", "127.0.0.2", forged + pxAfter, 1, ""},
		{"local from untrusted", "-c", "127.0.0.2", "PROXY UNKNOWN\r\n" + pxAfter, 1, ""},
		{"none from untrusted -o", "-co", "127.0.0.2", pxAfter, 0, "127.0.0.2"},
		{"from trusted", "-c", "127.0.0.1", forged + pxAfter, 0, "203.0.113.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := serve(t, baseEnv(), append([]string{"127.0.0.1", "0", "proxy-server", "-p", "127.0.0.1,::1", "-t", "2000", tc.opts}, pxShowApp...)...)
			out := pxDialSrc(t, tc.src, srv.Addr, []byte(tc.in))
			if code := pxEndCode(t, srv); code != tc.code {
				t.Errorf("exit code %d, want %d; stderr: %s", code, tc.code, srv.Stderr)
			}
			if tc.remote == "" {
				if out != "" {
					t.Errorf("prog ran: %q", out)
				}
				re := regexp.MustCompile(`(?m)^proxy-server: warning: untrusted conn=\d+ ip=127\.0\.0\.2 port=\d+ status=1 err="not in -p, header refused"$`)
				if !re.MatchString(srv.Stderr.String()) {
					t.Errorf("no warning line: %s", srv.Stderr)
				}
				return
			}
			env, echoed := pxSplitApp(t, out)
			if env["TCPREMOTEIP"] != tc.remote || echoed != pxAfter {
				t.Errorf("TCPREMOTEIP=%q, echoed %q", env["TCPREMOTEIP"], echoed)
			}
			if tc.remote == "203.0.113.7" && (env["SSL_CLIENT_VERIFY"] != "SUCCESS" || env["SSL_CLIENT_S_DN_CN"] != "admin") {
				t.Errorf("trusted proxy's claims not passed on: %v", env)
			}
		})
	}
}
