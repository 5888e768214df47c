package engine

import (
	"errors"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/privdrop"
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

// errNoLandlock: the kernel lacks Landlock (or it is disabled at boot).
var errNoLandlock = errors.New("Landlock is not available")

// jail confines the engine once its fds are in place, before it reads a
// byte from the network:
//   - Landlock: no file system access at all (no open, no exec, no
//     directory listing), no TCP bind or connect, no abstract unix socket
//     or signal outside its own domain. It works unprivileged, on every
//     thread, and needs no empty directory (doc/tlswrap.md has why this
//     and not chroot).
//   - RLIMIT_NOFILE 0: no new fd of any kind. RLIMIT_FSIZE 0: no file
//     growth (skipped when stderr is a regular file, the log). RLIMIT_DATA:
//     a memory ceiling.
//
// Without -j a kernel without Landlock is tolerated and reported at -v.
func jail(o *options) (landlocked bool, err error) {
	if err := landlock(); err != nil {
		if o.requireJail || err != errNoLandlock {
			return false, exitcode.New(exitcode.TLSSetup, "enter", "the Landlock jail", err)
		}
	} else {
		landlocked = true
	}
	if o.memLimitMiB > 0 {
		n := uint64(o.memLimitMiB) << 20
		if err := unix.Setrlimit(unix.RLIMIT_DATA, &unix.Rlimit{Cur: n, Max: n}); err != nil {
			return landlocked, exitcode.New(exitcode.TLSSetup, "set", "RLIMIT_DATA", err)
		}
	}
	var st unix.Stat_t
	if unix.Fstat(2, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		if err := unix.Setrlimit(unix.RLIMIT_FSIZE, &unix.Rlimit{}); err != nil {
			return landlocked, exitcode.New(exitcode.TLSSetup, "set", "RLIMIT_FSIZE", err)
		}
	}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{}); err != nil {
		return landlocked, exitcode.New(exitcode.TLSSetup, "set", "RLIMIT_NOFILE", err)
	}
	return landlocked, nil
}

// landlockAttr is struct landlock_ruleset_attr up to the ABI 6 fields.
type landlockAttr struct {
	fs, net, scoped uint64
}

// landlock forbids every file system and TCP access the running kernel
// can restrict. A ruleset without rules grants nothing.
func landlock() error {
	abi, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 || int(abi) < 1 {
		return errNoLandlock
	}
	var a landlockAttr
	switch {
	case abi >= 5:
		a.fs = 0xffff // up to LANDLOCK_ACCESS_FS_IOCTL_DEV
	case abi >= 3:
		a.fs = 0x7fff // up to TRUNCATE
	case abi >= 2:
		a.fs = 0x3fff // up to REFER
	default:
		a.fs = 0x1fff
	}
	if abi >= 4 {
		a.net = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
	}
	if abi >= 6 {
		a.scoped = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
	}
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&a)), unsafe.Sizeof(a), 0)
	if e != 0 {
		return errors.New("landlock_create_ruleset (ABI " + strconv.Itoa(int(abi)) + "): " + e.Error())
	}
	defer unix.Close(int(fd))
	// landlock_restrict_self confines only the calling thread: run it on
	// every thread of the process (needs a build without cgo). Threads
	// the runtime starts later inherit the domain from their creator.
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
		return errors.New("landlock_restrict_self: " + e.Error())
	}
	return nil
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
