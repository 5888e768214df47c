package t

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Apps used behind tlsd: they write to fd 1, the cleartext pipe.
const (
	appHello = "echo hello"
	appEnv   = "echo hello; env"
	// appEngine prints the engine's /proc status and fd list. The engine
	// is the app's child after tlsd's exec (the app is tlsd's process),
	// or the app's sibling when tlsserver does tlsd's work itself; where
	// its fds can be read, the engine is the one whose fd 4 is the pipe
	// on the app's fd 0.
	appEngine = `me=$(readlink /proc/$$/fd/0)
for k in $(cat /proc/$$/task/*/children /proc/$PPID/task/*/children 2>/dev/null); do
  [ "$(cat /proc/$k/comm 2>/dev/null)" = tlswrap ] || continue
  e=$(readlink /proc/$k/fd/4 2>/dev/null)
  [ -z "$e" ] || [ "$e" = "$me" ] || continue
  i=0; while [ -e /proc/$k/fd/5 -o -e /proc/$k/fd/6 ] && [ $i -lt 100 ]; do sleep 0.02; i=$((i+1)); done
  echo "ENGINE $k"; cat /proc/$k/status; ls -l /proc/$k/fd
done
echo "APP"; cat /proc/self/status`
)

// tlsdEnv is a clean environment with the default server pair.
func tlsdEnv(dir string, extra ...string) []string {
	return baseEnv(append([]string{"CERTFILE=" + dir + "/server.crt", "KEYFILE=" + dir + "/server.key"}, extra...)...)
}

// tlsdServe runs tcpserver 127.0.0.1 0 tlsd args... (args end with the
// app's argv).
func tlsdServe(t *testing.T, env []string, args ...string) *server {
	t.Helper()
	return serve(t, env, append([]string{"-c", "100", "127.0.0.1", "0", "tlsd"}, args...)...)
}

// caPool is the pool of the test CA.
func caPool(t testing.TB) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(certs(t).CA.CertPEM)
	return p
}

// tlsDial connects with Go's TLS client, sends in, closes the write side
// (TCP half-close, no close_notify) and returns what it reads.
func tlsDial(t testing.TB, addr string, cfg *tls.Config, in []byte) ([]byte, *tls.ConnectionState, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	c := tls.Client(raw, cfg)
	if err := c.Handshake(); err != nil {
		return nil, nil, err
	}
	st := c.ConnectionState()
	go func() {
		if len(in) > 0 {
			c.Write(in)
		}
		raw.(*net.TCPConn).CloseWrite()
	}()
	out, err := io.ReadAll(c)
	return out, &st, err
}

func localhostTLS(t testing.TB) *tls.Config {
	return &tls.Config{RootCAs: caPool(t), ServerName: "localhost"}
}

// sClient runs openssl s_client against addr with args, stdin at EOF.
// -ign_eof keeps it reading until the server closes.
func sClient(t *testing.T, addr string, args ...string) result {
	t.Helper()
	need(t, "openssl")
	a := append([]string{"s_client", "-connect", addr, "-ign_eof"}, args...)
	return run(t, os.Environ(), "", "openssl", a...)
}

// endCode waits for tcpserver's end line of a child and returns its exit
// code.
func endCode(t *testing.T, s *server) int {
	t.Helper()
	m := waitLog(t, s, `info: end conn=\S+ ip=\S+ port=\d+ status=\d+`)
	n, _ := strconv.Atoi(m[strings.LastIndexByte(m, '=')+1:])
	return n
}

func TestTLSDOpenSSL(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", appEnv)
	for _, v := range []string{"-tls1_2", "-tls1_3"} {
		t.Run(v, func(t *testing.T) {
			r := sClient(t, s.Addr, v, "-CAfile", dir+"/ca.crt", "-verify_return_error", "-verify_hostname", "localhost")
			if !strings.Contains(r.Stdout, "\nhello\n") {
				t.Fatalf("no hello (rc %d):\n%s\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(r.Stdout, "Verify return code: 0 (ok)") {
				t.Errorf("not verified:\n%s", r.Stdout)
			}
			env := envMap(r.Stdout)
			proto := map[string]string{"-tls1_2": "TLSv1.2", "-tls1_3": "TLSv1.3"}[v]
			if env["SSL_PROTOCOL"] != proto || env["SSL_CIPHER"] == "" || env["SSL_SESSION_RESUMED"] != "0" {
				t.Errorf("SSL_PROTOCOL %q SSL_CIPHER %q SSL_SESSION_RESUMED %q", env["SSL_PROTOCOL"], env["SSL_CIPHER"], env["SSL_SESSION_RESUMED"])
			}
			for _, k := range []string{"CERTFILE", "KEYFILE", "TLS_UID", "TLS_GID", "GOMAXPROCS", "SSL_PEER_CERT_HASH", "SSL_CLIENT_S_DN"} {
				if _, ok := env[k]; ok {
					t.Errorf("app environment has %s", k)
				}
			}
			if env["TCPREMOTEIP"] != "127.0.0.1" {
				t.Errorf("TCPREMOTEIP %q", env["TCPREMOTEIP"])
			}
		})
	}
}

func TestTLSDGnuTLS(t *testing.T) {
	need(t, "gnutls-cli")
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", appHello)
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "gnutls-cli", "--port="+strconv.Itoa(s.Port), "--x509cafile="+dir+"/ca.crt",
		"--verify-hostname=localhost", "127.0.0.1")
	stdin, _ := cmd.StdinPipe() // held open until hello arrives: EOF would end the session early
	out, _ := cmd.StdoutPipe()
	var se syncBuffer
	cmd.Stderr = &se
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	got := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if sc.Text() == "hello" {
			got = true
			break
		}
	}
	stdin.Close()
	io.Copy(io.Discard, out)
	cmd.Wait()
	if !got {
		t.Fatalf("gnutls-cli saw no hello; stderr:\n%s", se.String())
	}
}

func TestTLSDGoClientAndEnv(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir, "CAFILE="+dir+"/ca.crt", "TLS_UID=4321", "TLS_GID=4322", "SSL_UID=1", "SSLCTLFD=5"), "sh", "-c", appEnv)
	out, st, err := tlsDial(t, s.Addr, localhostTLS(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := envMap(string(out))
	if env["SSL_PROTOCOL"] != "TLSv1.3" || env["SSL_CIPHER"] != tls.CipherSuiteName(st.CipherSuite) {
		t.Errorf("SSL_PROTOCOL %q SSL_CIPHER %q (client saw %s)", env["SSL_PROTOCOL"], env["SSL_CIPHER"], tls.CipherSuiteName(st.CipherSuite))
	}
	if env["SSL_TLS_SNI_SERVERNAME"] != "localhost" {
		t.Errorf("SSL_TLS_SNI_SERVERNAME %q", env["SSL_TLS_SNI_SERVERNAME"])
	}
	for k := range env {
		if strings.HasPrefix(k, "CERTFILE") || strings.HasPrefix(k, "KEYFILE") || k == "CAFILE" || k == "TLS_UID" || k == "TLS_GID" || k == "SSL_UID" || k == "SSLCTLFD" {
			t.Errorf("app environment has %s", k)
		}
	}
	s.stop()

	// -Z keeps them.
	s = tlsdServe(t, tlsdEnv(dir, "TLS_UID=4321"), "-Z", "sh", "-c", appEnv)
	out, _, err = tlsDial(t, s.Addr, localhostTLS(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	env = envMap(string(out))
	if env["CERTFILE"] != dir+"/server.crt" || env["KEYFILE"] != dir+"/server.key" || env["TLS_UID"] != "4321" {
		t.Errorf("-Z: CERTFILE %q KEYFILE %q TLS_UID %q", env["CERTFILE"], env["KEYFILE"], env["TLS_UID"])
	}
}

// TestTLSDKeyTypes: RSA and Ed25519 keys sign through the key channel; a
// key file readable only by root works (tlsd reads it; the engine, not
// root, never sees it).
func TestTLSDKeyTypes(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	private := t.TempDir()
	os.Chmod(private, 0o700)
	for _, name := range []string{"rsa", "ed25519", "server"} {
		t.Run(name, func(t *testing.T) {
			key := private + "/" + name + ".key"
			data, _ := os.ReadFile(dir + "/" + name + ".key")
			os.WriteFile(key, data, 0o600)
			env := baseEnv("CERTFILE="+dir+"/"+name+".crt", "KEYFILE="+key)
			s := tlsdServe(t, env, "sh", "-c", appHello)
			for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
				cfg := localhostTLS(t)
				cfg.MinVersion, cfg.MaxVersion = v, v
				if name == "ed25519" && v == tls.VersionTLS12 {
					cfg.CipherSuites = nil
				}
				out, st, err := tlsDial(t, s.Addr, cfg, nil)
				if err != nil {
					t.Fatalf("version %x: %v; stderr %s", v, err, s.Stderr)
				}
				if string(out) != "hello\n" || st.Version != v {
					t.Errorf("version %x: got %q", v, out)
				}
			}
		})
	}
}

func TestTLSDSNI(t *testing.T) {
	dir := certDir(t)
	env := tlsdEnv(dir, "CERTFILE:other.test="+dir+"/other.crt", "KEYFILE:other.test="+dir+"/other.key",
		"CERTFILE:*.wild.test="+dir+"/wild.crt", "KEYFILE:*.wild.test="+dir+"/wild.key")
	s := tlsdServe(t, env, "sh", "-c", "echo hello; echo SNI=$SSL_TLS_SNI_SERVERNAME")
	for _, tc := range []struct{ sni, cn string }{
		{"other.test", "other.test"}, {"a.wild.test", "*.wild.test"}, {"localhost", "localhost"}, {"unknown.test", "localhost"},
	} {
		t.Run(tc.sni, func(t *testing.T) {
			r := sClient(t, s.Addr, "-servername", tc.sni, "-CAfile", dir+"/ca.crt")
			if !regexp.MustCompile(`subject=.*CN ?= ?` + regexp.QuoteMeta(tc.cn) + `\b`).MatchString(r.Stdout) {
				t.Errorf("SNI %s: want CN %s:\n%s", tc.sni, tc.cn, r.Stdout)
			}
			if !strings.Contains(r.Stdout, "SNI="+tc.sni+"\n") {
				t.Errorf("SNI %s: app saw %q", tc.sni, r.Stdout)
			}
		})
	}
	// A wildcard covers one label only.
	r := sClient(t, s.Addr, "-servername", "a.b.wild.test", "-CAfile", dir+"/ca.crt")
	if regexp.MustCompile(`subject=.*wild`).MatchString(r.Stdout) {
		t.Errorf("*.wild.test served a.b.wild.test:\n%s", r.Stdout)
	}
	s.stop()

	// -k 2: mandatory SNI. A known name works; an unknown one and none
	// fail the handshake (98) and the app never runs.
	s = tlsdServe(t, env, "-k", "2", "sh", "-c", appHello)
	cfg := &tls.Config{RootCAs: caPool(t), ServerName: "other.test"}
	if out, _, err := tlsDial(t, s.Addr, cfg, nil); err != nil || string(out) != "hello\n" {
		t.Errorf("-k 2 with a known name: %q %v", out, err)
	}
	cfg = &tls.Config{RootCAs: caPool(t), ServerName: "nomatch.test", InsecureSkipVerify: true}
	if _, _, err := tlsDial(t, s.Addr, cfg, nil); err == nil {
		t.Errorf("-k 2 served an unknown name")
	}
	cfg = &tls.Config{InsecureSkipVerify: true} // no SNI: an IP address
	if _, _, err := tlsDial(t, s.Addr, cfg, nil); err == nil {
		t.Errorf("-k 2 served a client without SNI")
	}
	waitLog(t, s, `(?s)info: end conn=\S+ ip=\S+ port=\d+ status=98 .*info: end conn=\S+ ip=\S+ port=\d+ status=98 `)
}

func TestTLSDClientCert(t *testing.T) {
	dir := certDir(t)
	p := certs(t)
	clientPair := func(c *testCert) []tls.Certificate {
		pair, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return []tls.Certificate{pair}
	}
	app := "echo hello; env | grep '^SSL_' | sort"
	env := tlsdEnv(dir, "CAFILE="+dir+"/ca.crt")

	t.Run("required", func(t *testing.T) {
		s := tlsdServe(t, env, "-y", "sh", "-c", app)
		cfg := localhostTLS(t)
		cfg.Certificates = clientPair(p.Client)
		out, _, err := tlsDial(t, s.Addr, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		m := envMap(string(out))
		if m["SSL_CLIENT_S_DN_CN"] != "client.test" || !strings.Contains(m["SSL_CLIENT_S_DN"], "CN=client.test") ||
			m["SSL_CLIENT_VERIFY"] != "SUCCESS" || m["SSL_PEER_CERT_HASH"] != p.Client.Hash() ||
			!strings.Contains(m["SSL_CLIENT_I_DN"], "tlschain test CA") || !strings.Contains(m["SSL_PEER_CERT_SUBJECT"], "CN=client.test") {
			t.Errorf("client certificate variables:\n%s", out)
		}
		// No certificate, or one from a CA not in CAFILE: no session.
		for _, certs := range [][]tls.Certificate{nil, clientPair(p.RogueCli)} {
			cfg := localhostTLS(t)
			cfg.Certificates = certs
			if out, _, err := tlsDial(t, s.Addr, cfg, nil); err == nil && len(out) > 0 {
				t.Errorf("-y accepted a client with %d bad certificates: %q", len(certs), out)
			}
		}
	})
	t.Run("requested", func(t *testing.T) {
		s := tlsdServe(t, env, "-Y", "sh", "-c", app)
		out, _, err := tlsDial(t, s.Addr, localhostTLS(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		m := envMap(string(out))
		if _, ok := m["SSL_CLIENT_S_DN"]; ok || m["SSL_CLIENT_VERIFY"] == "SUCCESS" {
			t.Errorf("-Y without a certificate:\n%s", out)
		}
		cfg := localhostTLS(t)
		cfg.Certificates = clientPair(p.Client)
		out, _, err = tlsDial(t, s.Addr, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if m := envMap(string(out)); m["SSL_CLIENT_S_DN_CN"] != "client.test" {
			t.Errorf("-Y with a certificate:\n%s", out)
		}
	})
	t.Run("openssl", func(t *testing.T) {
		s := tlsdServe(t, env, "-y", "sh", "-c", app)
		r := sClient(t, s.Addr, "-CAfile", dir+"/ca.crt", "-verify_return_error", "-cert", dir+"/client.crt", "-key", dir+"/client.key")
		if !strings.Contains(r.Stdout, "SSL_CLIENT_S_DN_CN=client.test") {
			t.Errorf("openssl with a client certificate:\n%s\n%s", r.Stdout, r.Stderr)
		}
	})
	t.Run("no CA", func(t *testing.T) {
		r := run(t, tlsdEnv(dir), "", bin("tlsd"), "-y", "true")
		if r.Code != 96 || !strings.Contains(r.Stderr, fatalErr(96, "unable to verify client certificates: CAFILE and CADIR not set")) {
			t.Errorf("-y without CAFILE: %d %q", r.Code, r.Stderr)
		}
	})
}

// bulk sends size random bytes through tlsd … cat and checks the echo.
func bulk(t *testing.T, addr string, size int, closeNotify bool) {
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(120 * time.Second))
	c := tls.Client(raw, localhostTLS(t))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	sent := sha256.New()
	errc := make(chan error, 1)
	go func() {
		buf := make([]byte, 1<<20)
		for n := 0; n < size; n += len(buf) {
			rand.Read(buf)
			sent.Write(buf)
			if _, err := c.Write(buf); err != nil {
				errc <- err
				return
			}
		}
		if closeNotify {
			errc <- c.CloseWrite() // close_notify
		} else {
			errc <- raw.(*net.TCPConn).CloseWrite() // TCP half-close
		}
	}()
	got := sha256.New()
	n, err := io.Copy(got, c)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if n != int64(size) || string(got.Sum(nil)) != string(sent.Sum(nil)) {
		t.Fatalf("echoed %d of %d bytes, hashes equal %v", n, size, string(got.Sum(nil)) == string(sent.Sum(nil)))
	}
}

func TestTLSDBulk(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MB each way")
	}
	dir := certDir(t)
	t.Run("half-close", func(t *testing.T) {
		s := tlsdServe(t, tlsdEnv(dir), "cat")
		bulk(t, s.Addr, 100<<20, false)
		if code := endCode(t, s); code != 0 {
			t.Errorf("exit %d", code)
		}
	})
	t.Run("close_notify", func(t *testing.T) {
		s := tlsdServe(t, tlsdEnv(dir), "-S", "cat")
		bulk(t, s.Addr, 100<<20, true)
	})
}

// TestTLSDTruncation: with -J a peer EOF without close_notify is a
// truncation the engine reports; without -J it is a normal EOF.
func TestTLSDTruncation(t *testing.T) {
	dir := certDir(t)
	for _, strict := range []bool{false, true} {
		args := []string{"cat"}
		if strict {
			args = append([]string{"-J"}, args...)
		}
		s := tlsdServe(t, tlsdEnv(dir), args...)
		out, _, err := tlsDial(t, s.Addr, localhostTLS(t), []byte("data\n"))
		if !strict {
			if err != nil || string(out) != "data\n" {
				t.Errorf("-j: %q %v", out, err)
			}
			s.stop()
			if strings.Contains(s.Stderr.String(), "truncat") {
				t.Errorf("-j logged a truncation:\n%s", s.Stderr)
			}
			continue
		}
		waitLog(t, s, `tlswrap: warning: .*truncat`)
	}
}

// TestTLSDHandshakeTimeout: a client that says nothing is dropped after
// -K ms; tlsd exits 98 and the app never runs.
func TestTLSDHandshakeTimeout(t *testing.T) {
	dir := certDir(t)
	marker := t.TempDir() + "/ran"
	s := tlsdServe(t, tlsdEnv(dir), "-K", "300", "touch", marker)
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hangLimit))
	if _, err := io.ReadAll(c); isTimeout(err) {
		t.Errorf("the connection was not closed: %v", err)
	}
	if code := endCode(t, s); code != 98 {
		t.Errorf("exit %d, want 98", code)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the app ran")
	}
}

func TestTLSDPlainText(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "-K", "5000", "sh", "-c", appHello)
	out := dial(t, s.Addr, []byte("EHLO example.com\r\nQUIT\r\n"))
	if strings.Contains(string(out), "hello") {
		t.Errorf("plain text reached the app: %q", out)
	}
	if code := endCode(t, s); code != 98 {
		t.Errorf("exit %d, want 98; stderr:\n%s", code, s.Stderr)
	}
	// One line about it, from the engine, not a second one from tlsd.
	if strings.Contains(s.Stderr.String(), "tlsd: warning") {
		t.Errorf("tlsd doubled the engine's line:\n%s", s.Stderr)
	}
}

func TestTLSDConcurrent(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", appHello)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := tlsDial(t, s.Addr, localhostTLS(t), nil)
			if err != nil || string(out) != "hello\n" {
				mu.Lock()
				bad++
				mu.Unlock()
				t.Logf("client: %q %v", out, err)
			}
		}()
	}
	wg.Wait()
	if bad > 0 {
		t.Errorf("%d of 50 clients did not get hello; stderr:\n%s", bad, s.Stderr)
	}
}

// statusField returns a "Name:\tvalue" field of a /proc status dump.
func statusField(s, name string) string {
	m := regexp.MustCompile(`(?m)^` + name + `:\s*(.*)$`).FindStringSubmatch(s)
	if m == nil {
		return "<none>"
	}
	return strings.Join(strings.Fields(m[1]), " ")
}

// TestTLSDEngineProcess: the engine runs as TLS_UID/TLS_GID, without
// supplementary groups, with no_new_privs, and holds only its fds; the
// app, dropped by tlsd -u/-g, runs as another user.
func TestTLSDEngineProcess(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	env := tlsdEnv(dir, "TLS_UID=4321", "TLS_GID=4322")
	// The client keeps its side open while the app looks: a peer EOF
	// would make the engine close its pipe to the app (fd 4) at once.
	engineOf := func(t *testing.T, s *server) (engine, app string) {
		c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		out, err := io.ReadAll(c)
		if err != nil {
			t.Fatal(err)
		}
		engine, app, ok := strings.Cut(string(out), "APP\n")
		if !ok || !strings.Contains(engine, "ENGINE ") {
			t.Fatalf("no engine found:\n%s\nstderr: %s", out, s.Stderr)
		}
		return engine, app
	}
	t.Run("engine", func(t *testing.T) {
		s := tlsdServe(t, env, "sh", "-c", appEngine)
		engine, _ := engineOf(t, s)
		if u := statusField(engine, "Uid"); u != "4321 4321 4321 4321" {
			t.Errorf("engine Uid %q", u)
		}
		if g := statusField(engine, "Gid"); g != "4322 4322 4322 4322" {
			t.Errorf("engine Gid %q", g)
		}
		if g := statusField(engine, "Groups"); g != "" && g != "4322" {
			t.Errorf("engine Groups %q", g)
		}
		if n := statusField(engine, "NoNewPrivs"); n != "1" {
			t.Errorf("engine NoNewPrivs %q", n)
		}
		// fds: 0/1 the socket, 2 stderr, 3/4 the pipes; the runtime's own
		// epoll/eventfd and cgroup files may be there; nothing else (no key channel, no
		// control socket, no file).
		seen := map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m) (\d+) -> (.*)$`).FindAllStringSubmatch(engine, -1) {
			fd, target := m[1], m[2]
			seen[fd] = true
			switch {
			case (fd == "0" || fd == "1") && strings.HasPrefix(target, "socket:"):
			case fd == "2":
			case (fd == "3" || fd == "4") && strings.HasPrefix(target, "pipe:"):
			case strings.HasPrefix(target, "anon_inode:"):
			case strings.HasPrefix(target, "/sys/fs/cgroup/"):
				// The Go runtime's own: it keeps the cgroup CPU quota
				// files open to size GOMAXPROCS.
			default:
				t.Errorf("engine fd %s -> %s", fd, target)
			}
		}
		for _, fd := range []string{"0", "1", "2", "3", "4"} {
			if !seen[fd] {
				t.Errorf("engine has no fd %s:\n%s", fd, engine)
			}
		}
	})
	t.Run("app drop", func(t *testing.T) {
		s := tlsdServe(t, env, "-u", "daemon", "-g", "daemon", "sh", "-c", appEngine)
		engine, app := engineOf(t, s)
		if u := statusField(engine, "Uid"); u != "4321 4321 4321 4321" {
			t.Errorf("engine Uid %q", u)
		}
		if u := statusField(app, "Uid"); u != "1 1 1 1" {
			t.Errorf("app Uid %q", u)
		}
		if g := statusField(app, "Gid"); g != "1 1 1 1" {
			t.Errorf("app Gid %q", g)
		}
		if n := statusField(app, "NoNewPrivs"); n != "0" {
			t.Errorf("app NoNewPrivs %q: setuid programs of the app (qmail-queue) would break", n)
		}
	})
	// An fd tlsd inherited goes on to prog (doc/ucspi.md), never to the
	// engine: fd 7 is the one the engine would keep.
	t.Run("inherited fd", func(t *testing.T) {
		wrap := `exec 7</etc/hostname; exec tlsd sh -c "$1; ls -l /proc/self/fd"`
		s := serve(t, env, "127.0.0.1", "0", "sh", "-c", wrap, "sh", appEngine)
		engine, app := engineOf(t, s)
		if strings.Contains(engine, "/etc/hostname") {
			t.Errorf("the engine got tlsd's inherited fd:\n%s", engine)
		}
		if !regexp.MustCompile(` 7 -> /etc/hostname`).MatchString(app) {
			t.Errorf("prog lost tlsd's inherited fd 7:\n%s", app)
		}
	})
	t.Run("default identity", func(t *testing.T) {
		s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", appEngine)
		engine, _ := engineOf(t, s)
		if u, g := statusField(engine, "Uid"), statusField(engine, "Gid"); u != "65534 65534 65534 65534" || g != "65534 65534 65534 65534" {
			t.Errorf("engine Uid %q Gid %q", u, g)
		}
	})
}

func TestTLSDConfigErrors(t *testing.T) {
	dir := certDir(t)
	bad := t.TempDir() + "/bad.key"
	os.WriteFile(bad, []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0o600)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"no CERTFILE", baseEnv(), nil, 100, fatalEnd(100, "CERTFILE not set")},
		{"no key in CERTFILE, no KEYFILE", baseEnv("CERTFILE=" + dir + "/server.crt"), nil, 96,
			fatalEnd(96, "unable to use CERTFILE "+dir+"/server.crt: no private key in it and no KEYFILE")},
		{"missing CERTFILE", baseEnv("CERTFILE=" + dir + "/nope.pem"), nil, 96,
			fatalEnd(96, "unable to read CERTFILE "+dir+"/nope.pem: no such file or directory")},
		{"missing key", baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+dir+"/nope.key"), nil, 96,
			fatalEnd(96, "unable to read KEYFILE "+dir+"/nope.key: no such file or directory")},
		{"bad key", baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+bad), nil, 96, "bad private key"},
		{"mismatched pair", baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+dir+"/other.key"), nil, 96,
			fatalErr(96, "unable to load CERTFILE "+dir+"/server.crt and KEYFILE "+dir+"/other.key: the private key does not match")},
		{"KEYFILE:x alone", tlsdEnv(dir, "KEYFILE:x.test="+dir+"/other.key"), nil, 96, "CERTFILE:x.test not set"},
		{"engine as root", tlsdEnv(dir, "TLS_UID=0"), nil, 100, fatalEnd(100, "TLS_UID is 0: the TLS engine never runs as root")},
		{"usage", baseEnv(), []string{"-k", "5"}, 100, usageLine("tlsd")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "engine as root" && os.Geteuid() != 0 {
				t.Skip("needs root")
			}
			args := tc.args
			if args == nil {
				args = []string{"true"}
			}
			r := run(t, tc.env, "", bin("tlsd"), args...)
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.msg) {
				t.Errorf("exit %d, stderr %q; want %d, %q", r.Code, r.Stderr, tc.code, tc.msg)
			}
		})
	}
}

// TestTLSDResumption: two engines share a ticket-key file, so a session
// from one connection resumes on the next.
func TestTLSDResumption(t *testing.T) {
	dir := certDir(t)
	keys := dir + "/tickets"
	k := make([]byte, 64)
	rand.Read(k)
	os.WriteFile(keys, k, 0o600)
	s := tlsdServe(t, tlsdEnv(dir, "TLS_TICKETKEYS="+keys), "sh", "-c", "echo hello; echo RESUMED=$SSL_SESSION_RESUMED")
	sess := dir + "/sess"
	r := sClient(t, s.Addr, "-tls1_2", "-CAfile", dir+"/ca.crt", "-sess_out", sess)
	if !strings.Contains(r.Stdout, "New, ") || !strings.Contains(r.Stdout, "RESUMED=0") {
		t.Fatalf("first session:\n%s\n%s", r.Stdout, r.Stderr)
	}
	r = sClient(t, s.Addr, "-tls1_2", "-CAfile", dir+"/ca.crt", "-sess_in", sess)
	if !strings.Contains(r.Stdout, "Reused, ") || !strings.Contains(r.Stdout, "RESUMED=1") {
		t.Errorf("second session not resumed:\n%s", r.Stdout)
	}
	// The holder seals tickets with the newest key and opens them with
	// any: a ticket from before a rotation still resumes.
	if r := run(t, baseEnv(), "", bin("tlskeys"), "rotate", keys); r.Code != 0 {
		t.Fatalf("tlskeys rotate: %d %s", r.Code, r.Stderr)
	}
	r = sClient(t, s.Addr, "-tls1_2", "-CAfile", dir+"/ca.crt", "-sess_in", sess)
	if !strings.Contains(r.Stdout, "Reused, ") || !strings.Contains(r.Stdout, "RESUMED=1") {
		t.Errorf("a session from before the rotation not resumed:\n%s", r.Stdout)
	}
	// TLS 1.3 with openssl: the ticket comes in the server's flight.
	sess13 := dir + "/sess13"
	r = sClient(t, s.Addr, "-tls1_3", "-CAfile", dir+"/ca.crt", "-sess_out", sess13)
	if !strings.Contains(r.Stdout, "RESUMED=0") {
		t.Fatalf("first TLS 1.3 session:\n%s\n%s", r.Stdout, r.Stderr)
	}
	r = sClient(t, s.Addr, "-tls1_3", "-CAfile", dir+"/ca.crt", "-sess_in", sess13)
	if !strings.Contains(r.Stdout, "Reused, ") || !strings.Contains(r.Stdout, "RESUMED=1") {
		t.Errorf("TLS 1.3 session not resumed:\n%s", r.Stdout)
	}
	// TLS 1.3 tickets come after the handshake: Go's client cache.
	cache := tls.NewLRUClientSessionCache(4)
	cfg := localhostTLS(t)
	cfg.ClientSessionCache = cache
	var resumed []bool
	for i := 0; i < 2; i++ {
		out, st, err := tlsDial(t, s.Addr, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		resumed = append(resumed, st.DidResume && strings.Contains(string(out), "RESUMED=1"))
	}
	if resumed[0] || !resumed[1] {
		t.Errorf("TLS 1.3 resumption: %v", resumed)
	}
}

var _ = errors.New

// TestTLSDEngineUIDPool: with --engine-uids each live engine has its own
// uid from TLS_UID .. TLS_UID+n-1; a full pool refuses the connection
// (111); a slot is free again when its engine ends.
func TestTLSDEngineUIDPool(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	lockDir := t.TempDir() + "/uids"
	app := `me=$(readlink /proc/$$/fd/0)
for k in $(cat /proc/$$/task/*/children /proc/$PPID/task/*/children 2>/dev/null); do
  [ "$(cat /proc/$k/comm 2>/dev/null)" = tlswrap ] && [ "$(readlink /proc/$k/fd/4)" = "$me" ] && grep ^Uid: /proc/$k/status
done
echo READY; exec cat`
	s := tlsdServe(t, tlsdEnv(dir, "TLS_UID=5000", "TLS_GID=5000"), "--engine-uids", "3", "--engine-uid-dir", lockDir, "sh", "-c", app)
	open := func() (*tls.Conn, string, error) {
		c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
		if err != nil {
			return nil, "", err
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		var got strings.Builder
		sc := bufio.NewScanner(c)
		for sc.Scan() && sc.Text() != "READY" {
			got.WriteString(sc.Text() + "\n")
		}
		if sc.Err() != nil {
			c.Close()
			return nil, "", sc.Err()
		}
		return c, statusField(got.String(), "Uid"), nil
	}
	var conns []*tls.Conn
	uids := map[string]bool{}
	for i := 0; i < 3; i++ {
		c, uid, err := open()
		if err != nil {
			t.Fatalf("connection %d: %v; stderr %s", i, err, s.Stderr)
		}
		defer c.Close()
		conns = append(conns, c)
		uids[uid] = true
	}
	if !uids["5000 5000 5000 5000"] || !uids["5001 5001 5001 5001"] || !uids["5002 5002 5002 5002"] {
		t.Errorf("engine uids %v", uids)
	}
	if c, _, err := open(); err == nil {
		c.Close()
		t.Errorf("a fourth engine started with a pool of 3")
	}
	waitLog(t, s, `tlsd: fatal: exit conn=\d+ ip=127\.0\.0\.1 port=\d+ status=111 err="unable to find a free engine uid in 5000..5002: all in use"`)
	waitLog(t, s, `info: end conn=\d+ ip=\S+ port=\d+ status=111 `)
	conns[1].Close()
	if !waitFor(hangLimit, func() bool {
		c, _, err := open()
		if err == nil {
			c.Close()
		}
		return err == nil
	}) {
		t.Errorf("the freed slot was not reused; stderr %s", s.Stderr)
	}
}

// appUCSPITLS is a delayed-mode app (bash: the fds are above 9, which
// dash cannot redirect): a cleartext greeting on the raw
// connection, then 'Y', the report and hello inside TLS.
const appUCSPITLS = `echo plain-greeting
printf Y >&$SSLCTLFD
tr '\0' '\n' <&$SSLCTLFD >&$SSLWRITEFD
echo hello >&$SSLWRITEFD
env | grep '^SSL.*FD=' >&$SSLWRITEFD`

// TestTLSDDelayed: tlsd -n execs the app at once with the raw connection
// and the UCSPI-TLS fds; the app's 'Y' starts TLS and gets the report;
// the key stays out of the engine (a key holder signs).
func TestTLSDDelayed(t *testing.T) {
	dir := certDir(t)
	mark := "TLSD_TEST_MARK=" + strconv.FormatInt(time.Now().UnixNano(), 10)
	s := tlsdServe(t, tlsdEnv(dir, mark), "-n", "bash", "-c", appUCSPITLS)
	raw, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	greeting := make([]byte, len("plain-greeting\n"))
	if _, err := io.ReadFull(raw, greeting); err != nil || string(greeting) != "plain-greeting\n" {
		t.Fatalf("cleartext greeting %q %v", greeting, err)
	}
	c := tls.Client(raw, localhostTLS(t))
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("TLS after the greeting: %v (got %q); stderr %s", err, out, s.Stderr)
	}
	m := envMap(string(out))
	if m["SSL_PROTOCOL"] != "TLSv1.3" || m["SSL_TLS_SNI_SERVERNAME"] != "localhost" || !strings.Contains(string(out), "\nhello\n") {
		t.Errorf("report and data:\n%s", out)
	}
	for _, k := range []string{"SSLCTLFD", "SSLREADFD", "SSLWRITEFD"} {
		if _, err := strconv.Atoi(m[k]); err != nil {
			t.Errorf("%s = %q", k, m[k])
		}
	}
	if code := endCode(t, s); code != 0 {
		t.Errorf("exit %d; stderr %s", code, s.Stderr)
	}
	noKeyHolder(t, mark)
}

// noKeyHolder waits until no key holder with mark in its environment is
// left: it must end with its engine.
func noKeyHolder(t *testing.T, mark string) {
	t.Helper()
	left := func() []string {
		var pids []string
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			comm, err := os.ReadFile("/proc/" + d.Name() + "/comm")
			if err != nil || string(comm) != "tlskeyholder\n" {
				continue
			}
			env, _ := os.ReadFile("/proc/" + d.Name() + "/environ")
			if strings.Contains(string(env), mark+"\x00") {
				pids = append(pids, d.Name())
			}
		}
		return pids
	}
	if !waitFor(hangLimit, func() bool { return len(left()) == 0 }) {
		t.Errorf("key holders still running: %v", left())
	}
}

// TestTLSDDelayedDecline: an app that closes SSLCTLFD without a command
// keeps its cleartext session; the engine (and the key holder) go away
// without touching the connection.
func TestTLSDDelayedDecline(t *testing.T) {
	dir := certDir(t)
	app := `eval "exec $SSLCTLFD>&-"; echo plain; exec cat`
	mark := "TLSD_TEST_MARK=" + strconv.FormatInt(time.Now().UnixNano(), 10)
	s := tlsdServe(t, tlsdEnv(dir, mark), "-n", "bash", "-c", app)
	out := dial(t, s.Addr, []byte("still plain\n"))
	if string(out) != "plain\nstill plain\n" {
		t.Errorf("got %q; stderr %s", out, s.Stderr)
	}
	if code := endCode(t, s); code != 0 {
		t.Errorf("exit %d", code)
	}
	if strings.Contains(s.Stderr.String(), "warning") || strings.Contains(s.Stderr.String(), "fatal") {
		t.Errorf("a decline logged a problem:\n%s", s.Stderr)
	}
	noKeyHolder(t, mark)
}

// TestTLSDDelayedMailfront: mailfront's starttls-ucspi plugin (written
// for ucspi-ssl's sslserver -n) works unchanged under tlsd -n.
func TestTLSDDelayedMailfront(t *testing.T) {
	need(t, "swaks", "/usr/sbin/mailfront")
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir, "UCSPITLS="), "-n", "/usr/sbin/mailfront", "smtp", "echo", "accept", "starttls-ucspi")
	r := run(t, os.Environ(), "", "swaks", "--server", s.Addr, "--tls", "--quit-after", "EHLO", "--tls-verify", "--tls-ca-path", dir+"/ca.crt", "--ehlo", "localhost")
	if r.Code != 0 || !strings.Contains(r.Stdout, "STARTTLS") || !strings.Contains(r.Stdout, "~> EHLO") {
		t.Errorf("swaks exit %d:\n%s\n%s\nserver: %s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
}

// TestTLSDOptions: ALPN, minimum version, OCSP stapling and the idle
// limit reach the engine and do what their doc says.
func TestTLSDOptions(t *testing.T) {
	dir := certDir(t)
	t.Run("alpn", func(t *testing.T) {
		s := tlsdServe(t, tlsdEnv(dir), "-a", "h2,http/1.1", "sh", "-c", "echo ALPN=$SSL_ALPN")
		cfg := localhostTLS(t)
		cfg.NextProtos = []string{"http/1.1"}
		out, st, err := tlsDial(t, s.Addr, cfg, nil)
		if err != nil || string(out) != "ALPN=http/1.1\n" || st.NegotiatedProtocol != "http/1.1" {
			t.Errorf("%q %v", out, err)
		}
		cfg.NextProtos = []string{"smtp"}
		if _, _, err := tlsDial(t, s.Addr, cfg, nil); err == nil {
			t.Error("no common ALPN protocol, yet a session")
		}
	})
	t.Run("min version", func(t *testing.T) {
		s := tlsdServe(t, tlsdEnv(dir), "-m", "1.3", "sh", "-c", appHello)
		cfg := localhostTLS(t)
		cfg.MaxVersion = tls.VersionTLS12
		if _, _, err := tlsDial(t, s.Addr, cfg, nil); err == nil {
			t.Error("-m 1.3 accepted TLS 1.2")
		}
		if out, _, err := tlsDial(t, s.Addr, localhostTLS(t), nil); err != nil || string(out) != "hello\n" {
			t.Errorf("-m 1.3 with TLS 1.3: %q %v", out, err)
		}
	})
	t.Run("ocsp", func(t *testing.T) {
		need(t, "openssl")
		// A real OCSP response for the server certificate (serial 100).
		os.WriteFile(dir+"/index.txt", []byte("V\t301231000000Z\t\t64\tunknown\t/CN=localhost\n"), 0o644)
		r := run(t, os.Environ(), "", "openssl", "ocsp", "-index", dir+"/index.txt", "-rsigner", dir+"/ca.crt", "-rkey", dir+"/ca.key",
			"-CA", dir+"/ca.crt", "-issuer", dir+"/ca.crt", "-cert", dir+"/server.crt", "-respout", dir+"/ocsp.der", "-ndays", "1")
		if r.Code != 0 {
			t.Fatalf("openssl ocsp: %s", r.Stderr)
		}
		s := tlsdServe(t, tlsdEnv(dir), "-O", dir+"/ocsp.der", "sh", "-c", appHello)
		r = sClient(t, s.Addr, "-status", "-CAfile", dir+"/ca.crt")
		if !strings.Contains(r.Stdout, "OCSP Response Status: successful") || !strings.Contains(r.Stdout, "Cert Status: good") {
			t.Errorf("no stapled OCSP response:\n%s", r.Stdout)
		}
	})
	t.Run("idle", func(t *testing.T) {
		s := tlsdServe(t, tlsdEnv(dir), "-I", "1", "cat")
		c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(hangLimit))
		start := time.Now()
		_, err = io.ReadAll(c)
		if d := time.Since(start); d < 900*time.Millisecond || isTimeout(err) {
			t.Errorf("an idle session ended after %v with -I 1: %v", d, err)
		}
	})
}

// TestTLSDNotRoot: a tlsd that does not run as root runs the engine as its
// own uid and ignores TLS_UID (even 0).
func TestTLSDNotRoot(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	os.Chmod(dir+"/server.key", 0o644) // readable by the unprivileged tlsd
	os.Chmod(dir+"/..", 0o755)         // t.TempDir's parent is 0700
	env := tlsdEnv(dir, "TLS_UID=0", "TLS_GID=0")
	s := serve(t, env, "-u", "4000", "-g", "4000", "-c", "10", "127.0.0.1", "0", "tlsd", "sh", "-c", appEngine)
	c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
	if err != nil {
		t.Fatalf("%v; stderr %s", err, s.Stderr)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	out, _ := io.ReadAll(c)
	engine, app, _ := strings.Cut(string(out), "APP\n")
	if u := statusField(engine, "Uid"); u != "4000 4000 4000 4000" {
		t.Errorf("engine Uid %q:\n%s", u, out)
	}
	if u := statusField(app, "Uid"); u != "4000 4000 4000 4000" {
		t.Errorf("app Uid %q", u)
	}
}

// TestTLSDExitCodes: the codes of doc/tlsd.md that need a running chain.
func TestTLSDExitCodes(t *testing.T) {
	dir := certDir(t)
	t.Run("prog not found", func(t *testing.T) {
		s := tlsdServe(t, tlsdEnv(dir), "-v", "no-such-prog-tlschain")
		tlsDial(t, s.Addr, localhostTLS(t), nil)
		if code := endCode(t, s); code != 127 {
			t.Errorf("exit %d, want 127", code)
		}
		waitLog(t, s, `tlswrap: info: tls conn=\d+ ip=127\.0\.0\.1 port=\d+ version=TLSv1\.3 cipher=TLS_\w+ `)
		waitLog(t, s, `tlsd: fatal: exit conn=\d+ ip=127\.0\.0\.1 port=\d+ status=127 err="unable to find no-such-prog-tlschain: not found in PATH"`)
	})
	t.Run("engine not found", func(t *testing.T) {
		lone := t.TempDir()
		data, err := os.ReadFile(bin("tlsd"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(lone+"/tlsd", data, 0o755)
		env := []string{"PATH=/usr/bin:/bin", "CERTFILE=" + dir + "/server.crt", "KEYFILE=" + dir + "/server.key"}
		r := run(t, env, "", lone+"/tlsd", "true")
		if r.Code != 97 || !strings.Contains(r.Stderr, fatalErr(97, "unable to find tlswrap")) {
			t.Errorf("exit %d %q", r.Code, r.Stderr)
		}
	})
}

// TestCheck: tlsd --check and tlsc --check read what a connection would
// and exit with its code, starting nothing: 0 and no output for a good
// configuration, the connection's line and code for a bad one.
func TestCheck(t *testing.T) {
	needRoot(t) // -u, and the engine's TLS_UID
	dir := certDir(t)
	cases := []struct {
		name string
		env  []string
		prog string
		args []string
		code int
		out  string // in stderr ("" : stderr empty)
	}{
		{"tlsd good", tlsdEnv(dir, "TLS_UID=4321", "TLS_GID=4321"), "tlsd", []string{"-u", "65534", "-g", "65534", "cat"}, 0, ""},
		{"tlsd shared uid", tlsdEnv(dir), "tlsd", []string{"-u", "65534", "-g", "65534", "cat"}, 0, `tlsd: warning: check err="the app and the TLS engine both run as uid 65534`},
		{"tlsd no CERTFILE", baseEnv("KEYFILE=" + dir + "/server.key"), "tlsd", []string{"cat"}, 100, "tlsd: fatal: exit" + fatalErr(100, "CERTFILE not set")},
		{"tlsd key of another pair", baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+dir+"/other.key"), "tlsd", []string{"cat"}, 96, "tlsd: fatal: exit" + fatalErr(96, "unable to load CERTFILE")},
		{"tlsd -y without CAs", tlsdEnv(dir), "tlsd", []string{"-y", "cat"}, 96, "CAFILE and CADIR not set"},
		{"tlsd prog not found", tlsdEnv(dir), "tlsd", []string{"no-such-prog"}, 127, "tlsd: fatal: exit" + fatalErr(127, "unable to find no-such-prog")},
		{"tlsd delayed", tlsdEnv(dir), "tlsd", []string{"-n", "ucspi-starttls", "smtp", "cat"}, 0, ""},
		{"tlsc good", baseEnv("CAFILE=" + dir + "/ca.crt"), "tlsc", []string{"-k", "localhost", "cat"}, 0, ""},
		{"tlsc CAFILE missing", baseEnv("CAFILE=" + dir + "/nonexistent"), "tlsc", []string{"-k", "localhost", "cat"}, 96, "tlsc: fatal: exit" + fatalErr(96, "unable to read CAFILE")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, tc.env, "", bin(tc.prog), append([]string{"--check"}, tc.args...)...)
			if r.Code != tc.code || r.Stdout != "" || (tc.out == "") != (r.Stderr == "") || !strings.Contains(r.Stderr, tc.out) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", r.Code, r.Stdout, r.Stderr, tc.code, tc.out)
			}
		})
	}
}

// TestTLSDAppClosesOutput: an app that has said all it will say (closed
// its output) but still reads keeps getting the peer's bytes, however
// late they come: the engine sends its FIN and goes on relaying toward
// the app; only once the app has gone does it give the peer 5 s to close.
// (The wait for the app to go once failed at once inside the jail — poll
// with RLIMIT_NOFILE 0 is EINVAL — and bytes sent after 5 s were lost.)
func TestTLSDAppClosesOutput(t *testing.T) {
	dir := certDir(t)
	got := t.TempDir() + "/got"
	s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", "echo hello; exec >&-; exec cat >"+got)
	c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	out, err := io.ReadAll(c)
	if string(out) != "hello\n" || err != nil {
		t.Fatalf("the app's output: %q, %v", out, err)
	}
	time.Sleep(6 * time.Second) // past the engine's 5 s linger
	if _, err := c.Write([]byte("late\n")); err != nil {
		t.Fatalf("write after 6 s: %v", err)
	}
	c.CloseWrite()
	if !waitFor(hangLimit, func() bool { b, _ := os.ReadFile(got); return string(b) == "late\n" }) {
		b, _ := os.ReadFile(got)
		t.Fatalf("the app got %q, want \"late\\n\"; log:\n%s", b, s.Stderr)
	}
}
