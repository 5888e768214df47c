package chain

import (
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/landlock"
)

// probeEnv makes the test binary a probe: it reports what it may do from
// inside the domain it was started in, on stdout, and exits.
const probeEnv = "TLSCHAIN_CHAIN_PROBE"

func TestMain(m *testing.M) {
	if addr := os.Getenv(probeEnv); addr != "" {
		probe(addr)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// probe reports: no_new_privs, landlock.Confined, opening a file, listing
// /, a TCP connect; or, given "slack", only its timer slack.
func probe(addr string) {
	if addr == "slack" {
		ns, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		os.Stdout.WriteString("slack " + strconv.Itoa(ns) + "\n")
		return
	}
	nnp, _ := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	out := "nnp " + strconv.Itoa(nnp) + "\nconfined " + strconv.FormatBool(landlock.Confined())
	_, err := os.ReadFile("/etc/passwd")
	out += "\nopen " + errText(err)
	_, err = os.ReadDir("/")
	out += "\nlist " + errText(err)
	c, err := net.Dial("tcp", addr)
	if err == nil {
		c.Close()
	}
	out += "\nconnect " + errText(err) + "\n"
	os.Stdout.WriteString(out)
}

func errText(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, fs.ErrPermission):
		return "denied"
	}
	return err.Error()
}

// A child spawned with a Landlock ruleset starts with no_new_privs, cannot
// open or list files or connect, and the spawner's threads stay free.
func TestSpawnConfined(t *testing.T) {
	abi := landlock.ABI()
	if abi < 1 {
		t.Skip("no Landlock in this kernel")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, err := landlock.Deny(self)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got := spawnProbe(t, &Child{Landlock: r}, self, ln.Addr().String())
			want := "nnp 1\nconfined true\nopen denied\nlist denied\nconnect denied\n"
			if abi < 4 { // TCP rules came with ABI 4
				want = "nnp 1\nconfined true\nopen denied\nlist denied\nconnect ok\n"
			}
			if got != want {
				t.Errorf("confined child reports\n%s, want\n%s", got, want)
			}
		}()
	}
	wg.Wait()
	// The same probe spawned plainly can do all of it; so can every thread
	// of this process (each confined spawn ran on a thread that ended).
	if got := spawnProbe(t, &Child{}, self, ln.Addr().String()); got != "nnp 0\nconfined false\nopen ok\nlist ok\nconnect ok\n" {
		t.Errorf("plain child reports\n%s", got)
	}
	var free sync.WaitGroup
	for i := 0; i < 32; i++ {
		free.Add(1)
		go func() {
			defer free.Done()
			if _, err := os.ReadFile("/etc/passwd"); err != nil {
				t.Errorf("spawner thread: %v", err)
			}
		}()
	}
	free.Wait()

	// A thread that cannot enter the domain: a ConfineError, no child.
	closed, _ := landlock.Deny(self)
	closed.Close()
	var ce *ConfineError
	if _, err := Spawn(&Child{Path: self, Argv: []string{"x"}, Landlock: closed}); !errors.As(err, &ce) {
		t.Errorf("a closed ruleset: %v", err)
	}
	// A ruleset allows one file: any other is not executable.
	if _, err := Spawn(&Child{Path: "/bin/sh", Argv: []string{"sh", "-c", "exit 0"}, Landlock: r}); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Errorf("exec of a file the ruleset does not name: %v", err)
	}
}

// A child spawned with TimerSlack has it on its threads, confined or not;
// the thread that spawned it keeps its own.
func TestSpawnTimerSlack(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	children := map[string]*Child{"plain": {TimerSlack: 7 * time.Millisecond}}
	if landlock.ABI() >= 1 {
		r, err := landlock.Deny(self)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		children["confined"] = &Child{TimerSlack: 7 * time.Millisecond, Landlock: r}
	}
	for name, c := range children {
		if got := spawnProbe(t, c, self, "slack"); got != "slack 7000000\n" {
			t.Errorf("%s child reports %q, want slack 7000000", name, got)
		}
	}
	if got := spawnProbe(t, &Child{}, self, "slack"); got != "slack "+strconv.Itoa(before)+"\n" {
		t.Errorf("child without TimerSlack reports %q, want the spawner's %d", got, before)
	}
	if after, _ := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); after != before {
		t.Errorf("the spawning thread's slack is %d after the spawns, was %d", after, before)
	}
}

// spawnProbe runs the test binary as a probe with c's confinement and
// returns its report.
func spawnProbe(t *testing.T, c *Child, self, addr string) string {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Error(err)
		return ""
	}
	defer pr.Close()
	c.Path, c.Argv = self, []string{self}
	c.Env = []string{probeEnv + "=" + addr}
	// The runtime opens /dev/null in place of a closed fd 0–2 at start,
	// which a confined child cannot: give it all three.
	c.Files = []int{int(pr.Fd()), int(pw.Fd()), 2}
	pid, err := Spawn(c)
	pw.Close()
	if err != nil {
		t.Error(err)
		return ""
	}
	out, _ := io.ReadAll(pr)
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	return string(out)
}
