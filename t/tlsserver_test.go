package t

// tlsserver (doc/tlsserver.md) does tlsd's work in-process: these tests
// run the same service as tlsserver and as tcpserver ... tlsd, and fail
// where what the app, the engine, the client or the log sees differs
// beyond what the page documents (the process tree, the log's pid and the
// program's name in the log).

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ipModes are the two ways to run tlsd's work: tlsserver, or tcpserver
// exec'ing tlsd.
var ipModes = []struct {
	name      string
	inProcess bool
}{
	{"tlsserver", true},
	{"exec", false},
}

// ipApp prints its pid, its parent and its environment, then waits for
// the client's EOF, so that the test can look at the processes meanwhile.
const ipApp = `echo PID=$$; echo PPID=$PPID; env; echo END; read x; echo BYE`

// ipStatusFields are the /proc status fields that must not depend on how
// tlsd ran.
var ipStatusFields = []string{"Umask", "Uid", "Gid", "Groups", "NoNewPrivs", "Seccomp",
	"SigBlk", "SigIgn", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}

// ipServe runs tcpserver flags... -c 100 127.0.0.1 0 args..., where
// args are tlsd's (args[0] is "tlsd"); inProcess, the same as tlsserver
// flags... tlsd-options... -c 100 127.0.0.1 0 prog...
func ipServe(t *testing.T, env []string, inProcess bool, flags []string, args ...string) *server {
	t.Helper()
	a := append(append([]string{}, flags...), "-c", "100", "127.0.0.1", "0")
	if !inProcess {
		return serve(t, env, append(a, args...)...)
	}
	opts, prog := ipSplit(args[1:])
	return serveProg(t, env, bin("tlsserver"), append(append(append([]string{"-1"}, opts...), a...), prog...)...)
}

// ipSplit splits tlsd's arguments into its options and prog.
func ipSplit(args []string) (opts, prog []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if len(a) < 2 || a[0] != '-' {
			return args[:i], args[i:]
		}
		if len(a) == 2 && strings.Contains("ugGkKIma", a[1:]) {
			i++
		}
	}
	return args, nil
}

// ipProc is what the test sees of one process of a chain.
type ipProc struct {
	pid, ppid int
	status    map[string]string // ipStatusFields
	limits    string            // /proc/PID/limits
	cwd       string
	fds       []string // "fd -> kind", sorted
	group     string   // the process group and session relative to the process and the listener
}

// ipLook reads pid's /proc entries; server is the listener's pid.
func ipLook(t *testing.T, pid, server int) ipProc {
	t.Helper()
	dir := "/proc/" + strconv.Itoa(pid)
	p := ipProc{pid: pid, status: map[string]string{}}
	st, err := os.ReadFile(dir + "/status")
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	for _, f := range ipStatusFields {
		p.status[f] = statusField(string(st), f)
	}
	lim, _ := os.ReadFile(dir + "/limits")
	p.limits = string(lim)
	p.cwd, _ = os.Readlink(dir + "/cwd")
	ents, _ := os.ReadDir(dir + "/fd")
	for _, e := range ents {
		target, err := os.Readlink(dir + "/fd/" + e.Name())
		if err != nil {
			continue
		}
		if i := strings.IndexByte(target, ':'); i > 0 && strings.HasSuffix(target, "]") {
			target = target[:i] // pipe:[123] -> pipe
		}
		p.fds = append(p.fds, e.Name()+" -> "+target)
	}
	sort.Strings(p.fds)
	b, _ := os.ReadFile(dir + "/stat")
	if j := bytes.LastIndexByte(b, ')'); j > 0 && j+2 < len(b) {
		f := strings.Fields(string(b[j+2:]))
		p.ppid, _ = strconv.Atoi(f[1])
		rel := func(id string) string {
			switch id {
			case strconv.Itoa(pid):
				return "self"
			case strconv.Itoa(server):
				return "listener"
			}
			return "other"
		}
		p.group = "pgrp " + rel(f[2]) + " session " + rel(f[3])
	}
	return p
}

// ipSeen is what one connection showed.
type ipSeen struct {
	env         map[string]string
	app, engine ipProc
	accept      int // the pid of the listener's accept line
	end         int // the pid of its end line
	code        int // the end line's exit code
	cert        string
}

// ipConnect connects from local (a loopback address, "" for any), shakes
// hands, looks at the app and its engine (ipOpen), then closes and waits
// for the end line.
func ipConnect(t *testing.T, s *server, local string) *ipSeen {
	t.Helper()
	seen, finish := ipOpen(t, s, local)
	finish()
	return seen
}

// ipOpen connects from local (a loopback address, "" for any), shakes
// hands (verifying nothing: the test looks at the certificate), reads the
// app's report and looks at the app and its engine. finish closes the
// connection and waits for its end line and for both processes to go.
func ipOpen(t *testing.T, s *server, local string) (seen *ipSeen, finish func()) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
	}
	raw, err := d.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true})
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v; log:\n%s", err, s.Stderr)
	}
	seen = &ipSeen{env: map[string]string{}}
	if certs := c.ConnectionState().PeerCertificates; len(certs) > 0 {
		seen.cert = strings.Join(certs[0].DNSNames, ",")
	}
	br := bufio.NewReader(c)
	var out []string
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("app report: %v after %q; log:\n%s", err, out, s.Stderr)
		}
		l = strings.TrimSuffix(l, "\n")
		if l == "END" {
			break
		}
		out = append(out, l)
	}
	if len(out) < 2 || !strings.HasPrefix(out[0], "PID=") || !strings.HasPrefix(out[1], "PPID=") {
		t.Fatalf("app report %q", out)
	}
	app, _ := strconv.Atoi(strings.TrimPrefix(out[0], "PID="))
	ppid, _ := strconv.Atoi(strings.TrimPrefix(out[1], "PPID="))
	seen.env = envMap(strings.Join(out[2:], "\n"))
	server := s.cmd.Process.Pid
	if ppid != server {
		t.Errorf("the app's parent is %d, not the listener (%d)", ppid, server)
	}
	seen.app = ipLook(t, app, server)
	port := strconv.Itoa(raw.LocalAddr().(*net.TCPAddr).Port)
	ip := regexp.QuoteMeta(raw.LocalAddr().(*net.TCPAddr).IP.String())
	m := waitLog(t, s, `accept conn=\d+ ip=`+ip+` port=`+port+` `)
	seen.accept, _ = strconv.Atoi(strings.TrimPrefix(strings.Fields(m)[1], "conn="))
	// The engine: the app's child (exec'd tlsd) or the listener's
	// (in-process); with several connections open, the one the accept
	// line names or the app's own.
	engine := 0
	waitFor(10*time.Second, func() bool {
		for _, p := range flProcs() {
			if p.comm == "tlswrap" && p.state != 'Z' && (p.ppid == app || p.ppid == server && p.pid == seen.accept) {
				engine = p.pid
				return true
			}
		}
		return false
	})
	if engine == 0 {
		t.Fatalf("no engine of app %d or the listener %d (accept pid %d)", app, server, seen.accept)
	}
	// Its key and control fds close once the handshake is over.
	waitFor(5*time.Second, func() bool {
		_, e5 := os.Stat("/proc/" + strconv.Itoa(engine) + "/fd/5")
		_, e6 := os.Stat("/proc/" + strconv.Itoa(engine) + "/fd/6")
		return e5 != nil && e6 != nil
	})
	seen.engine = ipLook(t, engine, server)
	finish = func() {
		t.Helper()
		raw.(*net.TCPConn).CloseWrite()
		rest, _ := io.ReadAll(br)
		if string(rest) != "BYE\n" {
			t.Errorf("after the client's EOF the app wrote %q, want BYE", rest)
		}
		m := waitLog(t, s, `server: info: end conn=`+strconv.Itoa(seen.accept)+` ip=\S+ port=\d+ status=\d+`)
		seen.code, _ = strconv.Atoi(m[strings.LastIndexByte(m, '=')+1:])
		seen.end = seen.accept
		// The next connection must not find this engine.
		if !waitFor(hangLimit, func() bool { return flGone(engine) && flGone(app) }) {
			t.Errorf("engine %d or app %d still runs after the connection", engine, app)
		}
	}
	return seen, finish
}

// ipEngineFds checks an engine's fds after the handshake: the socket on
// 0 and 1, stderr, the two pipes, the runtime's own; no other connection's
// socket, pipe or key channel (the listener spawns many children at once).
func ipEngineFds(t *testing.T, what string, p ipProc) {
	t.Helper()
	for _, f := range p.fds {
		fd, target, _ := strings.Cut(f, " -> ")
		switch {
		case (fd == "0" || fd == "1") && target == "socket":
		case fd == "2":
		case (fd == "3" || fd == "4") && target == "pipe":
		case strings.HasPrefix(target, "anon_inode"):
		case strings.HasPrefix(target, "/sys/fs/cgroup/"):
		default:
			t.Errorf("%s: engine %d has fd %s", what, p.pid, f)
		}
	}
}

// ipShape checks where the engine sits and which pid the log names:
// in-process, the engine is the listener's child and the log names it; with
// an exec'd tlsd, the engine is the app's child and the log names the app
// (tlsd's process).
func ipShape(t *testing.T, what string, seen *ipSeen, inProcess bool) {
	t.Helper()
	server := seen.app.ppid
	switch {
	case inProcess && seen.engine.ppid != server:
		t.Errorf("%s: in-process, the engine %d is the child of %d, not of the listener %d (app %d)",
			what, seen.engine.pid, seen.engine.ppid, server, seen.app.pid)
	case !inProcess && seen.engine.ppid != seen.app.pid:
		t.Errorf("%s: exec'd, the engine %d is the child of %d, not of the app %d",
			what, seen.engine.pid, seen.engine.ppid, seen.app.pid)
	}
	want := seen.app.pid
	if inProcess {
		want = seen.engine.pid
	}
	if seen.accept != want {
		t.Errorf("%s: accept line names pid %d, want %d (engine %d, app %d)", what, seen.accept, want, seen.engine.pid, seen.app.pid)
	}
}

// TestTLSServerEquivalent: the same chain in-process and exec'd gives
// the app the same environment, identity, fds, limits and process group,
// and the engine the same identity and limits; only the process tree and
// the log's pid differ, as documented.
func TestTLSServerEquivalent(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	// Variables the app must not see (key paths, a stale UCSPI-TLS fd)
	// and one it must.
	env := tlsdEnv(dir, "SSLCTLFD=9", "TLS_UID=65534", "IPTEST=kept")
	seen := map[string]*ipSeen{}
	for _, mode := range ipModes {
		s := ipServe(t, env, mode.inProcess, nil, "tlsd", "-u", "65534", "-g", "65534", "sh", "-c", ipApp)
		seen[mode.name] = ipConnect(t, s, "")
		ipShape(t, mode.name, seen[mode.name], mode.inProcess)
		if seen[mode.name].code != 0 {
			t.Errorf("%s: app exit %d; log:\n%s", mode.name, seen[mode.name].code, s.Stderr)
		}
	}
	in, ex := seen["tlsserver"], seen["exec"]

	// The environment: the same names; the same values but for the ports
	// and CONNPID, the pid the accept line names (doc/ucspi.md).
	varying := map[string]bool{"TCPLOCALPORT": true, "TCPREMOTEPORT": true, "CONNPID": true}
	for _, sn := range []*ipSeen{in, ex} {
		if sn.env["CONNPID"] != strconv.Itoa(sn.accept) {
			t.Errorf("CONNPID %q, the accept line names %d", sn.env["CONNPID"], sn.accept)
		}
	}
	for name, v := range in.env {
		w, ok := ex.env[name]
		switch {
		case !ok:
			t.Errorf("in-process only: %s=%s", name, v)
		case !varying[name] && v != w:
			t.Errorf("%s: in-process %q, exec'd %q", name, v, w)
		}
	}
	for name, v := range ex.env {
		if _, ok := in.env[name]; !ok {
			t.Errorf("exec'd only: %s=%s", name, v)
		}
	}
	for _, e := range []map[string]string{in.env, ex.env} {
		for _, name := range []string{"CERTFILE", "KEYFILE", "SSLCTLFD", "TLS_UID"} {
			if v, ok := e[name]; ok {
				t.Errorf("the app sees %s=%s", name, v)
			}
		}
		for name, want := range map[string]string{"PROTO": "TCP", "TCPLOCALIP": "127.0.0.1", "TCPREMOTEIP": "127.0.0.1",
			"SSL_PROTOCOL": "TLSv1.3", "IPTEST": "kept"} {
			if e[name] != want {
				t.Errorf("the app sees %s=%q, want %q", name, e[name], want)
			}
		}
		if e["SSL_CIPHER"] == "" {
			t.Errorf("the app has no SSL_CIPHER: %v", e)
		}
	}

	// The app and the engine as processes.
	for _, p := range []struct {
		what   string
		in, ex ipProc
	}{{"app", in.app, ex.app}, {"engine", in.engine, ex.engine}} {
		for _, f := range ipStatusFields {
			if p.in.status[f] != p.ex.status[f] {
				t.Errorf("%s %s: in-process %q, exec'd %q", p.what, f, p.in.status[f], p.ex.status[f])
			}
		}
		if p.in.limits != p.ex.limits {
			t.Errorf("%s limits differ:\nin-process:\n%s\nexec'd:\n%s", p.what, p.in.limits, p.ex.limits)
		}
		if p.in.cwd != p.ex.cwd {
			t.Errorf("%s cwd: in-process %q, exec'd %q", p.what, p.in.cwd, p.ex.cwd)
		}
	}
	if u, g := in.app.status["Uid"], in.app.status["Gid"]; u != "65534 65534 65534 65534" || g != "65534 65534 65534 65534" {
		t.Errorf("app Uid %q Gid %q, want 65534 (tlsd -u 65534 -g 65534)", u, g)
	}
	// The app's fds are the same; the engine's are its own contract
	// (TestTLSDEngineProcess), the same in both but for when the key and
	// control fds close, so only the app's are compared.
	if strings.Join(in.app.fds, "\n") != strings.Join(ex.app.fds, "\n") {
		t.Errorf("app fds differ:\nin-process: %q\nexec'd:     %q", in.app.fds, ex.app.fds)
	}
	// Session and group: the listener's child either way.
	if in.app.group != ex.app.group {
		t.Errorf("app %s in-process, %s exec'd", in.app.group, ex.app.group)
	}
	t.Logf("in-process: app %d engine %d (parent %d); exec'd: app %d engine %d (parent %d)",
		in.app.pid, in.engine.pid, in.engine.ppid, ex.app.pid, ex.engine.pid, ex.engine.ppid)
}

// TestTLSServerConcurrent: with many handshakes at once, each app
// gets its own engine's pipes and nothing of another connection, and each
// engine holds only its own fds: the listener's children share one spawner
// in-process, where an fd left inheritable would leak across
// connections.
func TestTLSServerConcurrent(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	const n = 8
	appFds := map[string][]string{}
	for _, mode := range ipModes {
		t.Run(mode.name, func(t *testing.T) {
			s := ipServe(t, tlsdEnv(dir), mode.inProcess, nil, "tlsd", "sh", "-c", ipApp)
			server := s.cmd.Process.Pid
			type conn struct {
				app int
				c   *tls.Conn
				r   *bufio.Reader
			}
			ch := make(chan conn, n)
			errs := make(chan error, n)
			for i := 0; i < n; i++ {
				go func() {
					c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.Addr, &tls.Config{InsecureSkipVerify: true})
					if err != nil {
						errs <- err
						return
					}
					c.SetDeadline(time.Now().Add(30 * time.Second))
					r := bufio.NewReader(c)
					l, err := r.ReadString('\n')
					app, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(l, "PID=")))
					for err == nil && l != "END\n" {
						l, err = r.ReadString('\n')
					}
					if err != nil || app == 0 {
						c.Close()
						errs <- err
						return
					}
					ch <- conn{app, c, r}
				}()
			}
			var conns []conn
			for len(conns) < n {
				select {
				case c := <-ch:
					conns = append(conns, c)
					t.Cleanup(func() { c.c.Close() })
				case err := <-errs:
					t.Fatalf("client: %v; log:\n%s", err, s.Stderr)
				case <-time.After(hangLimit):
					t.Fatalf("%d of %d sessions up after %v; log:\n%s", len(conns), n, hangLimit, s.Stderr)
				}
			}
			engines := map[int]bool{}
			for _, c := range conns {
				app := ipLook(t, c.app, server)
				in, _ := os.Readlink("/proc/" + strconv.Itoa(c.app) + "/fd/0")
				out, _ := os.Readlink("/proc/" + strconv.Itoa(c.app) + "/fd/1")
				// The engine whose cleartext pipes are the app's.
				engine := 0
				waitFor(10*time.Second, func() bool {
					for _, p := range flProcs() {
						if p.comm != "tlswrap" || p.state == 'Z' || (p.ppid != c.app && p.ppid != server) {
							continue
						}
						e4, _ := os.Readlink("/proc/" + strconv.Itoa(p.pid) + "/fd/4")
						e3, _ := os.Readlink("/proc/" + strconv.Itoa(p.pid) + "/fd/3")
						if e4 == in && e3 == out {
							engine = p.pid
							return true
						}
					}
					return false
				})
				if engine == 0 {
					t.Fatalf("no engine on the pipes of app %d (%s, %s)", c.app, in, out)
				}
				engines[engine] = true
				waitFor(5*time.Second, func() bool {
					_, e5 := os.Stat("/proc/" + strconv.Itoa(engine) + "/fd/5")
					_, e6 := os.Stat("/proc/" + strconv.Itoa(engine) + "/fd/6")
					return e5 != nil && e6 != nil
				})
				e := ipLook(t, engine, server)
				ipEngineFds(t, mode.name, e)
				if want := map[bool]int{true: server, false: c.app}[mode.inProcess]; e.ppid != want {
					t.Errorf("engine %d of app %d: parent %d, want %d", engine, c.app, e.ppid, want)
				}
				got := strings.Join(app.fds, " ")
				if prev, ok := appFds[mode.name]; ok && strings.Join(prev, " ") != got {
					t.Errorf("app %d fds %q, another app's %q", c.app, app.fds, prev)
				}
				appFds[mode.name] = app.fds
			}
			if len(engines) != n {
				t.Errorf("%d engines for %d apps", len(engines), n)
			}
			for _, c := range conns {
				c.c.CloseWrite()
				io.ReadAll(c.r)
			}
			if !waitFor(hangLimit, func() bool { return strings.Count(s.Stderr.String(), "server: info: end conn=") == n }) {
				t.Fatalf("not %d end lines:\n%s", n, s.Stderr)
			}
			if mode.inProcess {
				for e := range engines {
					if !regexp.MustCompile(`end conn=` + strconv.Itoa(e) + ` ip=\S+ port=\d+ status=0 `).MatchString(s.Stderr.String()) {
						t.Errorf("no end line for engine %d:\n%s", e, s.Stderr)
					}
				}
			}
		})
	}
	if a, b := strings.Join(appFds["tlsserver"], " "), strings.Join(appFds["exec"], " "); a != b {
		t.Errorf("app fds: in-process %q, exec'd %q", a, b)
	}
}

// TestTLSServerAppIdentity: tlsserver -u/-g give the app the identity an
// exec'd tlsd under tcpserver -u/-g has (a key readable by that user):
// the engine and the app the same uids and status either way.
func TestTLSServerAppIdentity(t *testing.T) {
	needRoot(t)
	dir, err := os.MkdirTemp("", "tlschain-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	crt, key := certs(t).Server.write(t, dir)
	os.Chown(key, 65534, 65534)
	env := baseEnv("CERTFILE="+crt, "KEYFILE="+key)
	seen := map[string]*ipSeen{}
	for _, mode := range ipModes {
		// tcpserver's -u is the listener's (tlsd then runs as that
		// user); tlsserver's is the app's, the listener staying root.
		flags, args := []string{"-u", "65534", "-g", "65534"}, []string{"tlsd", "sh", "-c", ipApp}
		if mode.inProcess {
			flags, args = nil, []string{"tlsd", "-u", "65534", "-g", "65534", "sh", "-c", ipApp}
		}
		s := ipServe(t, env, mode.inProcess, flags, args...)
		seen[mode.name] = ipConnect(t, s, "")
		ipShape(t, mode.name, seen[mode.name], mode.inProcess)
		for what, p := range map[string]ipProc{"app": seen[mode.name].app, "engine": seen[mode.name].engine} {
			if u := p.status["Uid"]; u != "65534 65534 65534 65534" {
				t.Errorf("%s: %s Uid %q", mode.name, what, u)
			}
		}
	}
	in, ex := seen["tlsserver"], seen["exec"]
	for _, f := range ipStatusFields {
		if in.app.status[f] != ex.app.status[f] || in.engine.status[f] != ex.engine.status[f] {
			t.Errorf("%s: app %q/%q, engine %q/%q (in-process/exec'd)", f,
				in.app.status[f], ex.app.status[f], in.engine.status[f], ex.engine.status[f])
		}
	}
	for _, name := range []string{"SSL_PROTOCOL", "SSL_CIPHER", "CERTFILE", "KEYFILE"} {
		if in.env[name] != ex.env[name] {
			t.Errorf("%s: in-process %q, exec'd %q", name, in.env[name], ex.env[name])
		}
	}
}

// ipNormal is a log with the pids, ports, byte counts and durations made X and the
// lines sorted: what must be equal in both modes (the order of
// the listener's accept line and tlsd's lines differs, tlsserver's lines
// are its own name's; a handshake's size
// varies by a byte or two with its signature).
func ipNormal(log string) []string {
	rx := regexp.MustCompile(`(conn|port|in|out|duration)=[^ ]+`)
	who := regexp.MustCompile(`^(tlsserver|tcpserver|tlsd): `)
	var out []string
	for _, l := range lines(log) {
		out = append(out, who.ReplaceAllString(rx.ReplaceAllString(l, "$1=X"), "server: "))
	}
	sort.Strings(out)
	return out
}

// TestTLSServerFailures: a failed handshake, a missing CERTFILE and a
// bad pair end with the same exit code, the same lines and, in-process,
// the documented pid (the engine's; 0 when nothing started).
func TestTLSServerFailures(t *testing.T) {
	dir := certDir(t)
	hello := flClientHello(t)
	send := func(in []byte, closeWrite bool) func(t *testing.T, s *server) {
		return func(t *testing.T, s *server) {
			c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write(in)
			if closeWrite {
				c.(*net.TCPConn).CloseWrite()
			}
			if out, closed := flReadClose(c, hangLimit); !closed {
				t.Fatalf("the connection stayed open %v (got %q)", hangLimit, out)
			} else if strings.Contains(out, "hello") {
				t.Errorf("the app ran: %q", out)
			}
		}
	}
	tlsClient := func(t *testing.T, s *server) {
		if out, _, err := tlsDial(t, s.Addr, localhostTLS(t), nil); err == nil {
			t.Errorf("handshake succeeded (got %q)", out)
		}
	}
	ipTLSClient := func(t *testing.T, s *server) {
		if _, _, err := tlsDial(t, s.Addr, localhostTLS(t), nil); err != nil {
			t.Errorf("handshake: %v", err)
		}
	}
	for _, tc := range []struct {
		name   string
		env    []string
		client func(t *testing.T, s *server)
		code   int
		msg    string
		engine bool // a process started: in-process, the log names the engine; else conn=-
		args   []string
	}{
		{"plain text", tlsdEnv(dir), send([]byte("EHLO client.test\r\nQUIT\r\n"), false), 98,
			"tlswrap: warning: handshake conn=", true, nil},
		{"garbage", tlsdEnv(dir), send(bytes.Repeat([]byte{0x80, 0x01, 0xfe, 0x00, 0x16, 0x03}, 100), false), 98,
			"tlswrap: warning: handshake conn=", true, nil},
		{"truncated hello", tlsdEnv(dir), send(hello[:len(hello)/2], true), 98, "tlswrap: warning: handshake conn=", true, nil},
		{"no CERTFILE", baseEnv(), tlsClient, 100, fatalEnd(100, "CERTFILE not set"), false, nil},
		{"missing KEYFILE", baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+dir+"/nope.key"), tlsClient, 96,
			fatalEnd(96, "unable to read KEYFILE "+dir+"/nope.key: no such file or directory"), false, nil},
		{"mismatched pair", baseEnv("CERTFILE="+dir+"/server.crt", "KEYFILE="+dir+"/other.key"), tlsClient, 96,
			fatalErr(96, "unable to load CERTFILE "+dir+"/server.crt and KEYFILE "+dir+"/other.key: the private key does not match"), false, nil},
		{"engine as root", tlsdEnv(dir, "TLS_UID=0"), tlsClient, 100,
			fatalEnd(100, "TLS_UID is 0: the TLS engine never runs as root"), false, nil},
		// Not failures of tlsd's own: the same lines and codes, -v's
		// handshake line included.
		{"prog not found", tlsdEnv(dir), ipTLSClient, 127,
			fatalEnd(127, "unable to find no-such-prog-tlschain: not found in PATH"), true, []string{"-v", "no-such-prog-tlschain"}},
		{"success -v", tlsdEnv(dir), ipTLSClient, 0,
			"tlswrap: info: tls conn=", true, []string{"-v", "sh", "-c", appHello}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := map[string][]string{}
			for _, mode := range ipModes {
				args := tc.args
				if args == nil {
					args = []string{"sh", "-c", appHello}
				}
				s := ipServe(t, tc.env, mode.inProcess, nil, append([]string{"tlsd"}, args...)...)
				tc.client(t, s)
				m := regexp.MustCompile(`server: info: end conn=(\S+) ip=\S+ port=\d+ status=(\d+) duration=\S+ count=0/100\n`).
					FindStringSubmatch(waitLog(t, s, `server: info: end conn=\S+ ip=\S+ port=\d+ status=\d+ duration=\S+ count=0/100\n`))
				id := m[1]
				pid, _ := strconv.Atoi(id) // "-": 0
				code, _ := strconv.Atoi(m[2])
				if tc.code == 0 || tc.code == 127 {
					// A session: the engine's own end line, after tcpserver's.
					waitLog(t, s, `tlswrap: info: end conn=\d+ ip=127\.0\.0\.1 port=\d+ `)
				}
				log := s.Stderr.String()
				msg := tc.msg
				if mode.inProcess {
					msg = strings.ReplaceAll(msg, "tlsd: ", "tlsserver: ")
				}
				if code != tc.code || !strings.Contains(log, msg) {
					t.Errorf("%s: exit %d, want %d with %q; log:\n%s", mode.name, code, tc.code, tc.msg, log)
				}
				if !strings.Contains(log, "accept conn="+id+" ip=127.0.0.1 ") {
					t.Errorf("%s: the accept line does not name pid %d:\n%s", mode.name, pid, log)
				}
				switch {
				case !mode.inProcess && pid == 0:
					t.Errorf("%s: end conn=-", mode.name)
				case mode.inProcess && tc.engine && pid == 0:
					t.Errorf("%s: end conn=- though an engine ran:\n%s", mode.name, log)
				case mode.inProcess && !tc.engine && pid != 0:
					t.Errorf("%s: end conn=%d though no process should start (want conn=-):\n%s", mode.name, pid, log)
				}
				if n := strings.Count(log, ": fatal"); n > 1 {
					t.Errorf("%s: %d fatal lines:\n%s", mode.name, n, log)
				}
				// tlsserver says at start what would fail every
				// connection: the one line the modes may differ by.
				const early = `tlsserver: warning: check err="with this environment: `
				if mode.inProcess && (tc.code == 96 || tc.code == 100) && !tc.engine && !strings.Contains(log, early) {
					t.Errorf("%s: no warning at start:\n%s", mode.name, log)
				}
				var kept []string
				for _, l := range lines(log) {
					if !strings.HasPrefix(l, early) {
						kept = append(kept, l)
					}
				}
				logs[mode.name] = ipNormal(strings.Join(kept, "\n"))
			}
			if a, b := strings.Join(logs["tlsserver"], "\n"), strings.Join(logs["exec"], "\n"); a != b {
				t.Errorf("the logs differ:\nin-process:\n%s\nexec'd:\n%s", a, b)
			}
		})
	}
}

// ipCopy copies tlsd and tlswrap into a fresh directory any uid can
// search (the engine runs unprivileged) and returns it.
func ipCopy(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tlschain-copy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	for _, name := range []string{"tlsd", "tlswrap"} {
		data, err := os.ReadFile(bin(name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestTLSServerRules: rule variables reach tlsd's work per
// connection: a CERTFILE/KEYFILE pair by client IP is the one the client
// sees, a TLS_UID the engine's uid (an engine started ahead must not
// serve that client), and a PATH that finds another tlsd runs it under
// tcpserver (tlsserver finds only the app in PATH).
func TestTLSServerRules(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	copyDir := ipCopy(t)
	cdb := filepath.Join(t.TempDir(), "rules.cdb")
	makeRules(t, cdb, `127.0.0.2:allow,CERTFILE="`+dir+`/other.crt",KEYFILE="`+dir+`/other.key"
127.0.0.3:allow,PATH="`+copyDir+`:/usr/bin:/bin"
127.0.0.4:allow,TLS_UID="4321",TLS_GID="4322"
:allow
`)
	for _, mode := range ipModes {
		t.Run(mode.name, func(t *testing.T) {
			s := ipServe(t, tlsdEnv(dir), mode.inProcess, []string{"-x", cdb}, "tlsd", "sh", "-c", ipApp)
			for _, tc := range []struct {
				local, cert string
				inProcess   bool
				engineUID   string
			}{
				{"127.0.0.1", "localhost", mode.inProcess, "65534"},
				{"127.0.0.2", "other.test", mode.inProcess, "65534"},
				{"127.0.0.3", "localhost", mode.inProcess, "65534"},
				{"127.0.0.4", "localhost", mode.inProcess, "4321"},
				{"127.0.0.2", "other.test", mode.inProcess, "65534"},
				{"127.0.0.1", "localhost", mode.inProcess, "65534"},
			} {
				seen := ipConnect(t, s, tc.local)
				if u := seen.engine.status["Uid"]; u != strings.Repeat(tc.engineUID+" ", 3)+tc.engineUID {
					t.Errorf("client %s: engine Uid %q, want %s", tc.local, u, tc.engineUID)
				}
				if seen.cert != tc.cert {
					t.Errorf("client %s got the certificate of %q, want %q", tc.local, seen.cert, tc.cert)
				}
				ipShape(t, "client "+tc.local, seen, tc.inProcess)
				for _, name := range []string{"CERTFILE", "KEYFILE"} {
					if v, ok := seen.env[name]; ok {
						t.Errorf("client %s: the app sees %s=%s", tc.local, name, v)
					}
				}
			}
		})
	}
}

// TestTCPServerExecsTLSD: tcpserver never does tlsd's work, whatever
// tlsd it runs: the one beside it, by path or in PATH, a copy or a
// symlink; the engine is always tlsd's child, then the app's.
func TestTCPServerExecsTLSD(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	copyDir := ipCopy(t)
	linkDir := t.TempDir()
	if err := os.Symlink(bin("tlsd"), linkDir+"/tlsd"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		env       []string
		prog      string
		inProcess bool
	}{
		{"sibling", tlsdEnv(dir), "tlsd", false},
		{"sibling by path", tlsdEnv(dir), bin("tlsd"), false},
		{"copy by path", tlsdEnv(dir), copyDir + "/tlsd", false},
		{"copy in PATH", ipPath(tlsdEnv(dir), copyDir+":"+binDir+":/usr/bin:/bin"), "tlsd", false},
		{"symlink by path", tlsdEnv(dir), linkDir + "/tlsd", false},
		{"symlink in PATH", ipPath(tlsdEnv(dir), linkDir+":"+binDir+":/usr/bin:/bin"), "tlsd", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := ipServe(t, tc.env, false, nil, tc.prog, "sh", "-c", ipApp)
			seen := ipConnect(t, s, "")
			ipShape(t, tc.name, seen, tc.inProcess)
			if seen.cert != "localhost" || seen.env["SSL_PROTOCOL"] == "" {
				t.Errorf("cert %q env %v", seen.cert, seen.env)
			}
		})
	}
}

// ipPath returns env with its PATH replaced by path.
func ipPath(env []string, path string) []string {
	out := []string{"PATH=" + path}
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestTLSServerTerm: on TERM the listener closes; a session already
// running goes on after the listener has gone; a handshake that completes
// after the TERM still reaches the app (in-process: within the stop
// grace); a client that never completes its handshake delays the listener's
// exit by the grace (10 s) at most.
func TestTLSServerTerm(t *testing.T) {
	dir := certDir(t)
	for _, mode := range ipModes {
		t.Run(mode.name, func(t *testing.T) {
			s := ipServe(t, tlsdEnv(dir), mode.inProcess, nil, "tlsd", "-K", "60000", "cat")
			// A: a running session.
			a, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			a.SetDeadline(time.Now().Add(40 * time.Second))
			ar := bufio.NewReader(a)
			a.Write([]byte("A before\n"))
			if l, err := ar.ReadString('\n'); l != "A before\n" {
				t.Fatalf("A: %q %v", l, err)
			}
			// B: a client that never sends its ClientHello; C: one that
			// sends it only after the TERM.
			b, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			craw, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer craw.Close()
			craw.SetDeadline(time.Now().Add(40 * time.Second))
			// Both are accepted (their engines, or tlsd, started).
			waitLog(t, s, `accept conn=\d+ ip=127\.0\.0\.1 port=`+strconv.Itoa(craw.LocalAddr().(*net.TCPAddr).Port)+` `)
			waitLog(t, s, `accept conn=\d+ ip=127\.0\.0\.1 port=`+strconv.Itoa(b.LocalAddr().(*net.TCPAddr).Port)+` `)

			start := time.Now()
			s.cmd.Process.Signal(syscall.SIGTERM)
			if !waitFor(hangLimit, func() bool {
				c, err := net.DialTimeout("tcp", s.Addr, time.Second)
				if err == nil {
					c.Close()
				}
				return err != nil
			}) {
				t.Fatalf("the port still accepts %v after TERM", hangLimit)
			}
			c := tls.Client(craw, localhostTLS(t))
			if err := c.Handshake(); err != nil {
				t.Fatalf("C: the handshake after TERM failed: %v; log:\n%s", err, s.Stderr)
			}
			cr := bufio.NewReader(c)
			c.Write([]byte("C after TERM\n"))
			if l, err := cr.ReadString('\n'); l != "C after TERM\n" {
				t.Fatalf("C: %q %v; log:\n%s", l, err, s.Stderr)
			}

			pid := s.cmd.Process.Pid
			// A and C stay open: only the grace ends the listener.
			if !waitFor(hangLimit, func() bool { return flGone(pid) }) {
				t.Fatalf("the listener still runs %v after TERM; log:\n%s", time.Since(start), s.Stderr)
			}
			took := time.Since(start)
			t.Logf("the listener exited %v after TERM", took.Round(time.Millisecond))
			waitLog(t, s, `stop count=\d+/100\n`)

			// A and C go on without the listener.
			for _, x := range []struct {
				name string
				c    *tls.Conn
				r    *bufio.Reader
			}{{"A", a, ar}, {"C", c, cr}} {
				x.c.Write([]byte(x.name + " after exit\n"))
				if l, err := x.r.ReadString('\n'); l != x.name+" after exit\n" {
					t.Errorf("%s after the listener's exit: %q %v", x.name, l, err)
				}
				x.c.CloseWrite()
				if rest, err := io.ReadAll(x.r); len(rest) != 0 || err != nil {
					t.Errorf("%s: after close %q %v", x.name, rest, err)
				}
			}
			// B: its late ClientHello either completes (an exec'd tlsd
			// still runs) or the connection closes; it never hangs.
			b.SetDeadline(time.Now().Add(10 * time.Second))
			bt := tls.Client(b, localhostTLS(t))
			err = bt.Handshake()
			t.Logf("B: handshake after the listener's exit: %v", err)
			if !mode.inProcess && err != nil {
				t.Errorf("exec'd: B's late handshake failed: %v", err)
			}
			if err != nil && os.IsTimeout(err) {
				t.Errorf("B hangs after the listener's exit")
			}
			b.Close()
		})
	}
}

// TestTLSServerEngineCPU: in-process, each engine is bound to one of
// the listener's CPUs, in turn; the app keeps the listener's whole set.
func TestTLSServerEngineCPU(t *testing.T) {
	needRoot(t)
	cpus := func(pid int) string {
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
		return statusField(string(st), "Cpus_allowed_list")
	}
	all := cpus(os.Getpid())
	if !strings.ContainsAny(all, ",-") {
		t.Skip("one CPU: nothing to bind")
	}
	s := ipServe(t, tlsdEnv(certDir(t)), true, nil, "tlsd", "sh", "-c", ipApp)
	got := map[string]bool{}
	for i := 0; i < 4; i++ {
		seen, finish := ipOpen(t, s, "")
		eng, app := cpus(seen.engine.pid), cpus(seen.app.pid)
		finish()
		if strings.ContainsAny(eng, ",-") || eng == "" {
			t.Errorf("engine bound to %q, want one CPU", eng)
		}
		if app != all {
			t.Errorf("app bound to %q, want the listener's %q", app, all)
		}
		got[eng] = true
	}
	if len(got) < 2 {
		t.Errorf("4 engines all on CPU %v: not taken in turn", got)
	}
}

// TestTLSServerThreads: handshakes that wait on their peer hold no
// thread of the listener each (the control and key sockets wait in the
// runtime's poller): 100 silent clients leave the listener with a few dozen
// threads, not hundreds, far from Go's limit of 10000.
func TestTLSServerThreads(t *testing.T) {
	needRoot(t)
	const n = 100
	s := ipServe(t, tlsdEnv(certDir(t)), true, nil, "tlsd", "cat")
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; i < n; i++ {
		c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	threads := func() int {
		st, _ := os.ReadFile("/proc/" + strconv.Itoa(s.cmd.Process.Pid) + "/status")
		v, _ := strconv.Atoi(statusField(string(st), "Threads"))
		return v
	}
	// Wait until every connection has its engine (an accept line each).
	if !waitFor(hangLimit, func() bool { return strings.Count(s.Stderr.String(), "accept conn=") >= n }) {
		t.Fatalf("%d accept lines for %d connections", strings.Count(s.Stderr.String(), "accept conn="), n)
	}
	time.Sleep(200 * time.Millisecond)
	if th := threads(); th > 40 {
		t.Errorf("the listener has %d threads with %d handshakes waiting", th, n)
	} else {
		t.Logf("%d threads with %d handshakes waiting", th, n)
	}
}

// TestTLSServerSharedUID: an app dropped to the engine's uid (-u 65534
// with TLS_UID unset) could signal every connection's engine: tlsserver
// says so once at start; an exec'd tlsd with -v says it for its
// connection. With a TLS_UID of its own, neither says anything.
func TestTLSServerSharedUID(t *testing.T) {
	needRoot(t)
	dir := certDir(t)
	const warning = "the app and the TLS engine both run as uid 65534: give TLS_UID an account of its own"
	for _, tc := range []struct {
		name      string
		env       []string
		inProcess bool
		tlsd      []string // tlsd's own
		want      bool
	}{
		{"tlsserver, default TLS_UID", nil, true, nil, true},
		{"tlsserver, own TLS_UID", []string{"TLS_UID=4321", "TLS_GID=4321"}, true, nil, false},
		{"exec'd -v, default TLS_UID", nil, false, []string{"-v"}, true},
		{"exec'd -v, own TLS_UID", []string{"TLS_UID=4321", "TLS_GID=4321"}, false, []string{"-v"}, false},
		{"exec'd, default TLS_UID", nil, false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(append([]string{"tlsd"}, tc.tlsd...), "-u", "65534", "-g", "65534", "echo", "hi")
			s := ipServe(t, tlsdEnv(dir, tc.env...), tc.inProcess, nil, args...)
			out, _, err := tlsDial(t, s.Addr, localhostTLS(t), nil)
			if err != nil || string(out) != "hi\n" {
				t.Fatalf("connection: %q, %v", out, err)
			}
			// The end line comes after any warning of the connection.
			waitFor(5*time.Second, func() bool { return strings.Contains(s.Stderr.String(), " end ") })
			if got := strings.Count(s.Stderr.String(), warning); got != map[bool]int{true: 1}[tc.want] {
				t.Errorf("warning said %d times, want it %v; log:\n%s", got, tc.want, s.Stderr)
			}
		})
	}
}

// TestTLSServerUsage: tlsserver refuses at start what tlsd would refuse
// per connection, and delayed mode (-n), naming the chain that does it.
func TestTLSServerUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"-k", "5", "127.0.0.1", "0", "cat"}, `err="option -k needs a number`},
		{[]string{"-n", "127.0.0.1", "0", "cat"}, `err="option -n (delayed mode) is not supported: use tcpserver ... tlsd -n"`},
		{[]string{"-A", "-y", "127.0.0.1", "0", "cat"}, "option -A excludes -y and -Y"},
		{[]string{"--exec-tlsd", "127.0.0.1", "0", "cat"}, "unknown option --exec-tlsd"},
	} {
		r := run(t, baseEnv(), "", bin("tlsserver"), tc.args...)
		if r.Code != 100 || !strings.Contains(r.Stderr, tc.msg) || !strings.Contains(r.Stderr, usageLine("tlsserver")) {
			t.Errorf("%q: exit %d, stderr %q; want 100 and %q", tc.args, r.Code, r.Stderr, tc.msg)
		}
	}
	r := run(t, baseEnv(), "", bin("tcpserver"), "--exec-tlsd", "127.0.0.1", "0", "cat")
	if r.Code != 100 {
		t.Errorf("tcpserver --exec-tlsd: exit %d, want 100 (the option is gone)", r.Code)
	}
}
