package privdrop

import (
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

// ApplyThread is Apply for a program that execs right after it, on the
// same goroutine, with that goroutine locked to its OS thread
// (runtime.LockOSThread before the call). It changes only the calling
// thread's credentials, which is what execve passes on (the kernel ends
// every other thread at exec). That saves the stop-the-world round that
// syscall.Setgroups, Setgid and Setuid make on every thread for each call
// (≈ 0.3 ms per exec, measured by t/bench/hop.sh).
//
// Never use it in a process that goes on running Go code after the drop:
// its other threads keep the old ids. Use Apply there.
func ApplyThread(c Cred) error {
	if !c.Set {
		return nil
	}
	if err := c.Check(); err != nil {
		return err
	}
	groups := c.Groups
	if len(groups) == 0 {
		groups = []int{c.GID}
	}
	// unix.Setgroups is a raw system call on this thread; unix.Setresgid
	// and unix.Setresuid forward to the all-threads syscall versions, so
	// those two are made here directly.
	if err := unix.Setgroups(groups); err != nil {
		return exitcode.Temp("set supplementary groups to", joinIDs(groups), err)
	}
	g := uintptr(c.GID)
	if _, _, e := syscall.RawSyscall(sysSetresgid, g, g, g); e != 0 {
		return exitcode.Temp("set gid to", strconv.Itoa(c.GID), e)
	}
	u := uintptr(c.UID)
	if _, _, e := syscall.RawSyscall(sysSetresuid, u, u, u); e != 0 {
		return exitcode.Temp("set uid to", strconv.Itoa(c.UID), e)
	}
	return nil
}

// NoNewPrivsThread sets PR_SET_NO_NEW_PRIVS on the calling thread only,
// under the same rule as ApplyThread: the goroutine is locked to its
// thread and execs next.
func NoNewPrivsThread() error {
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return exitcode.Temp("set", "no_new_privs", err)
	}
	return nil
}
