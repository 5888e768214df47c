package t

// The engine as an attacker: t/hostile is a test double of tlswrap,
// installed as "tlswrap" beside the real programs, so that the real
// spawners (tlsserver doing tlsd's work, an exec'd tlsd, the delayed-mode
// key holder, tlsc) start it exactly as they start the real engine. Each
// test says what the attacker tries, and asserts on what it got (its
// "hostile:" lines) and on what the spawners did.

import (
	"bufio"
	"crypto/tls"
	"encoding/hex"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hostileDir returns a directory holding the hostile engine built for
// mode, as tlswrap, beside hard links to the real programs.
func hostileDir(t *testing.T, mode string, ldflags ...string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tlschain-hostile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the engine's uid must exec it
	for _, p := range []string{"tcpserver", "tlsserver", "tcpclient", "tlsd", "tlsc", "tlskeyholder", "ucspi-starttls"} {
		if err := os.Link(bin(p), filepath.Join(dir, p)); err != nil {
			b, err := os.ReadFile(bin(p))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, p), b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	flags := strings.Join(append([]string{"-s -w -X main.mode=" + mode}, ldflags...), " ")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags="+flags, "-o", filepath.Join(dir, "tlswrap"), "./hostile")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the hostile engine: %v\n%s", err, out)
	}
	return dir
}

// hostileEnv is tlsdEnv with the hostile directory first in PATH.
func hostileEnv(dir, certs string, extra ...string) []string {
	env := tlsdEnv(certs, extra...)
	env[0] = "PATH=" + dir + ":" + strings.TrimPrefix(env[0], "PATH=")
	return env
}

// hostileSaid returns the value after the last "hostile: key " in log,
// or "".
func hostileSaid(log, key string) string {
	v := ""
	for _, l := range lines(log) {
		if rest, ok := strings.CutPrefix(l, "hostile: "+key+" "); ok {
			v = rest
		}
	}
	return v
}

// hostileChain is one way a server starts the engine.
type hostileChain struct {
	name     string
	listener string   // tcpserver (then tlsd), or tlsserver
	tlsd     []string // tlsd's options
	delayed  bool     // the engine starts after SMTP STARTTLS
	holderOf string   // the program whose warning names the engine
}

var hostileServers = []hostileChain{
	{name: "tlsserver", listener: "tlsserver", holderOf: "tlsserver"},
	{name: "exec-tlsd", listener: "tcpserver", holderOf: "tlsd"},
	{name: "delayed", listener: "tcpserver", tlsd: []string{"-n"}, delayed: true, holderOf: "tlskeyholder"},
}

// start runs the chain with app (or ucspi-starttls smtp app, delayed)
// and returns the server.
func (c hostileChain) start(t *testing.T, env []string, app ...string) *server {
	t.Helper()
	args := []string{"-c", "10", "127.0.0.1", "0", "tlsd"}
	args = append(args, c.tlsd...)
	if c.listener == "tlsserver" {
		args = append(append([]string{}, c.tlsd...), "-c", "10", "127.0.0.1", "0")
	}
	if c.delayed {
		args = append(args, "ucspi-starttls", "smtp")
	}
	// The listener from the hostile directory: tlsserver spawns the
	// engine beside itself.
	path := strings.TrimPrefix(strings.SplitN(env[0], ":", 2)[0], "PATH=") + "/" + c.listener
	return serveProg(t, env, path, append([]string{"-1"}, append(args, app...)...)...)
}

// connect opens a connection that asks for TLS: at once, or after EHLO
// and STARTTLS in SMTP. The hostile engine does not shake hands; the
// connection only has to start it. It is closed at the test's end.
func (c hostileChain) connect(t *testing.T, s *server) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if !c.delayed {
		return
	}
	r := bufio.NewReader(conn)
	reply := func() string {
		var last string
		for i := 0; i < 20; i++ {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("SMTP: %v after %q; log:\n%s", err, last, s.Stderr)
			}
			last = l
			if len(l) < 4 || l[3] != '-' {
				return l
			}
		}
		return last
	}
	reply()
	conn.Write([]byte("EHLO x\r\n"))
	reply()
	conn.Write([]byte("STARTTLS\r\n"))
	if l := reply(); !strings.HasPrefix(l, "220") {
		t.Fatalf("STARTTLS: %q", l)
	}
}

// waitSaid waits for the hostile engine's line key in the server's log.
func waitSaid(t *testing.T, s *server, key string) string {
	t.Helper()
	var v string
	if !waitFor(hangLimit, func() bool { v = hostileSaid(s.Stderr.String(), key); return v != "" }) {
		t.Fatalf("the hostile engine never said %q; log:\n%s", key, s.Stderr)
	}
	return v
}

// TestHostileSigningOracle: an engine that asks for 2000 signatures over
// digests of its choosing, and more later, gets one (one handshake's),
// and the holder names it in a warning. Without the grant it got all
// 2010.
func TestHostileSigningOracle(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	dir := hostileDir(t, "oracle")
	for _, c := range hostileServers {
		t.Run(c.name, func(t *testing.T) {
			s := c.start(t, hostileEnv(dir, certs, "UCSPITLS="), testdata("smtp.sh"))
			c.connect(t, s)
			if !waitFor(hangLimit, func() bool { return strings.Contains(s.Stderr.String(), c.holderOf+": warning: ") }) {
				t.Fatalf("no warning names the engine; log:\n%s", s.Stderr)
			}
			time.Sleep(500 * time.Millisecond) // what the engine says last
			if got := hostileSaid(s.Stderr.String(), "granted"); got != "1" {
				t.Errorf("the engine got %q signatures, want 1; log:\n%s", got, s.Stderr)
			}
			w := grepLine(s.Stderr.String(), c.holderOf+": warning: ")
			for _, want := range []string{"ip=127.0.0.1", "port=", "engine=", "more than one handshake"} {
				if !strings.Contains(w, want) {
					t.Errorf("warning %q lacks %q", w, want)
				}
			}
		})
	}
}

// TestHostileAfterReport: once the engine has reported, the key channel
// is closed: no signature after the handshake.
func TestHostileAfterReport(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	dir := hostileDir(t, "late")
	for _, c := range hostileServers[:2] {
		t.Run(c.name, func(t *testing.T) {
			s := c.start(t, hostileEnv(dir, certs), "cat")
			c.connect(t, s)
			if got := waitSaid(t, s, "granted"); got != "0" {
				t.Errorf("the engine got %s signatures after its report; log:\n%s", got, s.Stderr)
			}
		})
	}
}

// TestHostileReport: a report that would set RELAYCLIENT, TCPREMOTEIP,
// PATH or BASH_ENV, a long value, a value with a newline: the app never
// starts, and a warning names the engine.
func TestHostileReport(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	for _, mode := range []string{"report", "longvalue", "newline"} {
		dir := hostileDir(t, mode)
		for _, c := range hostileServers {
			t.Run(mode+"/"+c.name, func(t *testing.T) {
				mark := t.TempDir() + "/app-ran"
				app := []string{"sh", "-c", "[ -z \"$SSL_PROTOCOL\" ] || env >" + mark + "; exec " + testdata("smtp.sh")}
				s := c.start(t, hostileEnv(dir, certs, "UCSPITLS="), app...)
				c.connect(t, s)
				warn := c.holderOf + ": warning: "
				if c.delayed {
					warn = "ucspi-starttls: warning: "
				}
				if !waitFor(hangLimit, func() bool { return strings.Contains(s.Stderr.String(), warn) }) {
					t.Fatalf("no warning about the report; log:\n%s", s.Stderr)
				}
				if w := grepLine(s.Stderr.String(), warn); !strings.Contains(w, "report") {
					t.Errorf("warning %q does not name the report", w)
				}
				time.Sleep(500 * time.Millisecond)
				if b, err := os.ReadFile(mark); err == nil {
					t.Fatalf("the app ran with the forged report:\n%s", b)
				}
			})
		}
	}
}

// TestHostileTickets: with TLS_TICKETKEYS, the engine's setup carries no
// ticket key; it can have one ticket opened and two sealed, no more.
func TestHostileTickets(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	keys := make([]byte, 64)
	for i := range keys {
		keys[i] = byte(i*7 + 1)
	}
	kf := certs + "/tickets"
	if err := os.WriteFile(kf, keys, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := hostileDir(t, "tickets")
	for _, c := range hostileServers {
		t.Run(c.name, func(t *testing.T) {
			s := c.start(t, hostileEnv(dir, certs, "UCSPITLS=", "TLS_TICKETKEYS="+kf), testdata("smtp.sh"))
			c.connect(t, s)
			setup := waitSaid(t, s, "setup")
			for i := 0; i < len(keys); i += 32 {
				if strings.Contains(setup, hex.EncodeToString(keys[i:i+32])) {
					t.Errorf("ticket key %d reached the engine", i/32)
				}
			}
			if !waitFor(hangLimit, func() bool { return strings.Contains(s.Stderr.String(), c.holderOf+": warning: ") }) {
				t.Fatalf("no warning names the engine; log:\n%s", s.Stderr)
			}
			time.Sleep(500 * time.Millisecond)
			log := s.Stderr.String()
			if sealed, opened := hostileSaid(log, "sealed"), hostileSaid(log, "opened"); sealed != "2" || opened != "1" {
				t.Errorf("the engine had %q tickets sealed (want 2) and %q opened (want 1); log:\n%s", sealed, opened, log)
			}
		})
	}
}

// TestHostileSilent: an engine that neither reports nor honours its own
// deadline is killed by the spawner once -K and a grace have passed, and
// its connection's slot is free again.
func TestHostileSilent(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	dir := hostileDir(t, "silent")
	for _, c := range hostileServers[:2] {
		t.Run(c.name, func(t *testing.T) {
			c.tlsd = []string{"-K", "500"}
			s := c.start(t, hostileEnv(dir, certs), "cat")
			c.connect(t, s)
			waitSaid(t, s, "silent")
			if !waitFor(hangLimit, func() bool { return strings.Contains(s.Stderr.String(), "no handshake report by the deadline") }) {
				t.Fatalf("the silent engine was not ended; log:\n%s", s.Stderr)
			}
		})
	}
}

// TestDefaultHandshakeDeadline: with no -K, every engine gets a 30 s
// handshake deadline, and its holder the same window.
func TestDefaultHandshakeDeadline(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	s := tlsdServe(t, tlsdEnv(certs), "ps", "-o", "args=", "-C", "tlswrap")
	out, _, err := tlsDial(t, s.Addr, localhostTLS(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "tlswrap --server") || !strings.Contains(string(out), "-K 30000") {
		t.Fatalf("the engine's command line lacks -K 30000:\n%s", out)
	}
}

// grepLine returns the first line of s that contains sub.
func grepLine(s, sub string) string {
	for _, l := range lines(s) {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// hostileClient runs tcpclient … tlsc [-n ucspi-starttls -c smtp] app
// from dir, as root, against a listener on 127.0.0.1 that speaks just
// enough SMTP for STARTTLS (delayed) or nothing (immediate), and returns
// what tcpclient's chain left.
func hostileClient(t *testing.T, dir, certs string, delayed bool, app ...string) result {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if delayed {
			r := bufio.NewReader(c)
			c.Write([]byte("220 mx.example ESMTP\r\n"))
			r.ReadString('\n') // EHLO
			c.Write([]byte("250-mx.example\r\n250 STARTTLS\r\n"))
			r.ReadString('\n') // STARTTLS
			c.Write([]byte("220 go ahead\r\n"))
		}
		b := make([]byte, 1)
		c.Read(b) // until the chain ends
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	env := hostileEnv(dir, certs, "CAFILE="+certs+"/ca.crt")
	args := []string{"127.0.0.1", strconv.Itoa(port), "tlsc", "-k", "localhost"}
	if delayed {
		args = append(args, "-n", "--verify-report", "ucspi-starttls", "-c", "smtp")
	}
	return run(t, env, "", dir+"/tcpclient", append(args, app...)...)
}

// TestHostileClient: the client chains run as root, where the engine's
// attacker is any remote server. A forged report never reaches the app
// (which would run as root); a signing oracle gets no signature (no
// client certificate) and is named in a warning.
func TestHostileClient(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	for _, mode := range []string{"report", "oracle"} {
		dir := hostileDir(t, mode)
		for _, delayed := range []bool{false, true} {
			name := mode + "/tlsc"
			if delayed {
				name += "-n+ucspi-starttls-c"
			}
			t.Run(name, func(t *testing.T) {
				mark := t.TempDir() + "/app-ran"
				r := hostileClient(t, dir, certs, delayed, "sh", "-c", "env >"+mark)
				// (A failed handshake under ucspi-starttls -c's "may"
				// policy still starts the app, with mail deferred.)
				if b, err := os.ReadFile(mark); err == nil && mode == "report" {
					t.Fatalf("the app ran (exit %d):\n%s\nlog:\n%s", r.Code, b, r.Stderr)
				}
				if !strings.Contains(r.Stderr, ": warning: ") {
					t.Errorf("no warning names the engine; log:\n%s", r.Stderr)
				}
				if got := hostileSaid(r.Stderr, "granted"); got != "" && got != "0" {
					t.Errorf("the engine got %s signatures", got)
				}
			})
		}
	}
}

// TestHostileNeighbour: every engine of a server runs as the same
// TLS_UID by default. An engine turned against the engine of another
// connection — lower its CPU limit, renice it, pin it to one CPU, signal
// it or its own process group — gets EPERM each time, and the other
// connection goes on untouched. The defence is the engine's seccomp
// filter (pkg/seccomp): the dumpable flag and Landlock leave the first
// three open between processes of one uid, and a signal to the process
// group (which holds the listener's other engines) open before Landlock
// ABI 6 (without the filter: "ok" four times, and the victim's limit and
// nice value changed).
func TestHostileNeighbour(t *testing.T) {
	needRoot(t)
	certs := certDir(t)
	victim := ipServe(t, tlsdEnv(certs), true, nil, "tlsd", "sh", "-c", "echo $$; exec cat")
	vc, err := tls.Dial("tcp", victim.Addr, localhostTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer vc.Close()
	vc.SetDeadline(time.Now().Add(hangLimit))
	vr := bufio.NewReader(vc)
	l, _ := vr.ReadString('\n')
	app, err := strconv.Atoi(strings.TrimSpace(l))
	if err != nil {
		t.Fatalf("victim app said %q", l)
	}
	engine := flEngine(t, app)
	procFile := func(name string) string {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(engine) + "/" + name)
		return string(b)
	}
	limitsBefore, statBefore := procFile("limits"), procFile("stat")

	dir := hostileDir(t, "neighbour", "-X main.target="+strconv.Itoa(engine))
	c := hostileServers[0] // tlsserver: the attacker's engine as TLS_UID, like the victim's
	s := c.start(t, hostileEnv(dir, certs), "cat")
	c.connect(t, s)
	waitSaid(t, s, "done")
	for _, what := range []string{"prlimit", "nice", "affinity", "signal", "group"} {
		if got := hostileSaid(s.Stderr.String(), what); got != "operation not permitted" {
			t.Errorf("%s on another connection's engine: %q, want operation not permitted", what, got)
		}
	}
	if after := procFile("limits"); after != limitsBefore {
		t.Errorf("the victim engine's limits changed:\n%s\nnow:\n%s", limitsBefore, after)
	}
	// Field 19 of stat is the nice value (after the comm in parentheses).
	nice := func(stat string) string {
		if i := strings.LastIndexByte(stat, ')'); i >= 0 {
			if f := strings.Fields(stat[i+1:]); len(f) > 16 {
				return f[16]
			}
		}
		return "?"
	}
	if nice(procFile("stat")) != nice(statBefore) {
		t.Errorf("the victim engine's nice value changed: %s, was %s", nice(procFile("stat")), nice(statBefore))
	}
	vc.Write([]byte("still here\n"))
	if l, err := vr.ReadString('\n'); l != "still here\n" {
		t.Errorf("the victim's session: %q %v", l, err)
	}
}

// TestHostileHolder: in delayed mode the key holder runs as the engine's
// uid once it has read the keys. An engine that looks for it among the
// 512 pids around its own reaches none of them: no limits read, no memory
// (where the key is), no trace. Defences: the holder is not dumpable and
// jailed, the engine's seccomp filter and Landlock domain (without the
// engine's filter the holder's limits are read: limits=1 or more).
func TestHostileHolder(t *testing.T) {
	needRoot(t)
	need(t, "/usr/sbin/mailfront")
	certs := certDir(t)
	dir := hostileDir(t, "holder")
	c := hostileServers[2] // delayed: tcpserver … tlsd -n ucspi-starttls
	if !c.delayed {
		t.Fatal("hostileServers[2] is not the delayed chain")
	}
	s := c.start(t, hostileEnv(dir, certs, "UCSPITLS="), "/usr/sbin/mailfront", "smtp", "echo", "accept")
	c.connect(t, s)
	// The test proves something only if the holder was in the engine's
	// reach: alive, within the 256 pids on each side that it scans.
	var engine, holder int
	waitFor(10*time.Second, func() bool {
		engine, holder = 0, 0
		for _, p := range paDescendants(s.cmd.Process.Pid) {
			switch p.comm {
			case "tlswrap":
				engine = p.pid
			case "tlskeyholder":
				holder = p.pid
			}
		}
		return engine != 0 && holder != 0
	})
	if engine == 0 || holder == 0 || holder-engine > 256 || engine-holder > 256 {
		t.Fatalf("engine %d, key holder %d: not both there, or too far apart; log:\n%s", engine, holder, s.Stderr)
	}
	waitSaid(t, s, "done")
	got := hostileSaid(s.Stderr.String(), "reached")
	if got == "" {
		t.Fatalf("the engine said nothing of what it reached; log:\n%s", s.Stderr)
	}
	// Each pid reached must be one of the engine's own threads.
	for _, f := range strings.Fields(got) {
		_, pids, _ := strings.Cut(f, "=")
		for _, p := range strings.Split(pids, ",") {
			if p == "-" || fileExists("/proc/"+strconv.Itoa(engine)+"/task/"+p) {
				continue
			}
			what := "a process beside the engine"
			if p == strconv.Itoa(holder) {
				what = "its key holder"
			}
			t.Errorf("the engine reached %s, pid %s: %s", what, p, f)
		}
	}
}
