package t

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"io"
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
)

// tsDial connects from local (nil: any) to addr, writes in, half-closes
// and returns what it reads and its own port.
func tsDial(t *testing.T, local net.Addr, addr string, in []byte) ([]byte, int) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: local}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go func() {
		if len(in) > 0 {
			c.Write(in)
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	out, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("read from %s: %v (got %q)", addr, err, out)
	}
	return out, c.LocalAddr().(*net.TCPAddr).Port
}

// waitLog waits until the server's stderr matches re.
func waitLog(t *testing.T, s *server, re string) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	var m string
	if !waitFor(hangLimit, func() bool { m = rx.FindString(s.Stderr.String()); return m != "" }) {
		t.Fatalf("no log line matching %q in:\n%s", re, s.Stderr)
	}
	return m
}

// exited waits for the server to exit and returns its exit code.
func exited(t *testing.T, s *server, d time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(d):
		t.Fatalf("tcpserver did not exit; stderr: %s", s.Stderr)
	}
	if s.err == nil {
		return 0
	}
	if ee, ok := s.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", s.err)
	return -1
}

// checkTCPEnv asserts the UCSPI variables of one connection.
func checkTCPEnv(t *testing.T, m map[string]string, localIP, remoteIP string, localPort, remotePort int) {
	t.Helper()
	want := map[string]string{
		"PROTO": "TCP", "TCPLOCALIP": localIP, "TCPLOCALPORT": strconv.Itoa(localPort),
		"TCPREMOTEIP": remoteIP, "TCPREMOTEPORT": strconv.Itoa(remotePort), "TCPCONNNUM": "0",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s=%q, want %q", k, m[k], v)
		}
	}
	for _, k := range []string{"TCPREMOTEHOST", "TCPREMOTEINFO", "TCPLOCALHOST", "TCP6REMOTEIP", "LISTEN_FDS", "LISTEN_PID"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s=%q is set", k, v)
		}
	}
}

// The environment the app sees, per address family, with stale values from
// tcpserver's own environment removed.
func TestTCPServerEnv(t *testing.T) {
	env := baseEnv("TCPREMOTEHOST=stale.example", "TCPREMOTEINFO=stale", "TCPLOCALHOST=stale", "TCP6REMOTEIP=::9")
	for _, tc := range []struct {
		name, host, dialHost, local, remote string
	}{
		{"ipv4", "127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.1"},
		{"ipv6", "::1", "::1", "::1", "::1"},
		{"dual stack :: with an IPv4 client", "::", "127.0.0.1", "127.0.0.1", "127.0.0.1"},
		{"0.0.0.0 gives the connection's TCPLOCALIP", "0.0.0.0", "127.0.0.1", "127.0.0.1", "127.0.0.1"},
		{"host 0 is 0.0.0.0", "0", "127.0.0.1", "127.0.0.1", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := serve(t, env, tc.host, "0", "env")
			out, cport := tsDial(t, nil, net.JoinHostPort(tc.dialHost, strconv.Itoa(s.Port)), nil)
			checkTCPEnv(t, envMap(string(out)), tc.local, tc.remote, s.Port, cport)
			waitLog(t, s, `tcpserver: info: end conn=\d+ ip=\S+ port=\d+ status=0 duration=[0-9.]+ count=0/40\n`)
			if !strings.Contains(s.Stderr.String(), "tcpserver: info: accept conn=") ||
				!strings.Contains(s.Stderr.String(), " ip="+tc.remote+" port="+strconv.Itoa(cport)+" count=1/40\n") {
				t.Errorf("no accept line in:\n%s", s.Stderr)
			}
		})
	}
}

// -l sets TCPLOCALHOST; -h looks the client up (127.0.0.1 is localhost in
// /etc/hosts), -p confirms the name, and =host rules match it.
func TestTCPServerNames(t *testing.T) {
	hosts, _ := os.ReadFile("/etc/hosts")
	if !regexp.MustCompile(`(?m)^127\.0\.0\.1\s+localhost\b`).Match(hosts) {
		t.Skip("/etc/hosts does not name 127.0.0.1 localhost")
	}
	cdb := filepath.Join(t.TempDir(), "rules.cdb")
	makeRules(t, cdb, "=localhost:allow,VIA=\"name\"\n")
	s := serve(t, baseEnv(), "-hp", "-x", cdb, "-l", "me.example", "127.0.0.1", "0", "env")
	m := envMap(string(dial(t, s.Addr, nil)))
	if m["TCPLOCALHOST"] != "me.example" || m["TCPREMOTEHOST"] != "localhost" || m["VIA"] != "name" {
		t.Errorf("TCPLOCALHOST=%q TCPREMOTEHOST=%q VIA=%q", m["TCPLOCALHOST"], m["TCPREMOTEHOST"], m["VIA"])
	}
}

// 10 MB each way through cat, with TCP half-close ending the input.
func TestTCPServerBulk(t *testing.T) {
	s := serve(t, baseEnv(), "127.0.0.1", "0", "cat")
	in := make([]byte, 10<<20)
	rand.Read(in)
	out := dial(t, s.Addr, in)
	if sha256.Sum256(out) != sha256.Sum256(in) {
		t.Fatalf("got %d bytes back, want the %d sent", len(out), len(in))
	}
}

// -c 2: never more than two children at once (they count themselves in a
// directory), the other clients wait in the backlog and are all served.
func TestTCPServerMaxConn(t *testing.T) {
	dir := t.TempDir()
	script := `touch "$D/$$"; n=$(ls "$D" | wc -l); sleep 0.3; rm "$D/$$"; echo "live $n"`
	s := serve(t, baseEnv("D="+dir), "-c", "2", "127.0.0.1", "0", "sh", "-c", script)
	var wg sync.WaitGroup
	outs := make([]string, 5)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i] = string(dial(t, s.Addr, nil))
		}()
	}
	wg.Wait()
	most := 0
	for i, o := range outs {
		var n int
		if _, err := fmtSscan(o, &n); err != nil {
			t.Fatalf("client %d got %q", i, o)
		}
		most = max(most, n)
	}
	if most > 2 {
		t.Errorf("%d children at once with -c 2", most)
	}
	waitLog(t, s, `(?s)(end conn=.*){5}`)
	for _, m := range regexp.MustCompile(`count=(\d+)/2`).FindAllStringSubmatch(s.Stderr.String(), -1) {
		if n, _ := strconv.Atoi(m[1]); n > 2 {
			t.Errorf("log shows count %s/2", m[1])
		}
	}
	if !strings.Contains(s.Stderr.String(), "count=2/2") {
		t.Errorf("never ran two at once:\n%s", s.Stderr)
	}
}

// fmtSscan reads "live N".
func fmtSscan(s string, n *int) (int, error) {
	v, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(s), "live "))
	*n = v
	return 1, err
}

// -C 1: a second connection from the same IP while the first runs is
// accepted, logged and closed; once the first ends, the next one runs.
func TestTCPServerMaxPerIP(t *testing.T) {
	s := serve(t, baseEnv(), "-C", "1", "127.0.0.1", "0", "sh", "-c", `echo "num $TCPCONNNUM"; exec cat`)
	first, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	first.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(first).ReadString('\n')
	if line != "num 0\n" {
		t.Fatalf("first connection got %q", line)
	}
	out, port := tsDial(t, nil, s.Addr, []byte("x"))
	if len(out) != 0 {
		t.Errorf("second connection got %q", out)
	}
	waitLog(t, s, `tcpserver: warning: reject conn=- ip=127.0.0.1 port=`+strconv.Itoa(port)+` perip=1/1\n`)
	first.Close()
	waitLog(t, s, `end conn=\d+ ip=\S+ port=\d+ status=0 duration=\S+ count=0/40`)
	if out := dial(t, s.Addr, nil); string(out) != "num 0\n" {
		t.Errorf("third connection got %q", out)
	}
}

// tcprules returns our tcprules if it is built, else Debian's (which must
// never be fed a line without ':').
func tcprules(t *testing.T) string {
	if p := bin("tcprules"); fileExists(p) {
		return p
	}
	need(t, "tcprules")
	p, _ := exec.LookPath("tcprules")
	return p
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// makeRules compiles text into cdb (replacing it atomically).
func makeRules(t *testing.T, cdb, text string) {
	t.Helper()
	r := run(t, baseEnv(), text, tcprules(t), cdb, cdb+".tmp")
	if r.Code != 0 {
		t.Fatalf("tcprules: %d %s", r.Code, r.Stderr)
	}
}

func local(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip)} }

// -x: allow with variables (a rule overrides TCP*), deny by address and by
// prefix, the banner before the rules, and a replaced file seen at once.
func TestTCPServerRules(t *testing.T) {
	cdb := filepath.Join(t.TempDir(), "rules.cdb")
	makeRules(t, cdb, "127.0.0.1:allow,FOO=\"bar\",TCPLOCALPORT=\"1\"\n127.0.0.2:deny\n127.0.0.:allow,PREFIX=\"yes\"\n:deny\n")
	s := serve(t, baseEnv(), "-B", "hi\r\n", "-x", cdb, "0.0.0.0", "0", "env")
	addr := s.Addr

	out, _ := tsDial(t, local("127.0.0.1"), addr, nil)
	body, ok := strings.CutPrefix(string(out), "hi\r\n")
	m := envMap(body)
	if !ok || m["FOO"] != "bar" || m["TCPLOCALPORT"] != "1" || m["PREFIX"] != "" {
		t.Errorf("127.0.0.1 got %q", out)
	}
	if strings.Count(body, "TCPLOCALPORT=") != 1 {
		t.Errorf("TCPLOCALPORT twice: %q", body)
	}

	out, port := tsDial(t, local("127.0.0.2"), addr, nil)
	if string(out) != "hi\r\n" {
		t.Errorf("denied client got %q, want the banner only", out)
	}
	waitLog(t, s, `tcpserver: info: deny conn=- ip=127.0.0.2 port=`+strconv.Itoa(port)+` rule=127\.0\.0\.2\n`)

	out, _ = tsDial(t, local("127.0.0.3"), addr, nil)
	if m := envMap(strings.TrimPrefix(string(out), "hi\r\n")); m["PREFIX"] != "yes" {
		t.Errorf("127.0.0.3 got %q", out)
	}

	// Replaced while running: the next connection sees the new rules.
	makeRules(t, cdb, "127.0.0.1:deny\n127.0.0.3:allow,NEW=\"1\"\n")
	out, port = tsDial(t, local("127.0.0.1"), addr, nil)
	if string(out) != "hi\r\n" {
		t.Errorf("127.0.0.1 after replace got %q", out)
	}
	waitLog(t, s, `deny conn=- ip=127.0.0.1 port=`+strconv.Itoa(port)+` rule=127\.0\.0\.1\n`)
	out, _ = tsDial(t, local("127.0.0.3"), addr, nil)
	if m := envMap(strings.TrimPrefix(string(out), "hi\r\n")); m["NEW"] != "1" || m["PREFIX"] != "" {
		t.Errorf("127.0.0.3 after replace got %q", out)
	}
}

// A corrupt or truncated database refuses connections with a clear line;
// a missing one refuses unless -X.
func TestTCPServerRulesBroken(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.cdb")
	makeRules(t, good, "127.0.0.1:allow,A=\"b\"\n")
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"short", []byte("not a cdb")},
		{"truncated", data[:2048+4]},
		{"bad pointers", append(bytes.Repeat([]byte{0xff}, 2048), data[2048:]...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cdb := filepath.Join(dir, tc.name+".cdb")
			os.WriteFile(cdb, tc.data, 0o644)
			s := serve(t, baseEnv(), "-X", "-x", cdb, "127.0.0.1", "0", "env")
			out, port := tsDial(t, nil, s.Addr, nil)
			if len(out) != 0 {
				t.Errorf("got %q from a corrupt database", out)
			}
			waitLog(t, s, `tcpserver: warning: drop conn=- ip=127\.0\.0\.1 port=`+strconv.Itoa(port)+` err="unable to read `+regexp.QuoteMeta(cdb)+`: .+"\n`)
		})
	}
	t.Run("missing", func(t *testing.T) {
		cdb := filepath.Join(dir, "none.cdb")
		s := serve(t, baseEnv(), "-x", cdb, "127.0.0.1", "0", "env")
		if out, _ := tsDial(t, nil, s.Addr, nil); len(out) != 0 {
			t.Errorf("got %q with a missing database", out)
		}
		waitLog(t, s, `warning: drop conn=- ip=127\.0\.0\.1 port=\d+ err="unable to read `+regexp.QuoteMeta(cdb)+`: file does not exist"\n`)
	})
	t.Run("missing with -X", func(t *testing.T) {
		s := serve(t, baseEnv(), "-X", "-x", filepath.Join(dir, "none.cdb"), "127.0.0.1", "0", "env")
		if m := envMap(string(dial(t, s.Addr, nil))); m["PROTO"] != "TCP" {
			t.Errorf("-X with a missing database did not allow")
		}
	})
}

// No fd leaks into the app, even one tcpserver inherited without
// close-on-exec; the app's fd 0 is blocking.
func TestTCPServerFDs(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "leak-marker")
	f, err := os.Create(marker)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := serveSetup(t, baseEnv(), func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f, f} },
		bin("tcpserver"), "-1", "127.0.0.1", "0", "sh", "-c", "ls -l /proc/self/fd; echo; cat /proc/self/fdinfo/0")
	out := string(dial(t, s.Addr, nil))
	list, fdinfo, _ := strings.Cut(out, "\n\n")
	fds := map[string]string{}
	for _, l := range lines(list) {
		f := strings.Fields(l)
		if len(f) >= 11 && f[len(f)-2] == "->" {
			fds[f[len(f)-3]] = f[len(f)-1]
		}
	}
	for fd, target := range fds {
		switch fd {
		case "0", "1":
			if !strings.HasPrefix(target, "socket:") {
				t.Errorf("fd %s -> %s, want the socket", fd, target)
			}
		case "2":
		default:
			if !regexp.MustCompile(`^/proc/\d+/fd$`).MatchString(target) {
				t.Errorf("fd %s -> %s leaked into the app", fd, target)
			}
		}
	}
	if len(fds) < 3 || len(fds) > 4 {
		t.Errorf("app fds %v", fds)
	}
	m := regexp.MustCompile(`(?m)^flags:\s+([0-7]+)$`).FindStringSubmatch(fdinfo)
	if m == nil {
		t.Fatalf("no flags in %q", fdinfo)
	}
	flags, _ := strconv.ParseUint(m[1], 8, 32)
	if flags&syscall.O_NONBLOCK != 0 {
		t.Errorf("fd 0 flags %s: O_NONBLOCK set", m[1])
	}
}

// -d 3: s6 readiness, a newline on fd 3 and then EOF, once listening.
func TestTCPServerReadiness(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s := serveSetup(t, baseEnv(), func(c *exec.Cmd) { c.ExtraFiles = []*os.File{w} },
		bin("tcpserver"), "-1", "-d", "3", "127.0.0.1", "0", "echo", "ok")
	w.Close()
	r.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "\n" {
		t.Fatalf("readiness fd gave %q, %v", got, err)
	}
	if out := dial(t, s.Addr, nil); string(out) != "ok\n" {
		t.Errorf("got %q", out)
	}
}

// listenerFile returns a listening socket on 127.0.0.1 as a file, and its
// port.
func listenerFile(t *testing.T) (*os.File, int) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l.Addr().(*net.TCPAddr).Port
}

// Socket activation: systemd's LISTEN_FDS/LISTEN_PID (fd 3) and a
// listening socket on fd 0 (s6-tcpserver-socketbinder), host and port
// omitted.
func TestTCPServerActivation(t *testing.T) {
	t.Run("LISTEN_FDS", func(t *testing.T) {
		f, port := listenerFile(t)
		s := serveSetup(t, baseEnv("LISTEN_FDS=1", "LISTEN_FDNAMES=x"), func(c *exec.Cmd) { c.ExtraFiles = []*os.File{f} },
			"/bin/sh", "-c", `LISTEN_PID=$$ exec "$@"`, "sh", bin("tcpserver"), "-1", "env")
		if s.Port != port {
			t.Errorf("-1 printed %d, the socket is on %d", s.Port, port)
		}
		out, cport := tsDial(t, nil, s.Addr, nil)
		checkTCPEnv(t, envMap(string(out)), "127.0.0.1", "127.0.0.1", port, cport)
		if strings.Contains(string(out), "LISTEN_") {
			t.Errorf("LISTEN_* passed on: %q", out)
		}
	})
	t.Run("fd 0", func(t *testing.T) {
		f, port := listenerFile(t)
		s := serveSetup(t, baseEnv(), func(c *exec.Cmd) { c.Stdin = f }, bin("tcpserver"), "-1", "env")
		if s.Port != port {
			t.Errorf("-1 printed %d, the socket is on %d", s.Port, port)
		}
		out, cport := tsDial(t, nil, s.Addr, nil)
		checkTCPEnv(t, envMap(string(out)), "127.0.0.1", "127.0.0.1", port, cport)
	})
	t.Run("LISTEN_PID of another process", func(t *testing.T) {
		r := run(t, baseEnv("LISTEN_FDS=1", "LISTEN_PID=1"), "", bin("tcpserver"), "env")
		if r.Code != 100 || !strings.Contains(r.Stderr, "tcpserver: fatal: usage status=100 ") {
			t.Errorf("exit %d, stderr %q", r.Code, r.Stderr)
		}
	})
}

// SIGTERM: the listener exits 0 at once, an open session runs to its end.
// The log goes to a file: the child holds tcpserver's stderr, and a pipe
// would keep exec.Cmd.Wait waiting for the session.
func TestTCPServerTerm(t *testing.T) {
	logf, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	s := serveSetup(t, baseEnv(), func(c *exec.Cmd) { c.Stderr = logf },
		bin("tcpserver"), "-1", "127.0.0.1", "0", "sh", "-c", `read x; echo "got $x"`)
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	logText := func() string { b, _ := os.ReadFile(logf.Name()); return string(b) }
	if !waitFor(hangLimit, func() bool { return strings.Contains(logText(), "accept conn=") }) {
		t.Fatalf("no accept line: %s", logText())
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if code := exited(t, s, 5*time.Second); code != 0 {
		t.Fatalf("exit %d after TERM", code)
	}
	if !strings.HasSuffix(logText(), "tcpserver: info: stop count=1/40\n") {
		t.Errorf("log: %s", logText())
	}
	if c2, err := net.DialTimeout("tcp", s.Addr, 2*time.Second); err == nil {
		c2.Close()
		t.Error("still accepting after TERM")
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte("hello\n"))
	out, _ := io.ReadAll(c)
	if string(out) != "got hello\n" {
		t.Errorf("session after TERM got %q", out)
	}
}

// -u -g drop the listener's privileges after bind.
func TestTCPServerPrivDrop(t *testing.T) {
	needRoot(t)
	s := serve(t, baseEnv(), "-u", "65534", "-g", "65534", "127.0.0.1", "0", "id")
	status, err := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "Gid:\t65534\t65534\t65534\t65534"} {
		if !strings.Contains(string(status), want+"\n") {
			t.Errorf("no %q in status:\n%s", want, status)
		}
	}
	if m := regexp.MustCompile(`(?m)^Groups:\s*(.*)$`).FindStringSubmatch(string(status)); m == nil || strings.TrimSpace(m[1]) != "65534" {
		t.Errorf("groups %q", m)
	}
	if out := string(dial(t, s.Addr, nil)); !strings.HasPrefix(out, "uid=65534") {
		t.Errorf("app runs as %q", out)
	}
}

// A missing prog is logged per connection; the listener keeps running.
func TestTCPServerProgMissing(t *testing.T) {
	s := serve(t, baseEnv(), "127.0.0.1", "0", "no-such-prog-tlschain")
	for i := 0; i < 2; i++ {
		if out := dial(t, s.Addr, nil); len(out) != 0 {
			t.Errorf("got %q", out)
		}
	}
	waitLog(t, s, `(?s)(tcpserver: warning: drop conn=- ip=127\.0\.0\.1 port=\d+ err="unable to find no-such-prog-tlschain: not found in PATH"\n.*){2}`)
}

// Bind failures are one fatal line and 111; bad command lines 100.
func TestTCPServerErrors(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	r := run(t, baseEnv(), "", bin("tcpserver"), "127.0.0.1", port, "true")
	if want := "tcpserver: fatal: exit status=111 err=\"unable to bind 127.0.0.1 port " + port + ": address already in use\"\n"; r.Code != 111 || r.Stderr != want {
		t.Errorf("used port: exit %d, stderr %q, want 111 %q", r.Code, r.Stderr, want)
	}
	for _, args := range [][]string{
		{}, {"-z", "0", "0", "true"}, {"-c"}, {"-c", "0", "0", "0", "true"}, {"0", "0"},
		{"0", "99999", "true"}, {"0", "no-such-service", "true"}, {"a b", "0", "true"},
		{"-d", "9", "0", "0", "true"}, {"-r", "0", "0", "true"}, {"-u", "no-such-user-x", "0", "0", "true"},
	} {
		r := run(t, baseEnv(), "", bin("tcpserver"), args...)
		if r.Code != 100 || !strings.Contains(r.Stderr, "tcpserver: fatal: usage status=100 ") || !strings.Contains(r.Stderr, ` usage="tcpserver `) {
			t.Errorf("%q: exit %d, stderr %q", args, r.Code, r.Stderr)
		}
	}
	r = run(t, baseEnv(), "", bin("tcpserver"), "--help")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "usage: tcpserver ") {
		t.Errorf("--help: exit %d, %q", r.Code, r.Stdout)
	}
}

// The doc's Synopsis is the usage line and every option of --help is in
// its Options section.
func TestTCPServerDoc(t *testing.T) {
	doc, err := os.ReadFile("../doc/tcpserver.md")
	if err != nil {
		t.Fatal(err)
	}
	r := run(t, baseEnv(), "", bin("tcpserver"), "--help")
	usage := strings.TrimPrefix(lines(r.Stdout)[0], "usage: ")
	if !strings.Contains(string(doc), "\n    "+usage+"\n") {
		t.Errorf("doc Synopsis is not %q", usage)
	}
	_, opts, _ := strings.Cut(string(doc), "\n## Options\n")
	opts, _, _ = strings.Cut(opts, "\n## ")
	for _, l := range lines(r.Stdout)[2:] {
		f := strings.Fields(l)
		if len(f) > 0 && !strings.Contains(opts, "`"+f[0]) {
			t.Errorf("option %s is not in doc/tcpserver.md's Options", f[0])
		}
	}
}
