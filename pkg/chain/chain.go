// Package chain hands the process over to the rest of the command line
// (chainloading), spawns helper processes with an exact fd map and
// credentials, and finds the suite's sibling binaries. It is the only
// package that calls exec or fork.
package chain

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/landlock"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// LookPath finds prog the way execvp does, with PATH taken from envp (the
// environment the program will run with), not from our own. A name with a
// slash is used as it is. Errors carry exit code 127 (not found) or 126
// (found but not executable), the shell's convention.
func LookPath(prog string, envp []string) (string, error) {
	if prog == "" {
		return "", exitcode.New(exitcode.NotFound, "run", "an empty program name", nil)
	}
	if strings.IndexByte(prog, '/') >= 0 {
		return prog, checkExec(prog, prog)
	}
	path, ok := ucspi.Getenv(envp, ucspi.Path)
	if !ok {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	var denied error
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		p := dir + "/" + prog
		err := checkExec(prog, p)
		if err == nil {
			return p, nil
		}
		if exitcode.Code(err) == exitcode.NotExecutable && denied == nil {
			denied = err
		}
	}
	if denied != nil {
		return "", denied
	}
	return "", exitcode.New(exitcode.NotFound, "find", prog, errors.New("not found in PATH"))
}

func checkExec(prog, p string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(p, &st); err != nil {
		return exitcode.New(exitcode.NotFound, "run", prog, err)
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR {
		return exitcode.New(exitcode.NotExecutable, "run", prog, syscall.EISDIR)
	}
	if err := syscall.Access(p, 1); err != nil { // X_OK
		return exitcode.New(exitcode.NotExecutable, "run", prog, err)
	}
	return nil
}

// Exec replaces the process with argv[0] (found with LookPath in envv's
// PATH), with envv as its whole environment. It returns only on failure.
// Signal handlers the Go runtime installed are reset by execve itself; the
// fds 0–2 are put back in blocking mode because the runtime may have
// polled them.
func Exec(argv, envv []string) error {
	if len(argv) == 0 {
		return exitcode.UsageError("no program to run")
	}
	path, err := LookPath(argv[0], envv)
	if err != nil {
		return err
	}
	for fd := 0; fd <= 2; fd++ {
		syscall.SetNonblock(fd, false)
	}
	flushCoverage()
	err = syscall.Exec(path, argv, envv)
	code := exitcode.Temporary
	if err == syscall.ENOENT {
		code = exitcode.NotFound
	} else if err == syscall.EACCES || err == syscall.ENOEXEC || err == syscall.EPERM {
		code = exitcode.NotExecutable
	}
	return exitcode.New(code, "exec", argv[0], err)
}

// Child describes a process to spawn.
type Child struct {
	Path string
	Argv []string
	Env  []string
	// Files lists the child's fds: Files[i] becomes fd i in the child;
	// -1 leaves fd i closed. Every other fd is closed by exec, since the
	// suite keeps all its own fds close-on-exec.
	Files []int
	// Cred, when set, gives the child these ids from its first
	// instruction, supplementary groups included (nil Groups clears them).
	Cred *syscall.Credential
	// CPUs, when set, is the child's CPU affinity from its first
	// instruction: every thread it makes inherits it.
	CPUs *unix.CPUSet
	// TimerSlack, when nonzero, is the child's timer slack
	// (PR_SET_TIMERSLACK): how late the kernel may end the sleeps of
	// every thread it makes, so as to fold wake-ups together.
	TimerSlack time.Duration
	// Landlock, when set, starts the child with no_new_privs inside a new
	// domain of this ruleset, which must allow it to execute Path. The
	// spawn then runs on a thread of its own that ends with it.
	Landlock *landlock.Ruleset
}

// Spawn starts c and returns its pid. Spawn uses syscall.ForkExec (a
// vfork-style clone whose cost does not grow with the heap), not os/exec.
func Spawn(c *Child) (int, error) {
	files := make([]uintptr, len(c.Files))
	for i, fd := range c.Files {
		files[i] = uintptr(fd)
	}
	attr := &syscall.ProcAttr{
		Env:   c.Env,
		Files: files,
		Sys:   &syscall.SysProcAttr{Credential: c.Cred},
	}
	flushCoverage()
	if c.Landlock != nil {
		return spawnConfined(c, attr)
	}
	if c.CPUs != nil || c.TimerSlack != 0 {
		// The child inherits these from the spawning thread: set them on
		// this thread alone, locked, and put them back. A thread the
		// runtime starts meanwhile comes from its template thread, not
		// from this one.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer setThread(c)()
	}
	return forkExec(c, attr)
}

// setThread gives the calling thread, which must be locked, c's CPU
// affinity and timer slack, which a child inherits from the thread that
// spawns it. It returns what puts the thread back as it was.
func setThread(c *Child) (restore func()) {
	var undo []func()
	if c.CPUs != nil {
		var old unix.CPUSet
		if unix.SchedGetaffinity(0, &old) == nil && unix.SchedSetaffinity(0, c.CPUs) == nil {
			undo = append(undo, func() { unix.SchedSetaffinity(0, &old) })
		}
	}
	if c.TimerSlack > 0 {
		old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
		if err == nil && unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(c.TimerSlack), 0, 0, 0) == nil {
			undo = append(undo, func() { unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) })
		}
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}

func forkExec(c *Child, attr *syscall.ProcAttr) (int, error) {
	pid, err := syscall.ForkExec(c.Path, c.Argv, attr)
	if err != nil {
		code := exitcode.Temporary
		if err == syscall.ENOENT {
			code = exitcode.NotFound
		} else if err == syscall.EACCES {
			code = exitcode.NotExecutable
		}
		return 0, exitcode.New(code, "spawn", c.Path, err)
	}
	return pid, nil
}

// ConfineError is a spawn with Child.Landlock that failed before the
// fork: the spawning thread could not be confined (a kernel or a seccomp
// filter that refuses landlock_restrict_self, say). Nothing was started.
type ConfineError struct{ Err error }

func (e *ConfineError) Error() string {
	return "unable to confine the spawning thread: " + e.Err.Error()
}

// spawnConfined spawns c from a new thread that first sets no_new_privs
// and enters c.Landlock's domain (and takes c.CPUs and c.TimerSlack), all
// of which the child inherits: it starts confined, and the runtime's
// start-up reads of /proc and /sys fail at once instead of parsing mount
// tables. Nothing leaves a domain, so the thread ends with the spawn.
func spawnConfined(c *Child, attr *syscall.ProcAttr) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread ends when this goroutine does.
		runtime.LockOSThread()
		setThread(c)
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			done <- result{0, &ConfineError{errors.New("set no_new_privs: " + err.Error())}}
			return
		}
		if err := c.Landlock.RestrictThread(); err != nil {
			done <- result{0, &ConfineError{err}}
			return
		}
		pid, err := forkExec(c, attr)
		done <- result{pid, err}
	}()
	r := <-done
	return r.pid, r.err
}

// executable is os.Executable, read once: it is a readlink of
// /proc/self/exe, and a server asks for each connection.
var executable = sync.OnceValues(os.Executable)

// Sibling returns the path of the suite's program name: the file of that
// name beside the running executable if there is one (so a chain built from
// one install uses one version throughout), else name looked up in PATH.
func Sibling(name string, envp []string) (string, error) {
	if self, err := executable(); err == nil {
		if i := strings.LastIndexByte(self, '/'); i >= 0 {
			p := self[:i+1] + name
			if checkExec(name, p) == nil {
				return p, nil
			}
		}
	}
	return LookPath(name, envp)
}
