package t

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tccConn is what a test listener saw of one connection.
type tccConn struct {
	Data   string // everything the client wrote until EOF
	Remote *net.TCPAddr
}

// tccListen listens on addr ("127.0.0.1:0", "[::1]:0"), greets the first
// client with "hello\n" and reports everything it writes until EOF.
func tccListen(t *testing.T, network, addr string) (port int, got <-chan tccConn) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan tccConn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		c.Write([]byte("hello\n"))
		b, _ := io.ReadAll(c)
		ch <- tccConn{string(b), c.RemoteAddr().(*net.TCPAddr)}
	}()
	return ln.Addr().(*net.TCPAddr).Port, ch
}

func tccWait(t *testing.T, got <-chan tccConn) tccConn {
	t.Helper()
	select {
	case c := <-got:
		return c
	case <-time.After(hangLimit):
		t.Fatal("the listener saw no connection")
	}
	return tccConn{}
}

// tccRun runs a program like run, with extra inherited fds from 3 up.
func tccRun(t *testing.T, env []string, extra []*os.File, path string, args ...string) (result, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.ExtraFiles = extra
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %s: %v", path, err)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in %v; stderr: %s", path, hangLimit, se.String())
	}
	checkLog(t, path, se.String())
	return result{so.String(), se.String(), code}, took
}

// The app gets the socket on fd 6 (read) and 7 (write), blocking, no other
// fd from tcpclient's parent, and exactly the TCP* variables of this
// connection; stale ones from an earlier hop are removed.
func TestTcpclientEnvironmentAndFDs(t *testing.T) {
	port, got := tccListen(t, "tcp", "127.0.0.1:0")
	// Inherited fds 3..7, none close-on-exec: none may reach the app
	// except 6 and 7 replaced by the socket.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	extra := []*os.File{r, w, r, w, r}
	env := baseEnv("TCPREMOTEINFO=stale", "TCPREMOTEHOST=stale", "TCPLOCALHOST=stale", "TCPCONNNUM=9", "PROTO=SSL", "KEEP=me")
	script := `read greeting <&6; echo "greeting=$greeting" >&7; env >&7; echo ---fds >&7; ` +
		`echo ---links >&7; for f in 6 7; do readlink /proc/$$/fd/$f >&7; done; echo ---info >&7; cat /proc/$$/fdinfo/6 >&7`
	res, _ := tccRun(t, env, extra, bin("tcpclient"), "127.0.0.1", strconv.Itoa(port), "sh", "-c", script)
	if res.Code != 0 || res.Stderr != "" {
		t.Fatalf("exit %d, stderr %q", res.Code, res.Stderr)
	}
	c := tccWait(t, got)
	parts := strings.SplitN(c.Data, "---fds\n", 2)
	if len(parts) != 2 {
		t.Fatalf("app output: %q", c.Data)
	}
	if !strings.HasPrefix(parts[0], "greeting=hello\n") {
		t.Errorf("the app did not read the server's greeting on fd 6: %q", parts[0])
	}
	m := envMap(parts[0])
	want := map[string]string{
		"PROTO":         "TCP",
		"TCPLOCALIP":    "127.0.0.1",
		"TCPLOCALPORT":  strconv.Itoa(c.Remote.Port),
		"TCPREMOTEIP":   "127.0.0.1",
		"TCPREMOTEPORT": strconv.Itoa(port),
		"KEEP":          "me",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s=%q, want %q", k, m[k], v)
		}
	}
	for _, k := range []string{"TCPREMOTEINFO", "TCPREMOTEHOST", "TCPLOCALHOST", "TCPCONNNUM"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s=%q is set, want it removed", k, v)
		}
	}
	rest := strings.SplitN(parts[1], "---links\n", 2)
	links := strings.SplitN(rest[1], "---info\n", 2)
	l := lines(links[0])
	if len(l) != 2 || !strings.HasPrefix(l[0], "socket:[") || l[0] != l[1] {
		t.Errorf("fd 6 and 7 are %q, want the same socket", l)
	}
	for _, line := range lines(links[1]) {
		if f, ok := strings.CutPrefix(line, "flags:"); ok {
			flags, err := strconv.ParseInt(strings.TrimSpace(f), 8, 64)
			if err != nil || flags&syscall.O_NONBLOCK != 0 {
				t.Errorf("fd 6 flags %q: O_NONBLOCK set or unreadable", f)
			}
		}
	}
}

// Only 0, 1, 2, 6 and 7 reach the app. ls itself runs as the app (a shell
// keeps saved copies of fds around redirections); its own directory fd
// takes the lowest free number, 3.
func TestTcpclientNoFDLeak(t *testing.T) {
	port, got := tccListen(t, "tcp", "127.0.0.1:0")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	extra := []*os.File{r, w, r, w, r, w, r, w} // fds 3..10
	res, _ := tccRun(t, baseEnv(), extra, bin("tcpclient"), "127.0.0.1", strconv.Itoa(port), "ls", "/proc/self/fd")
	if res.Code != 0 {
		t.Fatalf("exit %d, stderr %q", res.Code, res.Stderr)
	}
	tccWait(t, got)
	fds := lines(res.Stdout)
	sort.Slice(fds, func(i, j int) bool { a, _ := strconv.Atoi(fds[i]); b, _ := strconv.Atoi(fds[j]); return a < b })
	if s := strings.Join(fds, " "); s != "0 1 2 3 6 7" {
		t.Errorf("the app's fds are %q, want 0 1 2 3 6 7 (3 is ls's own)", s)
	}
}

func TestTcpclientIPv6(t *testing.T) {
	port, got := tccListen(t, "tcp6", "[::1]:0")
	res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), "-6", "::1", strconv.Itoa(port),
		"sh", "-c", `echo "$PROTO $TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT" >&7`)
	if res.Code != 0 {
		t.Fatalf("exit %d, stderr %q", res.Code, res.Stderr)
	}
	c := tccWait(t, got)
	want := "TCP ::1 " + strconv.Itoa(port) + " ::1 " + strconv.Itoa(c.Remote.Port) + "\n"
	if c.Data != want {
		t.Errorf("app saw %q, want %q", c.Data, want)
	}
}

// A name with two addresses, the first refusing: tcpclient warns about
// the first and connects to the second. The name comes from a private
// /etc/hosts bind-mounted in a new mount namespace.
func TestTcpclientTriesEveryAddress(t *testing.T) {
	needRoot(t)
	need(t, "unshare", "mount")
	port, got := tccListen(t, "tcp4", "127.0.0.1:0")
	if c, err := net.DialTimeout("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)), time.Second); err == nil {
		c.Close()
		t.Skip("something listens on ::1 at the same port")
	}
	hosts := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(hosts, []byte("::1 twohost\n127.0.0.1 twohost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inNS := func(args ...string) result {
		argv := append([]string{"-m", "sh", "-c", `mount --bind "$0" /etc/hosts && exec "$@"`, hosts, bin("tcpclient")}, args...)
		res, _ := tccRun(t, baseEnv(), nil, "unshare", argv...)
		return res
	}
	p := strconv.Itoa(port)
	res := inNS("twohost", p, "sh", "-c", `echo "$TCPREMOTEIP" >&7`)
	if res.Code != 0 {
		t.Fatalf("exit %d, stderr %q", res.Code, res.Stderr)
	}
	if want := tccWarn("::1", p, "connection refused"); tccNorm(res.Stderr) != want {
		t.Errorf("stderr %q, want %q", res.Stderr, want)
	}
	if c := tccWait(t, got); c.Data != "127.0.0.1\n" {
		t.Errorf("app saw TCPREMOTEIP %q", c.Data)
	}

	// -4 skips the IPv6 address: no warning.
	port2, got2 := tccListen(t, "tcp4", "127.0.0.1:0")
	res = inNS("-4", "twohost", strconv.Itoa(port2), "sh", "-c", `echo "$TCPREMOTEIP" >&7`)
	if res.Code != 0 || res.Stderr != "" {
		t.Errorf("-4: exit %d, stderr %q", res.Code, res.Stderr)
	}
	tccWait(t, got2)

	// -6 leaves only ::1, which refuses: 111.
	res = inNS("-6", "twohost", p, "true")
	want := tccWarn("::1", p, "connection refused") + fatalLine("tcpclient", 111, "unable to connect to twohost port "+p+": connection refused")
	if res.Code != 111 || tccNorm(res.Stderr) != want {
		t.Errorf("-6: exit %d, stderr %q, want 111, %q", res.Code, res.Stderr, want)
	}
}

// A listener whose accept queue is full drops SYNs, so a connect to it
// hangs: -T x+y gives every address x seconds, then y more to each one
// that timed out.
func TestTcpclientTimeout(t *testing.T) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	p := strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue until a connect hangs (bounded).
	full := false
	for i := 0; i < 8 && !full; i++ {
		c, err := net.DialTimeout("tcp4", "127.0.0.1:"+p, 300*time.Millisecond)
		if err != nil {
			full = true
			break
		}
		defer c.Close()
	}
	if !full {
		t.Skip("this kernel does not drop SYNs on a full accept queue")
	}
	warn := tccWarn("127.0.0.1", p, "connection timed out")
	fatal := fatalLine("tcpclient", 111, "unable to connect to 127.0.0.1 port "+p+": connection timed out")

	res, took := tccRun(t, baseEnv(), nil, bin("tcpclient"), "-T", "0.3+0", "127.0.0.1", p, "true")
	if res.Code != 111 || tccNorm(res.Stderr) != warn+fatal {
		t.Errorf("-T 0.3+0: exit %d, stderr %q", res.Code, res.Stderr)
	}
	// The upper bound tells -T from the kernel's own connect timeout
	// (about 2 minutes): a minute, no speed goal.
	if took < 300*time.Millisecond || took > time.Minute {
		t.Errorf("-T 0.3+0 took %v", took)
	}
	res, took = tccRun(t, baseEnv(), nil, bin("tcpclient"), "-T", "0.3+0.4", "127.0.0.1", p, "true")
	if res.Code != 111 || tccNorm(res.Stderr) != warn+warn+fatal {
		t.Errorf("-T 0.3+0.4: exit %d, stderr %q", res.Code, res.Stderr)
	}
	if took < 700*time.Millisecond || took > time.Minute {
		t.Errorf("-T 0.3+0.4 took %v", took)
	}
	// -q: the fatal line only.
	res, _ = tccRun(t, baseEnv(), nil, bin("tcpclient"), "-q", "-T", "0.2+0", "127.0.0.1", p, "true")
	if res.Code != 111 || res.Stderr != fatal {
		t.Errorf("-q: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// tccNorm is tcpclient's stderr with its pid, the conn= of its lines,
// made N.
func tccNorm(s string) string { return regexp.MustCompile(`conn=\d+ `).ReplaceAllString(s, "conn=N ") }

// tccWarn is tcpclient's warning about a failed connect to ip port p
// (after tccNorm).
func tccWarn(ip, p, err string) string {
	return "tcpclient: warning: connect conn=N ip=" + ip + " port=" + p + " err=\"" + err + "\"\n"
}

func TestTcpclientAllAddressesFail(t *testing.T) {
	p := strconv.Itoa(freePort(t, "tcp4", "127.0.0.1:0"))
	res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), "127.0.0.1", p, "true")
	want := tccWarn("127.0.0.1", p, "connection refused") + fatalLine("tcpclient", 111, "unable to connect to 127.0.0.1 port "+p+": connection refused")
	if res.Code != 111 || tccNorm(res.Stderr) != want {
		t.Errorf("exit %d, stderr %q, want 111, %q", res.Code, res.Stderr, want)
	}
	// Host 0 is 127.0.0.1.
	res, _ = tccRun(t, baseEnv(), nil, bin("tcpclient"), "0", p, "true")
	if res.Code != 111 || !strings.Contains(res.Stderr, " ip=127.0.0.1 port="+p+" ") {
		t.Errorf("host 0: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res, _ = tccRun(t, baseEnv(), nil, bin("tcpclient"), "nosuch.invalid", p, "true")
	if res.Code != 111 || res.Stderr != fatalLine("tcpclient", 111, "unable to resolve nosuch.invalid: no such host") {
		t.Errorf("unknown host: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

func TestTcpclientUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"127.0.0.1", "25"},
		{"-z", "127.0.0.1", "25", "true"},
		{"-T", "0", "127.0.0.1", "25", "true"},
		{"127.0.0.1", "0", "true"},
	} {
		res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), args...)
		if res.Code != 100 || !strings.Contains(res.Stderr, usageLine("tcpclient")) || !strings.Contains(res.Stderr, `usage="tcpclient [`) {
			t.Errorf("%q: exit %d, stderr %q", args, res.Code, res.Stderr)
		}
	}
	res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), "-6", "127.0.0.1", "25", "true")
	if res.Code != 100 || res.Stderr != fatalLine("tcpclient", 100, "unable to use 127.0.0.1: not an IPv6 address") {
		t.Errorf("-6 with an IPv4 address: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res, _ = tccRun(t, baseEnv(), nil, bin("tcpclient"), "-h")
	if res.Code != 0 || !strings.HasPrefix(res.Stdout, "usage: tcpclient [") {
		t.Errorf("-h: exit %d, stdout %q", res.Code, res.Stdout)
	}
}

func TestTcpclientProgNotFound(t *testing.T) {
	port, _ := tccListen(t, "tcp4", "127.0.0.1:0")
	res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), "127.0.0.1", strconv.Itoa(port), "no-such-program")
	if res.Code != 127 || !strings.Contains(res.Stderr, fatalErr(127, "unable to find no-such-program")) {
		t.Errorf("exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// -h looks TCPREMOTEHOST up (127.0.0.1 has a name in /etc/hosts); -l
// sets TCPLOCALHOST without a lookup.
func TestTcpclientNames(t *testing.T) {
	port, got := tccListen(t, "tcp4", "127.0.0.1:0")
	res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), "-h", "-l", "me.example", "127.0.0.1", strconv.Itoa(port),
		"sh", "-c", `env >&7`)
	if res.Code != 0 {
		t.Fatalf("exit %d, stderr %q", res.Code, res.Stderr)
	}
	m := envMap(tccWait(t, got).Data)
	if m["TCPLOCALHOST"] != "me.example" {
		t.Errorf("TCPLOCALHOST=%q", m["TCPLOCALHOST"])
	}
	if names, err := net.LookupAddr("127.0.0.1"); err == nil && len(names) > 0 {
		if want := strings.TrimSuffix(names[0], "."); m["TCPREMOTEHOST"] != want {
			t.Errorf("TCPREMOTEHOST=%q, want %q", m["TCPREMOTEHOST"], want)
		}
	}
}

// -p binds a privileged local port, then -u drops to nobody before prog.
func TestTcpclientPrivilegedPortThenDrop(t *testing.T) {
	needRoot(t)
	port, got := tccListen(t, "tcp4", "127.0.0.1:0")
	local := 0
	for p := 600; p < 1000; p++ { // a free port below 1024
		ln, err := net.Listen("tcp4", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			ln.Close()
			local = p
			break
		}
	}
	if local == 0 {
		t.Skip("no free port below 1024")
	}
	res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), "-i", "127.0.0.1", "-p", strconv.Itoa(local), "-u", "65534", "-g", "65534",
		"127.0.0.1", strconv.Itoa(port), "sh", "-c", `echo "$TCPLOCALPORT" >&7; grep -E '^(Uid|Gid|Groups):' /proc/$$/status >&7`)
	if res.Code != 0 {
		t.Fatalf("exit %d, stderr %q", res.Code, res.Stderr)
	}
	c := tccWait(t, got)
	if c.Remote.Port != local {
		t.Errorf("server saw client port %d, want %d", c.Remote.Port, local)
	}
	want := strconv.Itoa(local) + "\nUid:\t65534\t65534\t65534\t65534\nGid:\t65534\t65534\t65534\t65534\nGroups:\t65534 \n"
	if c.Data != want {
		t.Errorf("app saw %q, want %q", c.Data, want)
	}
}

// With our tcpserver (when built): the server's TCPREMOTEPORT is the
// client's TCPLOCALPORT.
func TestTcpclientAgainstTcpserver(t *testing.T) {
	if _, err := os.Stat(bin("tcpserver")); err != nil {
		t.Skip("tcpserver is not built")
	}
	srv := serve(t, baseEnv(), "127.0.0.1", "0", "sh", "-c", `echo "$TCPREMOTEPORT"`)
	res, _ := tccRun(t, baseEnv(), nil, bin("tcpclient"), "127.0.0.1", strconv.Itoa(srv.Port),
		"sh", "-c", `read p <&6; [ "$p" = "$TCPLOCALPORT" ] && echo same || echo "server $p client $TCPLOCALPORT"`)
	if res.Code != 0 || res.Stdout != "same\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}
}
