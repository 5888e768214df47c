// Package landlock builds the TLS engine's Landlock domain: no file system
// access, no TCP bind or connect, no abstract unix socket or signal outside
// the domain. The engine enters it itself (Restrict, every thread), or a
// spawner puts a thread of its own into it and starts the engine from
// there (RestrictThread), so the engine starts confined.
package landlock

import (
	"errors"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrUnavailable: the kernel lacks Landlock, or it is off at boot.
var ErrUnavailable = errors.New("Landlock is not available")

// attr is struct landlock_ruleset_attr up to the ABI 6 fields.
type attr struct {
	fs, net, scoped uint64
}

// ABI returns the kernel's Landlock ABI version, 0 without Landlock.
func ABI() int {
	abi, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(abi)
}

// Ruleset is a ruleset ready to be enforced: an fd, close-on-exec, kept
// for the process's life by whoever enforces it often.
type Ruleset struct{ fd int }

// Deny returns a ruleset that restricts every file system and TCP access
// the running kernel can restrict, and (ABI 6) abstract unix sockets and
// signals to the domain. A ruleset without rules grants nothing. exe, when
// not "", is the one file the domain may read and execute: the program a
// spawner starts inside it.
func Deny(exe string) (*Ruleset, error) {
	abi := ABI()
	if abi < 1 {
		return nil, ErrUnavailable
	}
	var a attr
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
	// A kernel older than a field takes the longer struct as long as the
	// fields it does not know are zero.
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&a)), unsafe.Sizeof(a), 0)
	if e != 0 {
		return nil, errors.New("landlock_create_ruleset (ABI " + strconv.Itoa(abi) + "): " + e.Error())
	}
	r := &Ruleset{fd: int(fd)}
	if exe != "" {
		if err := r.allowExec(exe); err != nil {
			r.Close()
			return nil, err
		}
	}
	return r, nil
}

// allowExec lets the domain read and execute the file exe (that inode: a
// file renamed over exe later is not allowed).
func (r *Ruleset) allowExec(exe string) error {
	f, err := unix.Open(exe, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return errors.New("open " + exe + ": " + err.Error())
	}
	defer unix.Close(f)
	pb := unix.LandlockPathBeneathAttr{
		Allowed_access: unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_READ_FILE,
		Parent_fd:      int32(f),
	}
	_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(r.fd), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&pb)), 0, 0, 0)
	if e != 0 {
		return errors.New("landlock_add_rule " + exe + ": " + e.Error())
	}
	return nil
}

// Close releases the ruleset; domains already made from it stay.
func (r *Ruleset) Close() error { return unix.Close(r.fd) }

// Restrict puts every thread of the process into a new domain of r. It
// needs no_new_privs (or CAP_SYS_ADMIN) and a build without cgo; threads
// the runtime starts later inherit the domain from their creator.
func (r *Ruleset) Restrict() error {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(r.fd), 0, 0); e != 0 {
		return errors.New("landlock_restrict_self: " + e.Error())
	}
	return nil
}

// RestrictThread puts the calling thread alone into a new domain of r.
// The caller's goroutine must be locked to its thread and must end
// without unlocking it, which ends the thread: no thread leaves a domain.
func (r *Ruleset) RestrictThread() error {
	if _, _, e := unix.RawSyscall(unix.SYS_LANDLOCK_RESTRICT_SELF, uintptr(r.fd), 0, 0); e != 0 {
		return errors.New("landlock_restrict_self: " + e.Error())
	}
	return nil
}

// Confined says whether the process runs inside a Landlock domain that
// denies it the file system, as one made by Deny does: listing "/" is the
// probe. A spawner's promise (tlswrap --confined) is checked with it. A process
// outside any domain, or in one that allows listing "/", is not confined.
func Confined() bool {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		return false
	}
	return err == unix.EACCES
}
