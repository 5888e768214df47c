package t

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// pki is a throwaway CA with a server and a client certificate.
type twPKI struct {
	dir                  string
	caPEM                []byte
	server, client       keysign.Pair
	serverKey, clientKey *ecdsa.PrivateKey
	serverDER            []byte
	caPool               *x509.CertPool
	clientTLS            tls.Certificate
}

var (
	twPKIOnce sync.Once
	twThePKI  *twPKI
)

// twTestPKI makes (once) a CA, a server certificate for localhost and
// 127.0.0.1, and a client certificate, and writes them as PEM files.
func twTestPKI(t testing.TB) *twPKI {
	t.Helper()
	twPKIOnce.Do(func() {
		p := &twPKI{}
		dir, err := os.MkdirTemp("", "tlswrap-pki-")
		if err != nil {
			panic(err)
		}
		os.Chmod(dir, 0o755)
		p.dir = dir
		caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tlschain test CA", Organization: []string{"tlschain"}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		}
		caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
		caCert, _ := x509.ParseCertificate(caDER)
		p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
		p.caPool = x509.NewCertPool()
		p.caPool.AddCert(caCert)
		leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) (keysign.Pair, *ecdsa.PrivateKey, []byte) {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Country: []string{"DE"}, Organization: []string{"Example"}},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
				DNSNames: []string{cn}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
				ExtKeyUsage: []x509.ExtKeyUsage{usage}, KeyUsage: x509.KeyUsageDigitalSignature,
			}
			der, _ := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
			kb, _ := x509.MarshalPKCS8PrivateKey(key)
			return keysign.Pair{
				CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
				KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}),
			}, key, der
		}
		p.server, p.serverKey, p.serverDER = leaf(2, "localhost", x509.ExtKeyUsageServerAuth)
		p.client, p.clientKey, _ = leaf(3, "client.example", x509.ExtKeyUsageClientAuth)
		p.clientTLS, _ = tls.X509KeyPair(p.client.CertPEM, p.client.KeyPEM)
		os.WriteFile(filepath.Join(dir, "ca.pem"), p.caPEM, 0o644)
		os.WriteFile(filepath.Join(dir, "server.pem"), append(append([]byte{}, p.server.CertPEM...), p.server.KeyPEM...), 0o600)
		os.WriteFile(filepath.Join(dir, "client.pem"), append(append([]byte{}, p.client.CertPEM...), p.client.KeyPEM...), 0o600)
		twThePKI = p
	})
	return twThePKI
}

// engineProc is a running tlswrap with the test on the other end of
// every fd: the app's pipes, the control socket and the key channel.
type engineProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	toEng  *os.File // the app's writes: engine fd 3
	fromEn *os.File // the app's reads: engine fd 4
	ctl    *os.File // engine fd 5
	keys   *os.File // our end of engine fd 6
	served chan error
	Stderr *syncBuffer
	done   chan struct{}
	code   int
}

// twExtraEnv is added to the engine's environment (GOMAXPROCS in the
// measurements).
var twExtraEnv []string

// engineCred is the identity tests run the engine with: never root.
func engineCred() *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	return &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{}}
}

// startEngine starts bin/tlswrap args... with network on netFile (fd 0
// and 1), serving the key channel from setup (keys from the PKI's server
// or client pair).
func startEngine(t *testing.T, netFile *os.File, setup *keysign.Setup, cred *syscall.Credential, args ...string) *engineProc {
	t.Helper()
	os.Chmod(binDir, 0o755) // the engine runs as nobody
	pr3, pw3, _ := os.Pipe()
	pr4, pw4, _ := os.Pipe()
	// 256 KiB pipes, as tlsd and tlsc give the engine (tlsspawn).
	for _, w := range []*os.File{pw3, pw4} {
		unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 256<<10)
	}
	ctl, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	ctlEng, keyEng := os.NewFile(uintptr(ctl[1]), "ctl"), os.NewFile(uintptr(kp[1]), "keys")
	e := &engineProc{t: t, toEng: pw3, fromEn: pr4, ctl: os.NewFile(uintptr(ctl[0]), "ctl"), keys: os.NewFile(uintptr(kp[0]), "keys"),
		Stderr: &syncBuffer{}, done: make(chan struct{}), served: make(chan error, 1)}
	cmd := exec.Command(bin("tlswrap"), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = netFile, netFile, e.Stderr
	cmd.ExtraFiles = []*os.File{pr3, pw4, ctlEng, keyEng}
	cmd.Env = append([]string{"TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=50124"}, twExtraEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr3.Close()
	pw4.Close()
	ctlEng.Close()
	keyEng.Close()
	e.cmd = cmd
	keys, err := keysign.LoadKeys(setup.Pairs)
	if err != nil {
		t.Fatal(err)
	}
	go func() { e.served <- keysign.ServeStream(e.keys, keys, setup, keysign.ServerGrant(0, false)) }()
	go func() {
		cmd.Wait()
		e.code = cmd.ProcessState.ExitCode()
		unix.Shutdown(kp[0], unix.SHUT_RDWR)
		close(e.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-e.done
		<-e.served
		e.keys.Close()
		e.toEng.Close()
		e.fromEn.Close()
		e.ctl.Close()
	})
	return e
}

// wait returns the engine's exit code, failing the test after d.
func (e *engineProc) wait(d time.Duration) int {
	e.t.Helper()
	select {
	case <-e.done:
		return e.code
	case <-time.After(d):
		e.cmd.Process.Kill()
		e.t.Fatalf("tlswrap still running after %v; stderr: %s", d, e.Stderr)
		return -1
	}
}

// command writes c on the control socket and reads the reply to EOF.
func (e *engineProc) command(c byte) []byte {
	e.t.Helper()
	if _, err := e.ctl.Write([]byte{c}); err != nil {
		e.t.Fatal(err)
	}
	e.ctl.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(e.ctl)
	return b
}

func (e *engineProc) report() map[string]string {
	e.t.Helper()
	b := e.command('Y')
	vars, err := ucspi.ParseReport(b)
	if err != nil {
		e.t.Fatalf("report %q: %v; stderr: %s", b, err, e.Stderr)
	}
	m := map[string]string{}
	for _, v := range vars {
		if v.Unset {
			m[v.Name] = "<unset>"
		} else {
			m[v.Name] = v.Value
		}
	}
	return m
}

func serverSetup(p *twPKI, extra ...func(*keysign.Setup)) *keysign.Setup {
	s := &keysign.Setup{Pairs: []keysign.Pair{p.server}, CAs: [][]byte{p.caPEM}}
	for _, f := range extra {
		f(s)
	}
	return s
}

// netPair returns a connected loopback TCP pair: the engine's side as a
// file, the peer's as a *net.TCPConn.
func netPair(t *testing.T) (*os.File, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.(*net.TCPConn).File()
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(int(f.Fd()), false)
	t.Cleanup(func() { f.Close(); peer.Close() })
	return f, peer.(*net.TCPConn)
}

// eofConn records whether the peer's TCP FIN was read, so a test can tell
// close_notify from a bare FIN.
type eofConn struct {
	net.Conn
	fin bool
}

func (c *eofConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err == io.EOF {
		c.fin = true
	}
	return n, err
}

// goClient runs a Go TLS client on conn against the engine.
func goClient(t *testing.T, p *twPKI, conn net.Conn, cfg func(*tls.Config)) *tls.Conn {
	c := &tls.Config{RootCAs: p.caPool, ServerName: "localhost"}
	if cfg != nil {
		cfg(c)
	}
	return tls.Client(conn, c)
}

func TestTLSWrapOpenSSLClient(t *testing.T) {
	need(t, "openssl")
	p := twTestPKI(t)
	for _, v := range []string{"1.2", "1.3"} {
		t.Run("TLSv"+v, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			client := exec.Command("openssl", "s_client", "-connect", ln.Addr().String(), "-tls"+strings.ReplaceAll(v, ".", "_"),
				"-CAfile", filepath.Join(p.dir, "ca.pem"), "-servername", "localhost", "-verify_return_error", "-brief", "-ign_eof")
			client.Stdin = strings.NewReader("ping\n")
			var out, errb syncBuffer
			client.Stdout, client.Stderr = &out, &errb
			if err := client.Start(); err != nil {
				t.Fatal(err)
			}
			defer client.Process.Kill()
			c, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			f, _ := c.(*net.TCPConn).File()
			c.Close()
			e := startEngine(t, f, serverSetup(p), engineCred(), "--server", "-K", "5000", "-v")
			f.Close()
			rep := e.report()
			line, err := bufio.NewReader(e.fromEn).ReadString('\n')
			if err != nil || line != "ping\n" {
				t.Fatalf("app read %q, %v", line, err)
			}
			e.toEng.Write([]byte("hello\n"))
			e.toEng.Close()
			client.Wait()
			if code := e.wait(hangLimit); code != 0 {
				t.Fatalf("exit %d; stderr: %s", code, e.Stderr)
			}
			if !strings.Contains(out.String(), "hello\n") {
				t.Fatalf("s_client got %q; stderr %s", out.String(), errb.String())
			}
			// OpenSSL's own names for what was negotiated.
			wantProto := regexp.MustCompile(`Protocol version: (\S+)`).FindStringSubmatch(errb.String())
			wantCipher := regexp.MustCompile(`Ciphersuite: (\S+)`).FindStringSubmatch(errb.String())
			if wantProto == nil || wantCipher == nil {
				t.Fatalf("no -brief output: %s", errb.String())
			}
			if rep[ucspi.SSLProtocol] != wantProto[1] || rep[ucspi.SSLCipher] != wantCipher[1] {
				t.Fatalf("report %s %s, openssl says %s %s", rep[ucspi.SSLProtocol], rep[ucspi.SSLCipher], wantProto[1], wantCipher[1])
			}
			if rep[ucspi.SSLSNIServerName] != "localhost" || rep[ucspi.SSLSessionResumed] != "0" ||
				rep[ucspi.SSLPeerCertHash] != "<unset>" || rep[ucspi.SSLClientVerify] != "NONE" || rep[ucspi.SSLALPN] != "<unset>" {
				t.Fatalf("report %v", rep)
			}
			for _, n := range ucspi.ReportVars {
				if _, ok := rep[n]; !ok {
					t.Errorf("report lacks %s", n)
				}
			}
			if !regexp.MustCompile(`tlswrap: info: tls conn=\d+ ip=192\.0\.2\.7 port=50124 version=` + wantProto[1] + ` cipher=` + wantCipher[1] + ` sni=localhost resumed=no `).MatchString(e.Stderr.String()) {
				t.Errorf("stderr: %s", e.Stderr)
			}
		})
	}
}

func TestTLSWrapClientCertReport(t *testing.T) {
	p := twTestPKI(t)
	f, peer := netPair(t)
	e := startEngine(t, f, serverSetup(p), engineCred(), "--server", "--require-client-cert", "-a", "smtp,h2")
	go func() {
		c := goClient(t, p, peer, func(c *tls.Config) { c.Certificates = []tls.Certificate{p.clientTLS}; c.NextProtos = []string{"smtp"} })
		c.Handshake()
		c.Close()
	}()
	rep := e.report()
	sum := sha256.Sum256(mustDER(p.client.CertPEM))
	want := map[string]string{
		ucspi.SSLPeerCertHash:    "SHA256:" + hexs(sum[:]),
		ucspi.SSLPeerCertSubject: "CN=client.example,O=Example,C=DE",
		ucspi.SSLClientSDN:       "/C=DE/O=Example/CN=client.example",
		ucspi.SSLClientSDNCN:     "client.example",
		ucspi.SSLClientIDN:       "/O=tlschain/CN=tlschain test CA",
		ucspi.SSLClientVerify:    "SUCCESS",
		ucspi.SSLServerSDN:       "<unset>",
		ucspi.SSLALPN:            "smtp",
		ucspi.SSLProtocol:        "TLSv1.3",
	}
	for k, v := range want {
		if rep[k] != v {
			t.Errorf("%s = %q, want %q", k, rep[k], v)
		}
	}
	e.toEng.Close()
	e.wait(hangLimit)
}

func TestTLSWrapClientSide(t *testing.T) {
	p := twTestPKI(t)
	f, peer := netPair(t)
	srvCert, _ := tls.X509KeyPair(p.server.CertPEM, p.server.KeyPEM)
	e := startEngine(t, f, &keysign.Setup{CAs: [][]byte{p.caPEM}}, engineCred(), "--client", "--server-name", "localhost", "-m", "1.2")
	go func() {
		s := tls.Server(peer, &tls.Config{Certificates: []tls.Certificate{srvCert}, MaxVersion: tls.VersionTLS12})
		s.Write([]byte("220 hi\r\n"))
		s.Close()
	}()
	rep := e.report()
	if rep[ucspi.SSLProtocol] != "TLSv1.2" || !strings.HasPrefix(rep[ucspi.SSLCipher], "ECDHE-ECDSA-") ||
		rep[ucspi.SSLServerSDN] != "/C=DE/O=Example/CN=localhost" || rep[ucspi.SSLSNIServerName] != "localhost" ||
		rep[ucspi.SSLClientVerify] != "<unset>" || !strings.HasPrefix(rep[ucspi.SSLPeerCertHash], "SHA256:") {
		t.Fatalf("report %v", rep)
	}
	b, _ := io.ReadAll(e.fromEn)
	if string(b) != "220 hi\r\n" {
		t.Fatalf("app got %q", b)
	}
	e.toEng.Close()
	if code := e.wait(hangLimit); code != 0 {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}

	// A server whose name does not match -k: 98, nothing reported.
	f2, peer2 := netPair(t)
	e2 := startEngine(t, f2, &keysign.Setup{CAs: [][]byte{p.caPEM}}, engineCred(), "--client", "--server-name", "mail.example.net")
	go func() {
		tls.Server(peer2, &tls.Config{Certificates: []tls.Certificate{srvCert}}).Handshake()
		peer2.Close()
	}()
	if b := e2.command('Y'); len(b) != 0 {
		t.Fatalf("report after a failed verification: %q", b)
	}
	if code := e2.wait(10 * time.Second); code != 98 || !strings.Contains(e2.Stderr.String(), `err="tls: failed to verify certificate`) {
		t.Fatalf("exit %d: %s", code, e2.Stderr)
	}
}

func mustDER(pemb []byte) []byte {
	b, _ := pem.Decode(pemb)
	return b.Bytes
}

func hexs(b []byte) string {
	const h = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, h[c>>4], h[c&15])
	}
	return string(s)
}

// fdFlags returns the status flags of the open file description f.
func fdFlags(f *os.File) int {
	rc, _ := f.SyscallConn()
	var fl int
	rc.Control(func(fd uintptr) { fl, _ = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	return fl
}

func TestTLSWrapDecline(t *testing.T) {
	p := twTestPKI(t)
	a, b, _ := os.Pipe()
	defer b.Close()
	f, peer := netPair(t)
	_ = a
	e := startEngine(t, f, serverSetup(p), engineCred(), "--server")
	e.ctl.Close()
	if code := e.wait(hangLimit); code != 0 {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}
	// The network was not touched: not even O_NONBLOCK on the socket the
	// app keeps in delayed mode, and no byte was sent.
	if fdFlags(f)&unix.O_NONBLOCK != 0 {
		t.Fatal("the engine set O_NONBLOCK on the network before a command")
	}
	peer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, _ := peer.Read(make([]byte, 1)); n != 0 {
		t.Fatal("the engine wrote to the network")
	}
}

func TestTLSWrapBadControlByte(t *testing.T) {
	p := twTestPKI(t)
	f, _ := netPair(t)
	e := startEngine(t, f, serverSetup(p), engineCred(), "--server")
	if b := e.command('x'); len(b) != 0 {
		t.Fatalf("reply %q", b)
	}
	if code := e.wait(hangLimit); code != 100 || !strings.Contains(e.Stderr.String(), " ip=192.0.2.7 port=50124"+fatalEnd(100, `unable to use the control command "x": want y or Y`)) {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}
}

func TestTLSWrapHandshakeFailure(t *testing.T) {
	p := twTestPKI(t)
	f, peer := netPair(t)
	e := startEngine(t, f, serverSetup(p), engineCred(), "--server")
	peer.Write([]byte("EHLO not tls\r\n\x00\x01"))
	if b := e.command('Y'); len(b) != 0 {
		t.Fatalf("report after a failed handshake: %q", b)
	}
	if code := e.wait(hangLimit); code != 98 {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}
	if !regexp.MustCompile(`^tlswrap: warning: handshake conn=\d+ ip=192\.0\.2\.7 port=50124 status=98 err="tls: first record does not look like a TLS handshake"\n`).MatchString(e.Stderr.String()) {
		t.Fatalf("stderr: %q", e.Stderr)
	}
}

func TestTLSWrapHandshakeDeadline(t *testing.T) {
	p := twTestPKI(t)
	f, _ := netPair(t)
	e := startEngine(t, f, serverSetup(p), engineCred(), "--server", "-K", "300")
	start := time.Now()
	if b := e.command('Y'); len(b) != 0 {
		t.Fatalf("report %q", b)
	}
	code := e.wait(hangLimit)
	if el := time.Since(start); code != 98 || el < 250*time.Millisecond {
		t.Fatalf("exit %d after %v: %s", code, el, e.Stderr)
	}
	if !strings.Contains(e.Stderr.String(), `err="deadline of 300 ms exceeded"`) {
		t.Fatalf("stderr: %s", e.Stderr)
	}
}

func TestTLSWrapIdleTimeout(t *testing.T) {
	p := twTestPKI(t)
	f, peer := netPair(t)
	e := startEngine(t, f, serverSetup(p), engineCred(), "--server", "-I", "1")
	c := goClient(t, p, peer, nil)
	go c.Handshake()
	e.command('y')
	start := time.Now()
	code := e.wait(hangLimit)
	if el := time.Since(start); code != 98 || el < 900*time.Millisecond || !strings.Contains(e.Stderr.String(), "idle timeout of 1 s") {
		t.Fatalf("exit %d after %v: %s", code, el, e.Stderr)
	}
}

// session starts an engine (server side) with a Go TLS client on a
// loopback TCP pair; the handshake is done on return.
func session(t *testing.T, args ...string) (*engineProc, *tls.Conn, *eofConn, *net.TCPConn) {
	t.Helper()
	p := twTestPKI(t)
	f, peer := netPair(t)
	e := startEngine(t, f, serverSetup(p), engineCred(), append([]string{"--server"}, args...)...)
	ec := &eofConn{Conn: peer}
	c := goClient(t, p, ec, nil)
	hs := make(chan error, 1)
	go func() { hs <- c.Handshake() }()
	if b := e.command('y'); len(b) != 0 {
		t.Fatalf("reply to y: %q", b)
	}
	if err := <-hs; err != nil {
		t.Fatalf("handshake: %v; %s", err, e.Stderr)
	}
	return e, c, ec, peer
}

func TestTLSWrapHalfClose(t *testing.T) {
	e, c, ec, peer := session(t, "-s")
	// Peer sends a request and a bare FIN (no close_notify): the app gets
	// the bytes and EOF, and can still answer.
	c.Write([]byte("request"))
	peer.CloseWrite()
	b, err := io.ReadAll(e.fromEn)
	if err != nil || string(b) != "request" {
		t.Fatalf("app got %q, %v", b, err)
	}
	e.toEng.Write(bytes.Repeat([]byte("a"), 200000))
	e.toEng.Close()
	got, err := io.ReadAll(c)
	if err != nil || len(got) != 200000 {
		t.Fatalf("peer got %d bytes, %v", len(got), err)
	}
	if !ec.fin {
		t.Fatal("-s: the engine should end with a FIN, not close_notify")
	}
	if code := e.wait(hangLimit); code != 0 {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}
}

func TestTLSWrapCloseNotify(t *testing.T) {
	e, c, ec, _ := session(t)
	e.toEng.Write([]byte("bye"))
	e.toEng.Close()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "bye" {
		t.Fatalf("peer got %q, %v", got, err)
	}
	if ec.fin {
		t.Fatal("default: the peer saw a FIN before close_notify")
	}
	c.Close()
	if code := e.wait(hangLimit); code != 0 {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}
}

func TestTLSWrapTruncation(t *testing.T) {
	for _, strict := range []bool{false, true} {
		args := []string{}
		want := 0
		if strict {
			args, want = []string{"-J"}, 98
		}
		e, c, _, peer := session(t, args...)
		c.Write([]byte("data"))
		peer.CloseWrite() // FIN, no close_notify
		b, _ := io.ReadAll(e.fromEn)
		if string(b) != "data" {
			t.Fatalf("app got %q", b)
		}
		e.toEng.Close()
		if code := e.wait(hangLimit); code != want {
			t.Fatalf("strict %v: exit %d: %s", strict, code, e.Stderr)
		}
		if strict && !strings.Contains(e.Stderr.String(), "session truncated: peer closed without close_notify") {
			t.Fatalf("stderr: %s", e.Stderr)
		}
	}
	// close_notify is not a truncation, even with -J.
	e, c, _, _ := session(t, "-J")
	c.Write([]byte("data"))
	c.CloseWrite()
	io.ReadAll(e.fromEn)
	e.toEng.Close()
	if code := e.wait(hangLimit); code != 0 {
		t.Fatalf("close_notify with -J: exit %d: %s", code, e.Stderr)
	}
}

// An app that writes one line and exits at once: the line reaches the
// peer (s6's libtls build loses it, doc/design.md §5.2).
func TestTLSWrapEchoAndExit(t *testing.T) {
	for i := 0; i < 20; i++ {
		e, c, _, _ := session(t)
		// the client sends something the app never reads
		c.Write([]byte("unread request\r\n"))
		e.toEng.Write([]byte("hello\n"))
		e.toEng.Close()
		e.fromEn.Close()
		got, err := io.ReadAll(c)
		if string(got) != "hello\n" {
			t.Fatalf("round %d: peer got %q, %v; %s", i, got, err, e.Stderr)
		}
		c.Close()
		if code := e.wait(hangLimit); code != 0 {
			t.Fatalf("exit %d: %s", code, e.Stderr)
		}
	}
}

func TestTLSWrapEchoAndExitOpenSSL(t *testing.T) {
	need(t, "openssl")
	p := twTestPKI(t)
	for i := 0; i < 5; i++ {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		client := exec.Command("openssl", "s_client", "-connect", ln.Addr().String(), "-CAfile", filepath.Join(p.dir, "ca.pem"), "-quiet")
		client.Stdin = strings.NewReader("QUIT\r\n")
		var out syncBuffer
		client.Stdout, client.Stderr = &out, io.Discard
		client.Start()
		c, _ := ln.Accept()
		ln.Close()
		f, _ := c.(*net.TCPConn).File()
		c.Close()
		e := startEngine(t, f, serverSetup(p), engineCred(), "--server")
		f.Close()
		e.command('y')
		e.toEng.Write([]byte("hello\n"))
		e.toEng.Close()
		e.fromEn.Close()
		client.Wait()
		if out.String() != "hello\n" {
			t.Fatalf("round %d: s_client got %q", i, out.String())
		}
		e.wait(hangLimit)
	}
}

func TestTLSWrapBulk(t *testing.T) {
	const size = 100 << 20
	e, c, _, _ := session(t)
	var wg sync.WaitGroup
	sums := make([][]byte, 4)
	pump := func(i int, w io.WriteCloser, closeW func()) {
		defer wg.Done()
		h := sha256.New()
		r := io.TeeReader(io.LimitReader(rand.Reader, size), h)
		io.CopyBuffer(w, r, make([]byte, 128<<10))
		closeW()
		sums[i] = h.Sum(nil)
	}
	drain := func(i int, r io.Reader) {
		defer wg.Done()
		h := sha256.New()
		n, _ := io.Copy(h, r)
		if n != size {
			t.Errorf("stream %d: %d bytes", i, n)
		}
		sums[i] = h.Sum(nil)
	}
	wg.Add(4)
	start := time.Now()
	go pump(0, c, func() { c.CloseWrite() })
	go drain(1, e.fromEn)
	go pump(2, e.toEng, func() { e.toEng.Close() })
	go drain(3, c)
	wg.Wait()
	t.Logf("100 MB each way in %v", time.Since(start))
	if !bytes.Equal(sums[0], sums[1]) || !bytes.Equal(sums[2], sums[3]) {
		t.Fatal("checksums differ")
	}
	if code := e.wait(hangLimit); code != 0 {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}
}

func TestTLSWrapRefusesRoot(t *testing.T) {
	needRoot(t)
	p := twTestPKI(t)
	f, _ := netPair(t)
	e := startEngine(t, f, serverSetup(p), nil, "--server")
	if code := e.wait(hangLimit); code != 97 || !strings.Contains(e.Stderr.String(), " ip=192.0.2.7 port=50124"+fatalErr(97, "unable to start as uid 0: refusing to run as root")) {
		t.Fatalf("exit %d: %s", code, e.Stderr)
	}
}

func TestTLSWrapUsage(t *testing.T) {
	r := run(t, baseEnv(), "", bin("tlswrap"), "--server", "--client")
	if r.Code != 100 || !strings.Contains(r.Stderr, usageLine("tlswrap")) || !strings.Contains(r.Stderr, `usage="tlswrap --server|--client`) {
		t.Fatalf("%+v", r)
	}
	r = run(t, baseEnv(), "", bin("tlswrap"), "-h")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "usage: tlswrap --server|--client") {
		t.Fatalf("%+v", r)
	}
}

// procStatus returns the fields of /proc/pid/status.
func procStatus(pid int) map[string]string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	m := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(l, ":")
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// The engine's identity and confinement as the kernel sees them.
func TestTLSWrapHardening(t *testing.T) {
	needRoot(t)
	e, c, _, _ := session(t, "-v", "--require-jail")
	pid := e.cmd.Process.Pid
	st := procStatus(pid)
	if !strings.HasPrefix(st["Uid"], "65534\t") || !strings.HasPrefix(st["Gid"], "65534\t") || st["Groups"] != "" || st["NoNewPrivs"] != "1" {
		t.Fatalf("status %v", st)
	}
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	for _, d := range ents {
		n, _ := strconv.Atoi(d.Name())
		if n > 6 {
			target, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + d.Name())
			if !strings.HasPrefix(target, "anon_inode:") { // the runtime's epoll and eventfd
				t.Errorf("fd %d open: %s", n, target)
			}
		}
		if n == 5 || n == 6 {
			t.Errorf("fd %d still open after the handshake", n)
		}
	}
	lim, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/limits")
	for _, want := range []string{`Max open files\s+0\s+0`, `Max file size\s+0\s+0`, `Max data size\s+268435456\s+268435456`} {
		if !regexp.MustCompile(want).Match(lim) {
			t.Errorf("limits lack %q:\n%s", want, lim)
		}
	}
	c.Close()
	e.toEng.Close()
	if code := e.wait(hangLimit); code != 0 || strings.Contains(e.Stderr.String(), "jail none") {
		t.Fatalf("exit %d with -j: %s", code, e.Stderr)
	}
}

// readMemory returns the engine's readable private memory, read as root
// through /proc/PID/mem (the engine is not dumpable, so only root can).
func readMemory(t *testing.T, pid int) []byte {
	maps, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/maps")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open("/proc/" + strconv.Itoa(pid) + "/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var all []byte
	for _, l := range strings.Split(string(maps), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[1][0] != 'r' || (len(f) >= 6 && strings.HasPrefix(f[5], "[v")) {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		a, _ := strconv.ParseUint(lo, 16, 64)
		b, _ := strconv.ParseUint(hi, 16, 64)
		if b-a > 1<<30 {
			continue
		}
		buf := make([]byte, b-a)
		n, _ := mem.ReadAt(buf, int64(a))
		all = append(all, buf[:n]...)
	}
	return all
}

// The engine never holds the private key: after a full handshake its
// memory has the certificate but not the key's scalar or its DER.
func TestTLSWrapKeyNotInMemory(t *testing.T) {
	needRoot(t)
	p := twTestPKI(t)
	e, c, _, _ := session(t)
	c.Write([]byte("x"))
	b := make([]byte, 1)
	io.ReadFull(e.fromEn, b)
	mem := readMemory(t, e.cmd.Process.Pid)
	if !bytes.Contains(mem, p.serverDER) {
		t.Fatalf("control failed: the certificate is not in the %d bytes read", len(mem))
	}
	scalar := p.serverKey.D.FillBytes(make([]byte, 32))
	der := mustDER(p.server.KeyPEM)
	if bytes.Contains(mem, scalar) || bytes.Contains(mem, der) {
		t.Fatal("the private key is in the engine's memory")
	}
	t.Logf("searched %d bytes of engine memory", len(mem))
	c.Close()
	e.toEng.Close()
	e.wait(hangLimit)
}

// keep imports used in every build
var _ = errors.New
var _ crypto.Signer = (*ecdsa.PrivateKey)(nil)

// TestTLSWrapThroughput measures (TLSCHAIN_BENCH=1; t/bench/engine.sh):
// 1 GiB peer → engine → app against an in-process Go TLS loopback in the
// same run, start-up to report with GOMAXPROCS 1 and 2, and the
// Private_Dirty of an idle engine.
func TestTLSWrapThroughput(t *testing.T) {
	if os.Getenv("TLSCHAIN_BENCH") == "" {
		t.Skip("set TLSCHAIN_BENCH=1 (t/bench/engine.sh)")
	}
	const size = 1 << 30
	p := twTestPKI(t)
	buf := make([]byte, 256<<10)
	send := func(w io.Writer) {
		for n := 0; n < size; n += len(buf) {
			w.Write(buf)
		}
	}
	mbs := func(d time.Duration) float64 { return float64(size) / d.Seconds() / 1e6 }

	// In-process Go TLS over loopback TCP: the ceiling.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srvCert, _ := tls.X509KeyPair(p.server.CertPEM, p.server.KeyPEM)
	go func() {
		c, _ := ln.Accept()
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{srvCert}})
		io.CopyBuffer(io.Discard, s, make([]byte, 256<<10))
		s.Close()
	}()
	raw, _ := net.Dial("tcp", ln.Addr().String())
	c := goClient(t, p, raw, nil)
	c.Handshake()
	start := time.Now()
	send(c)
	c.CloseWrite()
	io.ReadAll(c)
	inproc := time.Since(start)
	ln.Close()
	t.Logf("in-process Go TLS loopback: %.0f MB/s (%s)", mbs(inproc), tls.CipherSuiteName(c.ConnectionState().CipherSuite))

	for _, procs := range []string{"1", "2"} {
		twExtraEnv = []string{"GOMAXPROCS=" + procs}
		e, c, _, _ := session(t)
		pid := e.cmd.Process.Pid
		sm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
		if m := regexp.MustCompile(`Private_Dirty:\s+(\d+) kB`).FindSubmatch(sm); m != nil {
			t.Logf("GOMAXPROCS=%s idle engine Private_Dirty %s kB", procs, m[1])
		}
		done := make(chan int64)
		go func() { n, _ := io.CopyBuffer(io.Discard, e.fromEn, make([]byte, 256<<10)); done <- n }()
		start := time.Now()
		send(c)
		c.CloseWrite()
		n := <-done
		d := time.Since(start)
		e.toEng.Close()
		e.wait(hangLimit)
		t.Logf("GOMAXPROCS=%s engine relay: %.0f MB/s (%d bytes), %.0f%% of in-process", procs, mbs(d), n, 100*inproc.Seconds()/d.Seconds())

		// Start-up: spawn to report, 30 times.
		var total time.Duration
		for i := 0; i < 30; i++ {
			f, peer := netPair(t)
			start := time.Now()
			e := startEngine(t, f, serverSetup(p), engineCred(), "--server")
			go goClient(t, p, peer, nil).Handshake()
			e.report()
			total += time.Since(start)
			e.toEng.Close()
			peer.Close()
			e.wait(hangLimit)
		}
		t.Logf("GOMAXPROCS=%s spawn to report (handshake incl.): %.2f ms mean of 30", procs, total.Seconds()*1000/30)
	}
	twExtraEnv = nil
}
