// Package t holds the black-box tests: they build the real binaries with the
// release flags and run real chains on 127.0.0.1 and ::1 against real peers.
package t

import (
	"bufio"
	"bytes"
	"context"
	"errors"
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

// binDir holds the binaries under test: $TLSCHAIN_BIN (the Makefile's
// bin/), or a fresh release build made by TestMain.
var binDir string

func TestMain(m *testing.M) {
	binDir = os.Getenv("TLSCHAIN_BIN")
	if binDir == "" {
		dir, err := os.MkdirTemp("", "tlschain-bin-")
		if err != nil {
			panic(err)
		}
		// 0755, not MkdirTemp's 0700: tlsd spawns the engine as an
		// unprivileged uid, which must be able to exec it.
		os.Chmod(dir, 0o755)
		buildEach(dir)
		binDir = dir
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// buildEach builds every command with the release flags, one at a time,
// so that one broken program (mid-edit) fails only the tests that use it.
func buildEach(dir string) {
	cmds, _ := filepath.Glob("../cmd/*")
	for _, c := range cmds {
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", dir+"/", "./"+c)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			os.Stderr.WriteString("t: build of " + c + " failed\n")
		}
	}
}

// bin returns the path of one of the suite's programs.
func bin(name string) string { return filepath.Join(binDir, name) }

// need skips the test when a peer tool is missing, except under CI or
// TLSCHAIN_REQUIRE_TOOLS=1 (make check installs every tool), where a
// missing tool fails the test: a skipped test there would hide a hole.
func need(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") != "" || os.Getenv("TLSCHAIN_REQUIRE_TOOLS") == "1" {
				t.Fatalf("%s is not installed (make check installs it)", tool)
			}
			t.Skipf("%s is not installed (make deps names the packages it could not install)", tool)
		}
	}
}

// needRoot skips tests that must change uids.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// baseEnv is a clean environment for the programs under test: the binaries
// first in PATH, then the system's (and /usr/sbin for mailfront).
func baseEnv(extra ...string) []string {
	env := []string{
		"PATH=" + binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	}
	if d := os.Getenv("GOCOVERDIR"); d != "" {
		env = append(env, "GOCOVERDIR="+d)
	}
	return append(env, extra...)
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hangLimit is how long a test waits for something that a timeout of the
// program under test must end (in seconds): past it, the program hangs.
// It is no speed goal (make bench measures speed): make check must pass on
// a slow, loaded machine.
const hangLimit = 2 * time.Minute

// testsslLimit bounds one testssl scan, which takes 15–60 s.
const testsslLimit = 10 * time.Minute

// waitFor polls cond every 10 ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

// server is a running tcpserver (or any program started with -1 that
// prints its port on stdout).
type server struct {
	t      testing.TB
	cmd    *exec.Cmd
	Port   int
	Addr   string // host:port to dial
	Stderr *syncBuffer
	done   chan struct{}
	err    error
}

// serve starts "tcpserver -1 args..." with env and waits until it prints
// the bound port. host is the address tcpserver binds (args[0] by
// convention); the dial address uses it, with 0.0.0.0 and :: mapped to
// loopback. Cleanup stops it.
func serve(t testing.TB, env []string, args ...string) *server {
	t.Helper()
	return serveProg(t, env, bin("tcpserver"), append([]string{"-1"}, args...)...)
}

// serveProg starts path args... and reads the port from its first stdout
// line.
func serveProg(t testing.TB, env []string, path string, args ...string) *server {
	t.Helper()
	return serveSetup(t, env, nil, path, args...)
}

// serveSetup is serveProg with setup, when not nil, called on the command
// before it starts (to add ExtraFiles or a Stdin).
func serveSetup(t testing.TB, env []string, setup func(*exec.Cmd), path string, args ...string) *server {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = env
	s := &server{t: t, cmd: cmd, Stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = s.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(cmd)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { checkLog(t, path, s.Stderr.String()) }) // after the stop below
	t.Cleanup(s.stop)
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		line <- l
	}()
	select {
	case l := <-line:
		p, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil {
			t.Fatalf("%s printed %q, not a port; stderr: %s", path, l, s.Stderr)
		}
		s.Port = p
	case <-time.After(hangLimit):
		t.Fatalf("%s did not print its port; stderr: %s", path, s.Stderr)
	}
	host := "127.0.0.1"
	for _, a := range args {
		if a == "::" || a == "::1" {
			host = "::1"
			break
		}
		if net.ParseIP(a) != nil && a != "0.0.0.0" {
			host = a
			break
		}
	}
	s.Addr = net.JoinHostPort(host, strconv.Itoa(s.Port))
	return s
}

// stop sends TERM and waits up to 5 s, then KILL.
func (s *server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

// dial connects to addr, writes in, half-closes, and returns all it reads
// (within 10 s).
func dial(t testing.TB, addr string, in []byte) []byte {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go func() {
		if len(in) > 0 {
			c.Write(in)
		}
		c.(*net.TCPConn).CloseWrite()
	}()
	out, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read from %s: %v (got %q)", addr, err, out)
	}
	return out
}

// result is what a finished command left.
type result struct {
	Stdout, Stderr string
	Code           int
}

// run runs path args... with env and stdin, failing t past hangLimit.
func run(t testing.TB, env []string, stdin string, path string, args ...string) result {
	t.Helper()
	return runFor(t, hangLimit, env, stdin, path, args...)
}

// runFor is run with a limit of its own: testssl's scans take a minute on
// a loaded machine (testsslLimit).
func runFor(t testing.TB, limit time.Duration, env []string, stdin string, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %s: %v", path, err)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in %v; stderr: %s", path, limit, se.String())
	}
	checkLog(t, path, se.String())
	return result{so.String(), se.String(), code}
}

// suiteProgs are the programs of the suite, as they name themselves in
// their log lines.
const suiteProgs = `tcpserver|tcpclient|tlsd|tlsc|tlswrap|tlskeyholder|tlsserver|ucspi-starttls|privdrop|proxy-server|` +
	`tcprules|tcprulescheck|tlskeys|tlspolicy|tlsa-lookup`

// logShape is a log line after its program's name.
const logShape = `: (info|warning|fatal): [a-z][a-z0-9-]*` +
	`( [a-z][a-z0-9-]*=([!#-<>-\[\]-~]+|"([^"\\\x00-\x1f\x7f]|\\.)*"))*$`

// logGrammar is the one shape of every line a program of the suite writes
// (doc/ucspi.md, "Log lines"): prog, level, verb, then key=value fields, a
// value bare (printable ASCII but a double quote, '=' or a backslash) or in double quotes
// with Go's escapes, never a control character.
var logGrammar = regexp.MustCompile(`^(` + suiteProgs + `)` + logShape)

// suiteLine matches a line written by a program of the suite.
var suiteLine = regexp.MustCompile(`^(` + suiteProgs + `): `)

// checkLog fails t for each line of a stderr (of who) that a program of
// the suite wrote in another shape than logGrammar: every test that
// captures a log enforces the format. Lines of other programs (openssl,
// mailfront, a shell) are theirs.
func checkLog(t testing.TB, who, stderr string) {
	t.Helper()
	for _, l := range lines(stderr) {
		if suiteLine.MatchString(l) && !logGrammar.MatchString(l) {
			t.Errorf("%s: a log line not in the suite's format: %q", filepath.Base(who), l)
		}
	}
}

// fatalErr is the part of a fatal line (exitcode.Report's) that says the
// exit status and the start of the error text, for strings.Contains:
// ` status=96 err="unable to read KEYFILE …`. It leaves out the fields
// before it (the verb, a connection's) and the closing quote.
func fatalErr(code int, msg string) string {
	q := strconv.Quote(msg)
	return " status=" + strconv.Itoa(code) + " err=" + q[:len(q)-1]
}

// fatalEnd is fatalErr for the whole error text: the line ends after it.
func fatalEnd(code int, msg string) string { return fatalErr(code, msg) + "\"\n" }

// fatalLine is the whole fatal line of prog outside a connection.
func fatalLine(prog string, code int, msg string) string {
	return prog + ": fatal: exit" + fatalEnd(code, msg)
}

// usageLine is the start of prog's fatal line for a usage error.
func usageLine(prog string) string { return prog + ": fatal: usage status=100 " }

// lines returns s as lines without the trailing newline.
func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// envMap parses "env" output (NAME=value lines).
func envMap(s string) map[string]string {
	m := map[string]string{}
	for _, l := range lines(strings.ReplaceAll(s, "\r\n", "\n")) {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// portsGiven are the ports freePort has handed out in this run.
var portsGiven = struct {
	sync.Mutex
	m    map[int]bool
	next int
}{m: map[int]bool{}}

// freePort returns a port on addr's host that nobody listens on, for a
// server a test starts later. The port comes from below the kernel's
// ephemeral range, so the outgoing connections of this run (or of anything
// else on the machine) cannot take it in the meantime, and it is never
// handed out twice in one run: a port bound to :0 and released can come
// back from the next bind to :0, and two services given one port fail.
func freePort(t *testing.T, network, addr string) int {
	t.Helper()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				low = n
			}
		}
	}
	portsGiven.Lock()
	defer portsGiven.Unlock()
	if portsGiven.next == 0 {
		// Start at a point set by the pid, so two test binaries run side
		// by side rarely try the same ports.
		portsGiven.next = 1024 + os.Getpid()%(low-1024)
	}
	for range low - 1024 {
		p := portsGiven.next
		portsGiven.next++
		if portsGiven.next >= low {
			portsGiven.next = 1024
		}
		if portsGiven.m[p] {
			continue
		}
		ln, err := net.Listen(network, net.JoinHostPort(host, strconv.Itoa(p)))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven.m[p] = true
		return p
	}
	t.Fatalf("no free port on %s below %d", host, low)
	return 0
}
