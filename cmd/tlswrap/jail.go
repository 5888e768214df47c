package main

import (
	"errors"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/landlock"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/seccomp"
)

// lastFD is the highest fd the engine keeps: 0–6 are its interface, and
// 7 is an opaque lock the spawner may pass (tlsd --engine-uids holds a
// uid-pool slot with it for as long as the engine lives).
const lastFD = 7

// harden runs first: no stray fds, never root, no ptrace or core dump by
// a same-uid process, no privilege gain through exec.
func harden() error {
	// Close, not just mark close-on-exec: the engine never execs, and an
	// fd it does not need is an fd a compromise could use.
	if err := unix.CloseRange(lastFD+1, ^uint(0), 0); err != nil && err != unix.ENOSYS {
		return exitcode.New(exitcode.TLSSetup, "close", "inherited fds", err)
	}
	if err := refuseRoot(); err != nil {
		return err
	}
	// Not dumpable: another process of the same uid (another engine)
	// cannot ptrace this one or read its /proc/PID/mem.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return exitcode.New(exitcode.TLSSetup, "clear", "the dumpable flag", err)
	}
	// A spawner that confined the engine (--confined) set no_new_privs already,
	// and every thread inherits it: no stop-the-world round to set it.
	if on, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0); err == nil && on == 1 {
		return nil
	}
	if err := privdrop.NoNewPrivs(); err != nil {
		return exitcode.New(exitcode.TLSSetup, "set", "no_new_privs", errors.Unwrap(err))
	}
	return nil
}

// errRoot explains the refusal: the spawner sets the credentials.
var errRoot = errors.New("refusing to run as root: the spawner must start the engine with TLS_UID/TLS_GID")

func refuseRoot() error {
	r, e, s := unix.Getresuid()
	if r == 0 || e == 0 || s == 0 {
		return exitcode.New(exitcode.TLSSetup, "start", "as uid 0", errRoot)
	}
	r, e, s = unix.Getresgid()
	if r == 0 || e == 0 || s == 0 {
		return exitcode.New(exitcode.TLSSetup, "start", "as gid 0", errRoot)
	}
	groups, _ := syscall.Getgroups()
	for _, g := range groups {
		if g == 0 {
			return exitcode.New(exitcode.TLSSetup, "start", "with supplementary group 0", errRoot)
		}
	}
	return nil
}

// jail confines the engine once its fds are in place, before it reads a
// byte from the network:
//   - Landlock: no file system access at all (no open, no exec, no
//     directory listing), no TCP bind or connect, no abstract unix socket
//     or signal outside its own domain. It works unprivileged, on every
//     thread, and needs no empty directory (doc/tlswrap.md has why this
//     and not chroot). With --confined the spawner started the engine inside such
//     a domain already; the engine checks that it is confined and makes
//     no domain of its own.
//   - RLIMIT_NOFILE 0: no new fd of any kind. RLIMIT_FSIZE 0: no file
//     growth (skipped when stderr is a regular file, the log). RLIMIT_DATA:
//     a memory ceiling.
//   - seccomp (pkg/seccomp): no system call that acts on another process
//     (a signal, its limits, its priority, its memory), shares state with
//     the other processes of the uid, or forks. Landlock and the dumpable
//     flag leave those open between engines of one TLS_UID.
//
// Without --require-jail a kernel without Landlock or seccomp filters is
// tolerated; missing names what it lacks, for the -v jail line.
func jail(o *options) (missing []string, err error) {
	if !o.bornJailed || !landlock.Confined() {
		if err := enterLandlock(); err != nil {
			if o.requireJail || err != landlock.ErrUnavailable {
				return nil, exitcode.New(exitcode.TLSSetup, "enter", "the Landlock jail", err)
			}
			missing = append(missing, "no-landlock")
		}
	}
	if o.memLimitMiB > 0 {
		n := uint64(o.memLimitMiB) << 20
		if err := unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			return nil, exitcode.New(exitcode.TLSSetup, "set", "RLIMIT_DATA", err)
		}
	}
	var st unix.Stat_t
	if unix.Fstat(2, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{}); err != nil {
			return nil, exitcode.New(exitcode.TLSSetup, "set", "RLIMIT_FSIZE", err)
		}
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{}); err != nil {
		return nil, exitcode.New(exitcode.TLSSetup, "set", "RLIMIT_NOFILE", err)
	}
	if err := seccomp.Install(); err != nil {
		if o.requireJail || err != seccomp.ErrUnavailable {
			return nil, exitcode.New(exitcode.TLSSetup, "enter", "the seccomp filter", err)
		}
		missing = append(missing, "no-seccomp")
	}
	return missing, nil
}

// enterLandlock puts the engine into a domain of its own.
func enterLandlock() error {
	r, err := landlock.Deny("")
	if err != nil {
		return err
	}
	defer r.Close()
	return r.Restrict()
}

// checkFDs makes sure the engine's fds are there: a spawner that forgot
// one gets a clear 97, not a confusing EBADF later.
func checkFDs() error {
	for fd := 0; fd <= 6; fd++ {
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil {
			return exitcode.New(exitcode.TLSSetup, "use", "fd "+strconv.Itoa(fd), err)
		}
	}
	return nil
}
