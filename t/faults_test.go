package t

// Faults and hostile input against the real chains: a process of the chain
// killed mid-session, the listener stopped with sessions open, a full disk
// under the atomic writers, the rules database replaced under load,
// slowloris clients against both timeouts, and bytes of the wrong kind or
// size on either port. Each case asserts what a user would see: data,
// closes, exit codes, log lines, and that nothing hangs.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// flProc is one process as /proc/PID/stat shows it.
type flProc struct {
	pid, ppid int
	state     byte
	comm      string
}

func flProcs() []flProc {
	ents, _ := os.ReadDir("/proc")
	var out []flProc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i, j := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
		if i < 0 || j < i || j+4 >= len(b) {
			continue
		}
		f := strings.Fields(string(b[j+2:]))
		ppid, _ := strconv.Atoi(f[1])
		out = append(out, flProc{pid, ppid, f[0][0], string(b[i+1 : j])})
	}
	return out
}

// flChild waits up to 10 s for a child of ppid named comm and returns its
// pid.
func flChild(t *testing.T, ppid int, comm string) int {
	t.Helper()
	pid := 0
	waitFor(10*time.Second, func() bool {
		for _, p := range flProcs() {
			if p.ppid == ppid && p.comm == comm && p.state != 'Z' {
				pid = p.pid
				return true
			}
		}
		return false
	})
	if pid == 0 {
		t.Fatalf("no child %q of %d", comm, ppid)
	}
	return pid
}

// flEngine waits up to 10 s for the engine of app (a pid tlsd ran) and
// returns its pid: the app's child when tlsd was exec'd, the app's
// sibling (a child of tcpserver) when tcpserver did tlsd's work itself —
// the sibling whose fd 4 is the pipe on the app's fd 0, not the engine
// tcpserver keeps started for the next connection.
func flEngine(t *testing.T, app int) int {
	t.Helper()
	pid := 0
	fd := func(pid, n int) string {
		l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/fd/" + strconv.Itoa(n))
		return l
	}
	waitFor(10*time.Second, func() bool {
		procs := flProcs()
		parent := 0
		for _, p := range procs {
			if p.pid == app {
				parent = p.ppid
			}
		}
		in := fd(app, 0)
		for _, p := range procs {
			if p.comm == "tlswrap" && p.state != 'Z' && (p.ppid == app || p.ppid == parent) && fd(p.pid, 4) == in {
				pid = p.pid
				return true
			}
		}
		return false
	})
	if pid == 0 {
		t.Fatalf("no engine of %d", app)
	}
	return pid
}

// flGone reports whether pid has exited (gone, or a zombie nobody reaped
// yet: the machine's init may not reap orphans).
func flGone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	j := bytes.LastIndexByte(b, ')')
	return j > 0 && j+2 < len(b) && b[j+2] == 'Z'
}

// flPidFile waits for a pid written by an app into path.
func flPidFile(t *testing.T, path string) int {
	t.Helper()
	pid := 0
	waitFor(10*time.Second, func() bool {
		b, _ := os.ReadFile(path)
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return pid > 0
	})
	if pid == 0 {
		t.Fatalf("app did not write %s", path)
	}
	return pid
}

// flReadClose reads from c until EOF or an error and reports whether the
// connection ended (rather than the deadline passing) within d.
func flReadClose(c net.Conn, d time.Duration) (string, bool) {
	c.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c)
	return string(b), !isTimeout(err)
}

// isTimeout says whether err is a deadline that passed: the peer did not
// close the connection in time.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// flSMTP is a line-wise SMTP client on a connection.
type flSMTP struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func flDialSMTP(t *testing.T, addr string) (*flSMTP, *net.TCPConn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &flSMTP{t, c, bufio.NewReader(c)}, c.(*net.TCPConn)
}

// reply reads one reply and returns its last line.
func (s *flSMTP) reply() string {
	s.t.Helper()
	for i := 0; i < 50; i++ {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("reading a reply: %v (got %q)", err, l)
		}
		l = strings.TrimRight(l, "\r\n")
		if len(l) < 4 || l[3] != '-' {
			return l
		}
	}
	s.t.Fatal("reply of 50 lines")
	return ""
}

// cmd sends line and returns the reply's last line.
func (s *flSMTP) cmd(line string) string {
	s.t.Helper()
	if _, err := io.WriteString(s.c, line+"\r\n"); err != nil {
		s.t.Fatalf("write %q: %v", line, err)
	}
	return s.reply()
}

// starttls switches s to TLS (STARTTLS, handshake) and returns the
// TLS connection.
func (s *flSMTP) starttls() *tls.Conn {
	s.t.Helper()
	if r := s.cmd("STARTTLS"); !strings.HasPrefix(r, "220 ") {
		s.t.Fatalf("STARTTLS: %q", r)
	}
	c := tls.Client(s.c, localhostTLS(s.t))
	if err := c.Handshake(); err != nil {
		s.t.Fatalf("handshake: %v", err)
	}
	s.c, s.r = c, bufio.NewReader(c)
	return c
}

// flStarttlsServe runs tcpserver -c n 127.0.0.1 0 tlsd -n ucspi-starttls
// args... smtp mailfront smtp echo accept, with UCSPITLS= set.
func flStarttlsServe(t *testing.T, n int, args ...string) *server {
	t.Helper()
	need(t, "/usr/sbin/mailfront")
	dir := certDir(t)
	a := []string{"-c", strconv.Itoa(n), "127.0.0.1", "0", "tlsd", "-n", "ucspi-starttls"}
	a = append(append(a, args...), "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")
	return serve(t, tlsdEnv(dir, "UCSPITLS="), a...)
}

// TestFaultEngineKilled: SIGKILL to the engine in the middle of a TLS
// session. The app gets EOF on its input and exits; the client sees the
// connection close; tcpserver logs the end. Immediate mode (the engine is
// the app's child) and delayed mode under ucspi-starttls.
func TestFaultEngineKilled(t *testing.T) {
	t.Run("immediate", func(t *testing.T) {
		dir, w := certDir(t), t.TempDir()
		app := `echo $$ >` + w + `/pid; echo hello; cat >/dev/null; echo eof >` + w + `/eof`
		s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", app)
		c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if l, err := bufio.NewReader(c).ReadString('\n'); l != "hello\n" {
			t.Fatalf("got %q, %v", l, err)
		}
		eng := flEngine(t, flPidFile(t, w+"/pid"))
		syscall.Kill(eng, syscall.SIGKILL)
		if _, closed := flReadClose(c, hangLimit); !closed {
			t.Fatalf("the client's connection stayed open %v after the engine died", hangLimit)
		}
		if !waitFor(hangLimit, func() bool { return fileExists(w + "/eof") }) {
			t.Fatal("the app did not get EOF on its input")
		}
		if code := endCode(t, s); code != 0 {
			t.Errorf("app exit %d", code)
		}
	})
	t.Run("delayed", func(t *testing.T) {
		s := flStarttlsServe(t, 5)
		m, _ := flDialSMTP(t, s.Addr)
		m.reply()
		m.cmd("EHLO client.test")
		m.starttls()
		if r := m.cmd("EHLO client.test"); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("EHLO in TLS: %q", r)
		}
		us := flChild(t, s.cmd.Process.Pid, "ucspi-starttls")
		eng := flChild(t, us, "tlswrap")
		mf := flChild(t, us, "mailfront")
		syscall.Kill(eng, syscall.SIGKILL)
		if _, closed := flReadClose(m.c, hangLimit); !closed {
			t.Fatalf("the client's connection stayed open %v after the engine died", hangLimit)
		}
		if !waitFor(hangLimit, func() bool { return flGone(mf) && flGone(us) }) {
			t.Fatalf("mailfront or ucspi-starttls still running %v after the engine died", hangLimit)
		}
		endCode(t, s)
	})
}

// TestFaultAppKilled: SIGKILL to the app in the middle of a session. The
// engine ends the TLS session (the client reads EOF) and exits by itself,
// even though the client keeps its side open.
func TestFaultAppKilled(t *testing.T) {
	t.Run("immediate", func(t *testing.T) {
		dir, w := certDir(t), t.TempDir()
		s := tlsdServe(t, tlsdEnv(dir), "sh", "-c", `echo $$ >`+w+`/pid; echo hello; exec sleep 60`)
		c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if l, err := bufio.NewReader(c).ReadString('\n'); l != "hello\n" {
			t.Fatalf("got %q, %v", l, err)
		}
		app := flPidFile(t, w+"/pid")
		eng := flEngine(t, app)
		syscall.Kill(app, syscall.SIGKILL)
		if _, closed := flReadClose(c, hangLimit); !closed {
			t.Fatalf("the client read no EOF %v after the app died", hangLimit)
		}
		// The client still holds its side; the engine waits at most 5 s
		// for its close (doc/tlswrap.md), then exits.
		if !waitFor(hangLimit, func() bool { return flGone(eng) }) {
			t.Fatalf("the engine still runs %v after the app died", hangLimit)
		}
		waitLog(t, s, `end conn=\d+ ip=\S+ port=\d+ status=signal:9 `)
	})
	t.Run("delayed", func(t *testing.T) {
		s := flStarttlsServe(t, 5)
		m, _ := flDialSMTP(t, s.Addr)
		m.reply()
		m.cmd("EHLO client.test")
		m.starttls()
		m.cmd("EHLO client.test")
		us := flChild(t, s.cmd.Process.Pid, "ucspi-starttls")
		eng := flChild(t, us, "tlswrap")
		syscall.Kill(flChild(t, us, "mailfront"), syscall.SIGKILL)
		if _, closed := flReadClose(m.c, hangLimit); !closed {
			t.Fatalf("the client read no EOF %v after the app died", hangLimit)
		}
		if !waitFor(hangLimit, func() bool { return flGone(eng) && flGone(us) }) {
			t.Fatalf("the engine or ucspi-starttls still runs %v after the app died", hangLimit)
		}
		if code := endCode(t, s); code != 111 {
			t.Errorf("ucspi-starttls exit %d, want 111 (prog killed by a signal)", code)
		}
	})
}

// TestFaultListenerTERM: SIGTERM to tcpserver with sessions open. It stops
// accepting and exits 0; the open sessions run to their end with every
// byte echoed.
func TestFaultListenerTERM(t *testing.T) {
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "cat")
	const n = 3
	conns := make([]*tls.Conn, n)
	for i := range conns {
		c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		c.Write([]byte("before TERM " + strconv.Itoa(i) + "\n"))
		conns[i] = c
	}
	// Every session is up (its echo came back) before the signal.
	readers := make([]*bufio.Reader, n)
	for i, c := range conns {
		readers[i] = bufio.NewReader(c)
		if l, err := readers[i].ReadString('\n'); l != "before TERM "+strconv.Itoa(i)+"\n" {
			t.Fatalf("session %d: %q %v", i, l, err)
		}
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	// tcpserver itself is gone at once (its children still hold its
	// stderr, so exec.Cmd.Wait returns only when they end).
	if !waitFor(hangLimit, func() bool { return flGone(s.cmd.Process.Pid) }) {
		t.Fatalf("tcpserver still runs %v after TERM; stderr: %s", hangLimit, s.Stderr)
	}
	waitLog(t, s, `stop count=3/100`)
	if c, err := net.DialTimeout("tcp", s.Addr, time.Second); err == nil {
		c.Close()
		t.Error("the port still accepts after TERM")
	}
	big := bytes.Repeat([]byte("after TERM, a longer tail of data\n"), 8000)
	for i, c := range conns {
		go func() {
			c.Write(big)
			c.NetConn().(*net.TCPConn).CloseWrite()
		}()
		rest, err := io.ReadAll(readers[i])
		if err != nil || !bytes.Equal(rest, big) {
			t.Errorf("session %d after TERM: %d of %d bytes, %v", i, len(rest), len(big), err)
		}
	}
	if code := exited(t, s, 10*time.Second); code != 0 {
		t.Errorf("tcpserver exit %d after TERM", code)
	}
}

// flMount mounts a tmpfs of size bytes on a fresh directory and unmounts it
// in Cleanup.
func flMount(t *testing.T, size int) string {
	t.Helper()
	needRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size)+",mode=0755", "tlschain-faults", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// flFill fills the file system of dir until it is full.
func flFill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < 1<<16; i++ {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatal("the tmpfs never filled")
}

// flDirNames lists dir.
func flDirNames(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var n []string
	for _, e := range ents {
		n = append(n, e.Name())
	}
	return n
}

// TestFaultFullDisk: tcprules and tlskeys rotate on a full file system
// (a small tmpfs) and in a directory they cannot write: exit 111, one
// fatal line naming the file and the errno, the old file byte for byte as
// it was, no temporary file left behind.
func TestFaultFullDisk(t *testing.T) {
	t.Run("tcprules", func(t *testing.T) {
		dir := flMount(t, 64<<10)
		db := filepath.Join(dir, "rules.cdb")
		if r := run(t, baseEnv(), "127.:allow\n:deny\n", bin("tcprules"), db, db+".tmp"); r.Code != 0 {
			t.Fatalf("tcprules: %+v", r)
		}
		old, _ := os.ReadFile(db)
		flFill(t, dir)
		var text strings.Builder
		for i := 0; i < 2000; i++ {
			text.WriteString("10.1." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + ":allow,NAME=host" + strconv.Itoa(i) + "\n")
		}
		r := run(t, baseEnv(), text.String(), bin("tcprules"), db, db+".tmp")
		if r.Code != 111 || !strings.HasPrefix(r.Stderr, "tcprules: fatal: ") || !strings.Contains(r.Stderr, "no space left on device") || strings.Count(r.Stderr, "\n") != 1 {
			t.Errorf("exit %d, stderr %q; want 111 and one fatal line with ENOSPC", r.Code, r.Stderr)
		}
		if now, _ := os.ReadFile(db); !bytes.Equal(now, old) {
			t.Error("the old database changed")
		}
		if names := flDirNames(dir); len(names) != 2 {
			t.Errorf("left behind: %v", names)
		}
	})
	t.Run("tlskeys", func(t *testing.T) {
		dir := flMount(t, 64<<10)
		keys := filepath.Join(dir, "tickets")
		for i := 0; i < 3; i++ {
			if r := run(t, baseEnv(), "", bin("tlskeys"), "rotate", keys, "8"); r.Code != 0 {
				t.Fatalf("tlskeys: %+v", r)
			}
		}
		old, _ := os.ReadFile(keys)
		if len(old) != 96 {
			t.Fatalf("key file of %d bytes", len(old))
		}
		flFill(t, dir)
		r := run(t, baseEnv(), "", bin("tlskeys"), "rotate", keys, "8")
		if r.Code != 111 || !strings.HasPrefix(r.Stderr, "tlskeys: fatal: ") || !strings.Contains(r.Stderr, keys) || !strings.Contains(r.Stderr, "no space left on device") {
			t.Errorf("exit %d, stderr %q; want 111 and a fatal line with the file and ENOSPC", r.Code, r.Stderr)
		}
		if now, _ := os.ReadFile(keys); !bytes.Equal(now, old) {
			t.Error("the old key file changed")
		}
		if names := flDirNames(dir); len(names) != 2 {
			t.Errorf("left behind: %v", names)
		}
	})
	t.Run("tlskeys-unwritable", func(t *testing.T) {
		needRoot(t)
		top := t.TempDir()
		os.Chmod(top, 0o755)
		keys := filepath.Join(top, "tickets")
		if r := run(t, baseEnv(), "", bin("tlskeys"), "new", keys); r.Code != 0 {
			t.Fatalf("tlskeys: %+v", r)
		}
		os.Chmod(keys, 0o644)
		old, _ := os.ReadFile(keys)
		// root writes anywhere: run it as nobody in root's directory.
		cmd := exec.Command(bin("tlskeys"), "rotate", keys)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var se bytes.Buffer
		cmd.Stderr = &se
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 111 || !strings.Contains(se.String(), "permission denied") || !strings.Contains(se.String(), keys) {
			t.Errorf("got %v, stderr %q; want 111 and a fatal line with the file and EACCES", err, se.String())
		}
		if now, _ := os.ReadFile(keys); !bytes.Equal(now, old) {
			t.Error("the old key file changed")
		}
		if names := flDirNames(top); len(names) != 1 {
			t.Errorf("left behind: %v", names)
		}
	})
}

// TestFaultRulesReplacedUnderLoad: tcprules rewrites the database in a
// loop while clients connect. Each connection runs under the old rules or
// the new ones — both variables of one version, whole — never a mix, a
// drop or a torn file. The database is large (thousands of rules, long
// values) so that a torn read would show.
func TestFaultRulesReplacedUnderLoad(t *testing.T) {
	w := t.TempDir()
	db := filepath.Join(w, "rules.cdb")
	version := func(v string) string {
		var b strings.Builder
		for i := 0; i < 3000; i++ {
			b.WriteString("10." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + ".1:deny\n")
		}
		b.WriteString("127.0.0.1:allow,RULESET=" + v + ",PAD=" + strings.Repeat(v, 1000) + "\n:deny\n")
		return b.String()
	}
	old, nu := version("old"), version("new")
	makeRules(t, db, old)
	s := serve(t, baseEnv(), "-c", "20", "-x", db, "127.0.0.1", "0", "sh", "-c", `echo "$RULESET ${#PAD} $PAD"`)
	stop := make(chan struct{})
	var writes int
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			text := old
			if i%2 == 0 {
				text = nu
			}
			cmd := exec.Command(tcprules(t), db, db+".tmp")
			cmd.Env, cmd.Stdin = baseEnv(), strings.NewReader(text)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("tcprules: %v %s", err, out)
				return
			}
			writes++
		}
	}()
	seen := map[string]int{}
	var mu sync.Mutex
	var cw sync.WaitGroup
	deadline := time.Now().Add(6 * time.Second)
	for c := 0; c < 4; c++ {
		cw.Add(1)
		go func() {
			defer cw.Done()
			for i := 0; i < 150 && time.Now().Before(deadline); i++ {
				out := string(dial(t, s.Addr, nil))
				f := strings.Fields(out)
				got := "torn or dropped: " + strconv.Quote(out)
				if len(f) == 3 && (f[0] == "old" || f[0] == "new") && f[1] == "3000" && f[2] == strings.Repeat(f[0], 1000) {
					got = f[0]
				}
				mu.Lock()
				seen[got]++
				mu.Unlock()
			}
		}()
	}
	cw.Wait()
	close(stop)
	wg.Wait()
	total := 0
	for k, n := range seen {
		total += n
		if k != "old" && k != "new" {
			t.Errorf("%d connection(s) saw %s", n, k)
		}
	}
	t.Logf("%d connections, %d rewrites: old %d, new %d", total, writes, seen["old"], seen["new"])
	if seen["old"] == 0 || seen["new"] == 0 || writes < 4 {
		t.Errorf("the loop did not exercise both versions: %v, %d writes", seen, writes)
	}
	if strings.Contains(s.Stderr.String(), "drop") {
		t.Errorf("tcpserver dropped connections:\n%s", s.Stderr)
	}
}

// flClientHello returns the first flight of a TLS client: a ClientHello.
func flClientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	go tls.Client(a, &tls.Config{ServerName: "localhost"}).Handshake()
	buf := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := b.Read(buf)
	if err != nil || n < 50 || buf[0] != 0x16 {
		t.Fatalf("no ClientHello: %d %v", n, err)
	}
	a.Close()
	b.Close()
	return buf[:n]
}

// TestHostileSlowlorisHandshake: a client that sends nothing, or trickles
// its ClientHello a byte at a time, holds the only slot of a -c 1 server
// for tlsd -K and no longer: the next client is served after the deadline
// (98 logged for the slow one).
func TestHostileSlowlorisHandshake(t *testing.T) {
	dir := certDir(t)
	hello := flClientHello(t)
	for _, mode := range []string{"silent", "trickle"} {
		t.Run(mode, func(t *testing.T) {
			s := serve(t, tlsdEnv(dir), "-c", "1", "127.0.0.1", "0", "tlsd", "-K", "1500", "cat")
			slow, err := net.Dial("tcp", s.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			waitLog(t, s, `accept conn=`)
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			if mode == "trickle" {
				go func() {
					for i := 0; i < len(hello)-1; i++ {
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Millisecond):
						}
						if _, err := slow.Write(hello[i : i+1]); err != nil {
							return
						}
					}
				}()
			}
			out, _, err := tlsDial(t, s.Addr, localhostTLS(t), []byte("next\n"))
			took := time.Since(start)
			if err != nil || string(out) != "next\n" {
				t.Fatalf("next client: %q %v", out, err)
			}
			t.Logf("the next client was served after %v", took.Round(time.Millisecond))
			if took < 1400*time.Millisecond {
				t.Errorf("the next client was served after %v, before the 1.5 s deadline", took)
			}
			if _, closed := flReadClose(slow, hangLimit); !closed {
				t.Error("the slow client's connection is still open")
			}
			if code := endCode(t, s); code != 98 {
				t.Errorf("slow client's session exit %d, want 98", code)
			}
			if !strings.Contains(s.Stderr.String(), "handshake") {
				t.Errorf("no handshake line in the log:\n%s", s.Stderr)
			}
		})
	}
}

// TestHostileSlowlorisCleartext: the same against ucspi-starttls's
// cleartext phase: silent after the greeting, or trickling one command
// line a byte at a time. After -t the client gets 421, the session ends
// (exit 1) and the only slot serves the next client.
func TestHostileSlowlorisCleartext(t *testing.T) {
	for _, mode := range []string{"silent", "trickle"} {
		t.Run(mode, func(t *testing.T) {
			s := flStarttlsServe(t, 1, "-t", "2")
			slow, _ := flDialSMTP(t, s.Addr)
			if r := slow.reply(); !strings.HasPrefix(r, "220 ") {
				t.Fatalf("greeting %q", r)
			}
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			if mode == "trickle" {
				go func() {
					line := "EHLO " + strings.Repeat("x", 200)
					for i := 0; i < len(line); i++ {
						select {
						case <-stop:
							return
						case <-time.After(100 * time.Millisecond):
						}
						if _, err := slow.c.Write([]byte{line[i]}); err != nil {
							return
						}
					}
				}()
			}
			if r := slow.reply(); r != "421 4.4.2 Timeout, closing connection" {
				t.Errorf("slow client got %q", r)
			}
			if _, closed := flReadClose(slow.c, hangLimit); !closed {
				t.Error("the slow client's connection is still open")
			}
			next, _ := flDialSMTP(t, s.Addr)
			if r := next.reply(); !strings.HasPrefix(r, "220 ") {
				t.Fatalf("next client: greeting %q", r)
			}
			took := time.Since(start)
			t.Logf("the next client was greeted after %v", took.Round(time.Millisecond))
			if took < 1900*time.Millisecond {
				t.Errorf("next client greeted after %v, before the 2 s timeout", took)
			}
			if r := next.cmd("QUIT"); !strings.HasPrefix(r, "221 ") {
				t.Errorf("QUIT: %q", r)
			}
			if code := endCode(t, s); code != 1 {
				t.Errorf("slow session exit %d, want 1", code)
			}
		})
	}
}

// TestHostileWrongProtocol: a ClientHello sent to the cleartext STARTTLS
// port, and plaintext SMTP sent to a TLS-on-connect port. Each ends
// cleanly and promptly: an SMTP error or a close, the documented exit
// code, no fatal line, nothing hanging.
func TestHostileWrongProtocol(t *testing.T) {
	t.Run("clienthello-to-starttls", func(t *testing.T) {
		s := flStarttlsServe(t, 5, "-t", "3")
		m, _ := flDialSMTP(t, s.Addr)
		m.reply()
		m.c.Write(flClientHello(t))
		out, closed := flReadClose(m.c, hangLimit)
		if !closed {
			t.Fatalf("the connection stayed open %v after a ClientHello in cleartext", hangLimit)
		}
		for _, l := range lines(strings.ReplaceAll(out, "\r\n", "\n")) {
			if len(l) < 4 || l[0] < '2' || l[0] > '5' {
				t.Errorf("not an SMTP reply: %q", l)
			}
		}
		code := endCode(t, s)
		if code != 1 && code != 0 {
			t.Errorf("exit %d; log:\n%s", code, s.Stderr)
		}
		if strings.Contains(s.Stderr.String(), "fatal") {
			t.Errorf("fatal line:\n%s", s.Stderr)
		}
		t.Logf("replies %q, exit %d", out, code)
	})
	t.Run("smtp-to-tls", func(t *testing.T) {
		dir := certDir(t)
		s := tlsdServe(t, tlsdEnv(dir), "cat")
		c, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("EHLO client.test\r\nMAIL FROM:<a@b.test>\r\n"))
		out, closed := flReadClose(c, hangLimit)
		if !closed {
			t.Fatalf("the connection stayed open %v after plaintext on a TLS port", hangLimit)
		}
		if strings.Contains(out, "EHLO") || strings.Contains(out, "MAIL") {
			t.Errorf("the plaintext came back: %q", out)
		}
		if code := endCode(t, s); code != 98 {
			t.Errorf("exit %d, want 98", code)
		}
		if !strings.Contains(s.Stderr.String(), "tlswrap: warning: handshake conn=") {
			t.Errorf("log:\n%s", s.Stderr)
		}
	})
}

// TestHostileBytesThroughStarttls: oversized lines, NULs, bare CRs and
// invalid UTF-8, before and inside TLS, through the real chain with
// mailfront. Each gets a reply and the session goes on; message text with
// the same bytes arrives whole.
func TestHostileBytesThroughStarttls(t *testing.T) {
	s := flStarttlsServe(t, 5, "-t", "10")
	m, _ := flDialSMTP(t, s.Addr)
	m.reply()
	hostile := []string{
		"EHLO " + strings.Repeat("a", 10000),
		"NO\x00OP",
		"EHLO \xff\xfe\xc3\x28",
		"HELO a\rb",
		"\x00\x00\x00",
	}
	check := func(phase string) {
		for _, h := range hostile {
			r := m.cmd(h)
			if len(r) < 4 || r[0] < '2' || r[0] > '5' {
				t.Errorf("%s: %.20q got %q", phase, h, r)
			}
			if strings.Contains(h, strings.Repeat("a", 1000)) && r != "500 5.5.2 Line too long" {
				t.Errorf("%s: long line got %q", phase, r)
			}
			if r := m.cmd("NOOP"); !strings.HasPrefix(r, "250") {
				t.Fatalf("%s: NOOP after %.20q got %q", phase, h, r)
			}
		}
	}
	check("cleartext")
	m.cmd("EHLO client.test")
	m.starttls()
	if r := m.cmd("EHLO client.test"); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("EHLO in TLS: %q", r)
	}
	check("tls")
	for _, l := range []string{"MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "DATA"} {
		m.cmd(l)
	}
	body := "x: \xff\xfe\xc3\x28\r\n" + strings.Repeat("b", 100000) + "\r\nbare\rcr\r\n"
	io.WriteString(m.c, body)
	if r := m.cmd("."); !strings.HasPrefix(r, "250 Received ") {
		t.Errorf("end of data: %q", r)
	}
	if r := m.cmd("QUIT"); !strings.HasPrefix(r, "221") {
		t.Errorf("QUIT: %q", r)
	}
	if code := endCode(t, s); code != 0 {
		t.Errorf("exit %d; log:\n%s", code, s.Stderr)
	}

	// A NUL in message text is passed through as it is (message text is
	// not parsed); mailfront 2.12's echo backend dies on it (SIGSEGV, a
	// mailfront bug). ucspi-starttls then ends the session cleanly: the
	// client sees the close, the exit is 111, nothing hangs.
	m2, _ := flDialSMTP(t, s.Addr)
	m2.reply()
	m2.cmd("EHLO client.test")
	m2.starttls()
	for _, l := range []string{"EHLO client.test", "MAIL FROM:<a@b.test>", "RCPT TO:<c@d.test>", "DATA"} {
		m2.cmd(l)
	}
	io.WriteString(m2.c, "x: \x00\r\n.\r\n")
	if out, closed := flReadClose(m2.c, hangLimit); !closed {
		t.Errorf("session still open %v after the app died (read %q)", hangLimit, out)
	}
	waitLog(t, s, `end conn=\d+ ip=\S+ port=\d+ status=111 `)
}
