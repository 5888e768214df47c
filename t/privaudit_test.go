package t

// The privilege audit: during a live connection, every process of the
// chain as the kernel sees it (/proc/PID/status, fd, environ). Who is
// root, who holds the socket, the key file, the key paths; the engine's
// uid, groups, no_new_privs and fds. doc/design.md §3.3, doc/security.md.

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// paProc is one process of a chain under audit.
type paProc struct {
	role   string
	pid    int
	status map[string]string
	fds    map[int]string // fd -> readlink target
	env    []string
}

func paLook(role string, pid int) *paProc {
	p := &paProc{role: role, pid: pid, status: procStatus(pid), fds: map[int]string{}}
	dir := "/proc/" + strconv.Itoa(pid) + "/fd/"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		p.fds[n], _ = os.Readlink(dir + e.Name())
	}
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv != "" {
			p.env = append(p.env, kv)
		}
	}
	return p
}

// uid is the real uid; ids checks that real, effective, saved and fs ids
// are all equal.
func (p *paProc) uid() string { return strings.Fields(p.status["Uid"] + " ?")[0] }
func (p *paProc) gid() string { return strings.Fields(p.status["Gid"] + " ?")[0] }

func (p *paProc) idsEqual() bool {
	u, g := strings.Fields(p.status["Uid"]), strings.Fields(p.status["Gid"])
	return len(u) == 4 && len(g) == 4 && u[0] == u[1] && u[1] == u[2] && u[2] == u[3] && g[0] == g[1] && g[1] == g[2] && g[2] == g[3]
}

func (p *paProc) hasEnv(name string) bool {
	for _, kv := range p.env {
		if strings.HasPrefix(kv, name+"=") || strings.HasPrefix(kv, name+":") {
			return true
		}
	}
	return false
}

func (p *paProc) String() string {
	var fds []string
	for n, t := range p.fds {
		fds = append(fds, strconv.Itoa(n)+"="+t)
	}
	sort.Strings(fds)
	return p.role + " pid " + strconv.Itoa(p.pid) + " uid " + p.status["Uid"] + " gid " + p.status["Gid"] +
		" groups [" + p.status["Groups"] + "] nnp " + p.status["NoNewPrivs"] + " capeff " + p.status["CapEff"] + " fds " + strings.Join(fds, " ")
}

// paTCPSockets returns the "socket:[inode]" names of every TCP socket
// (/proc/net/tcp, tcp6) that is connected to port (either end).
func paTCPSockets(port int) map[string]bool {
	hex := strings.ToUpper(strconv.FormatInt(int64(port), 16))
	for len(hex) < 4 {
		hex = "0" + hex
	}
	out := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(b), "\n")[1:] {
			x := strings.Fields(l)
			if len(x) < 10 || x[3] == "0A" { // 0A: LISTEN
				continue
			}
			if strings.HasSuffix(x[1], ":"+hex) || strings.HasSuffix(x[2], ":"+hex) {
				out["socket:["+x[9]+"]"] = true
			}
		}
	}
	return out
}

// paDescendants returns the live descendants of pid with their comm.
func paDescendants(pid int) []flProc {
	all := flProcs()
	var out []flProc
	want := map[int]bool{pid: true}
	for changed := true; changed; {
		changed = false
		for _, p := range all {
			if want[p.ppid] && !want[p.pid] && p.state != 'Z' {
				want[p.pid] = true
				out = append(out, p)
				changed = true
			}
		}
	}
	return out
}

// paAudit holds the checks every chain shares.
type paAudit struct {
	t       *testing.T
	procs   []*paProc
	keyFile string
	port    int // the connection's server port
}

func (a *paAudit) dump() string {
	var b strings.Builder
	for _, p := range a.procs {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

// check runs the shared assertions: only the roles in rootOK are root;
// nobody but the roles in keyOK has the key file open or the key and
// uid variables in its environment; only sockOK roles hold the
// connection's socket; every non-root process has its four ids equal,
// no capabilities and no group but its own.
func (a *paAudit) check(rootOK, keyOK, sockOK map[string]bool) {
	t := a.t
	t.Helper()
	socks := paTCPSockets(a.port)
	for _, p := range a.procs {
		if p.uid() == "0" && !rootOK[p.role] {
			t.Errorf("%s runs as root:%s", p.role, a.dump())
		}
		if p.uid() != "0" {
			if !p.idsEqual() {
				t.Errorf("%s: real, effective, saved and fs ids differ: %s", p.role, p)
			}
			if p.status["CapEff"] != "0000000000000000" || p.status["CapPrm"] != "0000000000000000" {
				t.Errorf("%s holds capabilities: %s", p.role, p)
			}
			for _, g := range strings.Fields(p.status["Groups"]) {
				if g != p.gid() {
					t.Errorf("%s has supplementary group %s beyond its own: %s", p.role, g, p)
				}
			}
		}
		for n, target := range p.fds {
			if target == a.keyFile && !keyOK[p.role] {
				t.Errorf("%s holds the key file open on fd %d", p.role, n)
			}
			if socks[target] && !sockOK[p.role] {
				t.Errorf("%s holds the connection's socket on fd %d", p.role, n)
			}
		}
		if !keyOK[p.role] && p.role != "listener" {
			for _, v := range []string{"CERTFILE", "KEYFILE", "TLS_UID", "TLS_GID", "CAFILE", "TLS_TICKETKEYS"} {
				if p.hasEnv(v) {
					t.Errorf("%s has %s in its environment", p.role, v)
				}
			}
		}
	}
}

// engine asserts the engine's documented state after the handshake: not
// root, no_new_privs, not dumpable (ptrace-proof: checked via its uid's
// view being irrelevant here), fds 0-4 only (5 and 6 closed after the
// handshake), beyond them only the runtime's anonymous inodes, and an
// environment of CONNPID, TCPREMOTEIP, TCPREMOTEPORT, GOMAXPROCS.
func (a *paAudit) engine(e *paProc, appUID string) {
	t := a.t
	t.Helper()
	// Groups: none, or its own gid alone (tlsspawn sets [gid]).
	if e.uid() == "0" || e.gid() == "0" || e.status["NoNewPrivs"] != "1" || (e.status["Groups"] != "" && e.status["Groups"] != e.gid()) {
		t.Errorf("engine identity: %s", e)
	}
	if e.uid() == appUID {
		t.Errorf("engine and app share uid %s", appUID)
	}
	// Where the kernel has Landlock, the spawner starts the engine inside
	// its jail, and says so with --confined.
	if abi, _, _ := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); int(abi) > 0 {
		argv, _ := os.ReadFile("/proc/" + strconv.Itoa(e.pid) + "/cmdline")
		if !strings.Contains(string(argv)+"\x00", "\x00--confined\x00") {
			t.Errorf("engine not started confined: %q", argv)
		}
	}
	// Under its seccomp filter (pkg/seccomp) on every thread: mode 2,
	// one filter.
	if e.status["Seccomp"] != "2" || e.status["Seccomp_filters"] != "1" {
		t.Errorf("engine not under its seccomp filter: Seccomp %q, Seccomp_filters %q", e.status["Seccomp"], e.status["Seccomp_filters"])
	}
	// Every thread sleeps with the engine's timer slack (tlsspawn).
	for _, tid := range paThreads(e.pid) {
		if slack := paSlack(tid); slack != engineSlack {
			t.Errorf("engine thread %d has timer slack %s ns, want %s", tid, slack, engineSlack)
		}
	}
	socks := paTCPSockets(a.port)
	for n, target := range e.fds {
		switch {
		case n == 0 || n == 1:
			if !socks[target] {
				t.Errorf("engine fd %d is %s, not the connection", n, target)
			}
		case n == 2:
		case n == 3 || n == 4:
			if !strings.HasPrefix(target, "pipe:") {
				t.Errorf("engine fd %d is %s, not a pipe", n, target)
			}
		case strings.HasPrefix(target, "anon_inode:"):
		default:
			t.Errorf("engine holds fd %d = %s", n, target)
		}
	}
	for _, kv := range e.env {
		k, _, _ := strings.Cut(kv, "=")
		if k != "CONNPID" && k != "TCPREMOTEIP" && k != "TCPREMOTEPORT" && k != "GOMAXPROCS" && k != "GOCOVERDIR" {
			t.Errorf("engine environment has %s", k)
		}
	}
}

// engineSlack is the timer slack the spawner gives engines, in ns.
const engineSlack = "20000000"

// paThreads lists the thread ids of pid.
func paThreads(pid int) []int {
	ents, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	var tids []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, n)
		}
	}
	return tids
}

// paSlack reads a thread's timer slack in ns.
func paSlack(tid int) string {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/timerslack_ns")
	return strings.TrimSpace(string(b))
}

// TestPrivAuditImmediate: tcpserver … tlsd -u 65534 -g 65534 app and
// tlsserver -u 65534 -g 65534 … app, with TLS_UID 4321. Root: only the
// listener (tlsd has exec'd the app; tlsserver keeps the key). The app
// never holds the socket; the engine never holds the key.
func TestPrivAuditImmediate(t *testing.T) {
	needRoot(t)
	for _, mode := range ipModes {
		t.Run(mode.name, func(t *testing.T) { paImmediate(t, mode.inProcess) })
	}
}

// paImmediate is TestPrivAuditImmediate for one of ipModes.
func paImmediate(t *testing.T, inProcess bool) {
	dir := certDir(t)
	keyFile := dir + "/server.key"
	s := ipServe(t, tlsdEnv(dir, "TLS_UID=4321", "TLS_GID=4321"), inProcess, nil, "tlsd", "-u", "65534", "-g", "65534", "sh", "-c", "echo $$; exec cat")
	c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	l, _ := bufio.NewReader(c).ReadString('\n')
	appPID, err := strconv.Atoi(strings.TrimSpace(l))
	if err != nil {
		t.Fatalf("app said %q", l)
	}
	engPID := flEngine(t, appPID)
	// sh execs cat after the echo: during the exec the app's
	// /proc/PID/environ reads empty (the new image's comm is set before
	// its environment is).
	waitFor(10*time.Second, func() bool {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(appPID) + "/comm")
		env, _ := os.ReadFile("/proc/" + strconv.Itoa(appPID) + "/environ")
		return string(comm) == "cat\n" && len(env) > 0
	})
	// fds 5 and 6 close right after the report.
	waitFor(5*time.Second, func() bool { return !fileExists("/proc/" + strconv.Itoa(engPID) + "/fd/6") })
	a := &paAudit{t: t, keyFile: keyFile, port: s.Port}
	a.procs = []*paProc{paLook("listener", s.cmd.Process.Pid), paLook("app", appPID), paLook("engine", engPID)}
	// tlsserver keeps one engine started ahead for the next connection:
	// unprivileged like the others, no socket; tcpserver none.
	warm := 0
	for _, p := range paDescendants(s.cmd.Process.Pid) {
		switch {
		case p.pid == appPID || p.pid == engPID:
		case p.comm == "tlswrap" && p.ppid == s.cmd.Process.Pid:
			warm++
			a.procs = append(a.procs, paLook("warm engine", p.pid))
		default:
			a.procs = append(a.procs, paLook("other:"+p.comm, p.pid))
		}
	}
	t.Logf("chain:%s", a.dump())
	if len(a.procs) != 3+warm || warm > 1 || warm > 0 && !inProcess {
		t.Errorf("unexpected processes in the chain:%s", a.dump())
	}
	a.check(map[string]bool{"listener": true}, map[string]bool{}, map[string]bool{"engine": true})
	for _, p := range a.procs[3:] {
		if p.uid() != "4321" || p.status["NoNewPrivs"] != "1" || len(p.env) > 1 {
			t.Errorf("warm engine: %s", p)
		}
	}
	app := a.procs[1]
	if app.uid() != "65534" || app.gid() != "65534" || app.status["Groups"] != "" && app.status["Groups"] != "65534" {
		t.Errorf("app identity: %s", app)
	}
	if !strings.HasPrefix(app.fds[0], "pipe:") || !strings.HasPrefix(app.fds[1], "pipe:") {
		t.Errorf("app fds 0/1 are not the engine's pipes: %s", app)
	}
	if !app.hasEnv("SSL_PROTOCOL") {
		t.Errorf("app lacks SSL_PROTOCOL")
	}
	// The engine's timer slack is its own: the app does not get it. (Not
	// compared with the listener's main thread, which may be the spawning
	// thread, holding the engines' slack for a moment, when it is read.)
	if got := paSlack(appPID); got == engineSlack || got == "" {
		t.Errorf("app timer slack %q ns, the engine's is %s", got, engineSlack)
	}
	a.engine(a.procs[2], app.uid())
}

// TestPrivAuditDelayed: tcpserver … tlsd -n privdrop -u 65534 -g 65534
// ucspi-starttls smtp mailfront, TLS_UID 4321. In the cleartext phase the
// key holder (tlskeyholder, no network) is the only process with the key
// paths, and runs as the engine's uid once it has read the keys: the
// listener is the only root process. After STARTTLS the holder is gone,
// and the engine alone holds the socket.
func TestPrivAuditDelayed(t *testing.T) {
	needRoot(t)
	need(t, "/usr/sbin/mailfront")
	dir := certDir(t)
	keyFile := dir + "/server.key"
	s := serve(t, tlsdEnv(dir, "UCSPITLS=", "TLS_UID=4321", "TLS_GID=4321"), "-c", "5", "127.0.0.1", "0",
		"tlsd", "-n", "privdrop", "-u", "65534", "-g", "65534", "ucspi-starttls", "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")
	m, _ := flDialSMTP(t, s.Addr)
	m.reply()
	m.cmd("EHLO client.test")
	us := flChild(t, s.cmd.Process.Pid, "ucspi-starttls")
	look := func() *paAudit {
		a := &paAudit{t: t, keyFile: keyFile, port: s.Port}
		a.procs = []*paProc{paLook("listener", s.cmd.Process.Pid), paLook("ucspi-starttls", us)}
		for _, p := range paDescendants(s.cmd.Process.Pid) {
			if p.pid == us {
				continue
			}
			role := "other:" + p.comm
			switch {
			case p.comm == "tlswrap":
				role = "engine"
			case p.comm == "mailfront":
				role = "app"
			case p.comm == "tlskeyholder":
				role = "key holder"
			}
			a.procs = append(a.procs, paLook(role, p.pid))
		}
		return a
	}
	byRole := func(a *paAudit, role string) *paProc {
		for _, p := range a.procs {
			if p.role == role {
				return p
			}
		}
		return nil
	}

	t.Run("cleartext", func(t *testing.T) {
		// The holder reads the keys as root, then drops to the engine's ids.
		var a *paAudit
		waitFor(10*time.Second, func() bool {
			a = look()
			kh := byRole(a, "key holder")
			return kh != nil && kh.uid() != "0"
		})
		a.t = t
		t.Logf("chain:%s", a.dump())
		for _, r := range []string{"engine", "app", "key holder"} {
			if byRole(a, r) == nil {
				t.Fatalf("no %s in the chain:%s", r, a.dump())
			}
		}
		a.check(map[string]bool{"listener": true},
			map[string]bool{"key holder": true},
			map[string]bool{"engine": true, "ucspi-starttls": true})
		kh := byRole(a, "key holder")
		if kh.uid() != "4321" || kh.gid() != "4321" || kh.status["NoNewPrivs"] != "1" || kh.status["Seccomp"] != "2" {
			t.Errorf("key holder: want the engine's uid and gid 4321, no_new_privs, its seccomp filter: %s", kh)
		}
		for n, target := range kh.fds {
			// The Go runtime (1.25+) keeps the cgroup CPU quota files
			// open for its container-aware GOMAXPROCS: read-only,
			// close-on-exec.
			if n > 2 && !strings.HasPrefix(target, "socket:") && !strings.HasPrefix(target, "anon_inode:") && !strings.HasPrefix(target, "/sys/fs/cgroup/") {
				t.Errorf("key holder holds fd %d = %s", n, target)
			}
		}
		if app, us := byRole(a, "app"), byRole(a, "ucspi-starttls"); app.uid() != "65534" || us.uid() != "65534" {
			t.Errorf("app or ucspi-starttls not dropped:%s", a.dump())
		}
		if e := byRole(a, "engine"); e.uid() == "0" || e.status["NoNewPrivs"] != "1" || (e.status["Groups"] != "" && e.status["Groups"] != e.gid()) {
			t.Errorf("engine identity: %s", e)
		}
	})
	t.Run("tls", func(t *testing.T) {
		m.starttls()
		if r := m.cmd("EHLO client.test"); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("EHLO in TLS: %q", r)
		}
		var a *paAudit
		waitFor(5*time.Second, func() bool { a = look(); return byRole(a, "key holder") == nil })
		a.t = t
		t.Logf("chain:%s", a.dump())
		if byRole(a, "key holder") != nil {
			t.Errorf("the key holder outlived the handshake")
		}
		app, e := byRole(a, "app"), byRole(a, "engine")
		if app == nil || e == nil {
			t.Fatalf("no app or engine:%s", a.dump())
		}
		a.check(map[string]bool{"listener": true}, map[string]bool{}, map[string]bool{"engine": true})
		a.engine(e, app.uid())
		if !app.hasEnv("SSL_PROTOCOL") || app.hasEnv("UCSPITLS") {
			t.Errorf("fresh app environment: %v", app.env)
		}
	})
}

// TestPrivAuditClient: tcpclient … tlsc -k localhost app against a TLS
// server. The engine is not root, has no groups, no_new_privs, the
// documented fds; the app (root here: the chain has no privdrop) holds
// pipes, not the socket, and no CA or uid variables.
func TestPrivAuditClient(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	cert, err := tls.LoadX509KeyPair(dir+"/server.crt", dir+"/server.key")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	type got struct {
		c   net.Conn
		pid int
	}
	ch := make(chan got, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- got{}
			return
		}
		c.SetDeadline(time.Now().Add(20 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		pid, _ := strconv.Atoi(strings.TrimSpace(l))
		ch <- got{c, pid}
	}()
	env := baseEnv("CAFILE="+dir+"/ca.crt", "TLS_UID=4321", "TLS_GID=4321")
	cl := paStart(t, env, bin("tcpclient"), "127.0.0.1", strconv.Itoa(port), "tlsc", "-k", "localhost", "sh", "-c", "echo $$ >&7; exec cat <&6 >/dev/null")
	var g got
	select {
	case g = <-ch:
	case <-time.After(hangLimit):
		t.Fatalf("the client chain did not connect; stderr %s", cl.stderr)
	}
	if g.c == nil || g.pid == 0 {
		t.Fatalf("no pid from the client app; stderr %s", cl.stderr)
	}
	defer g.c.Close()
	engPID := flChild(t, g.pid, "tlswrap")
	waitFor(5*time.Second, func() bool { return !fileExists("/proc/" + strconv.Itoa(engPID) + "/fd/6") })
	// The connection's local port is the client's; audit by the server port.
	a := &paAudit{t: t, keyFile: dir + "/server.key", port: port}
	a.procs = []*paProc{paLook("app", g.pid), paLook("engine", engPID)}
	t.Logf("chain:%s", a.dump())
	a.check(map[string]bool{"app": true}, map[string]bool{}, map[string]bool{"engine": true})
	app := a.procs[0]
	if !strings.HasPrefix(app.fds[6], "pipe:") || !strings.HasPrefix(app.fds[7], "pipe:") {
		t.Errorf("app fds 6/7 are not the engine's pipes: %s", app)
	}
	a.engine(a.procs[1], app.uid())
	g.c.Close()
	cl.wait(t, hangLimit)
}

// paProcess is a program running in the background.
type paProcess struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

func paStart(t *testing.T, env []string, path string, args ...string) *paProcess {
	t.Helper()
	p := &paProcess{cmd: exec.Command(path, args...), stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env, p.cmd.Stderr = env, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

func (p *paProcess) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Errorf("%s still runs; stderr %s", p.cmd.Path, p.stderr)
	}
}

// TestPrivAuditAppDone: once the app has closed its output (the engine
// has sent its FIN and watches for the app to go), the engine still holds
// no fd beyond its own: it watches fd 4 itself in the runtime's poller,
// not a copy of it.
func TestPrivAuditAppDone(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir, "TLS_UID=4321", "TLS_GID=4321"), "-u", "65534", "-g", "65534", "sh", "-c", "echo $$; exec >&-; exec cat >/dev/null")
	c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	rd := bufio.NewReader(c)
	l, _ := rd.ReadString('\n')
	appPID, err := strconv.Atoi(strings.TrimSpace(l))
	if err != nil {
		t.Fatalf("app said %q", l)
	}
	// The app's end of output reaches us as the engine's FIN.
	if b, err := rd.ReadByte(); err != io.EOF {
		t.Fatalf("after the app closed its output: %q, %v", b, err)
	}
	engPID := flEngine(t, appPID)
	// The watch starts right after the FIN; give it a moment.
	time.Sleep(100 * time.Millisecond)
	a := &paAudit{t: t, keyFile: dir + "/server.key", port: s.Port}
	e := paLook("engine", engPID)
	a.procs = []*paProc{e}
	a.engine(e, "65534")
	// The session goes on: the client's bytes still reach the app.
	if _, err := c.Write([]byte("more\n")); err != nil {
		t.Fatalf("write after the app's EOF: %v", err)
	}
}
