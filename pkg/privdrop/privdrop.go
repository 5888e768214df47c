// Package privdrop changes a process's identity: supplementary groups, then
// gid, then uid, for every thread; an optional chroot; optional
// no_new_privs. It is the only package that calls set*id, and it is shared by
// privdrop, tcpserver, tlsd and tlsc so that a drop inside the program that
// execs the app costs no extra exec.
package privdrop

import (
	"errors"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Cred is the identity to take. A zero Cred (Set false) changes nothing.
type Cred struct {
	Set    bool
	UID    int
	GID    int
	Groups []int // the supplementary groups; empty means the primary gid alone
	// AllowRoot permits UID 0; without it Apply refuses to "drop" to root,
	// which is almost always a configuration mistake.
	AllowRoot bool
}

// ErrRoot is returned when the target uid is 0 without AllowRoot.
var ErrRoot = errors.New("refusing to run as uid 0 (only privdrop -0 allows it)")

// Apply sets the supplementary groups, then the gid, then the uid.
// syscall.Setgroups and friends, not the x/sys ones: the x/sys calls change
// only the calling thread, and a Go process runs on several. Without root
// the kernel refuses with EPERM, reported as a temporary failure (111)
// that names the step and the ids.
func Apply(c Cred) error {
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
	if err := syscall.Setgroups(groups); err != nil {
		return exitcode.Temp("set supplementary groups to", joinIDs(groups), err)
	}
	if err := syscall.Setgid(c.GID); err != nil {
		return exitcode.Temp("set gid to", strconv.Itoa(c.GID), err)
	}
	if err := syscall.Setuid(c.UID); err != nil {
		return exitcode.Temp("set uid to", strconv.Itoa(c.UID), err)
	}
	return nil
}

func joinIDs(ids []int) string {
	b := make([]byte, 0, 8*len(ids))
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return string(b)
}

// Check refuses a Cred that no drop may take: uid 0 without AllowRoot
// (100) and negative ids.
func (c Cred) Check() error {
	if c.UID == 0 && !c.AllowRoot {
		return exitcode.New(exitcode.Usage, "drop privileges", "", ErrRoot)
	}
	if c.UID < 0 || c.GID < 0 {
		return exitcode.New(exitcode.Internal, "drop privileges", "", errorString("negative id"))
	}
	return nil
}

// SysCredential returns c as a credential for a spawned child (set in the
// child between fork and exec, cheaper than an exec hop). Groups are always
// given, so the child never inherits the spawner's supplementary groups.
func (c Cred) SysCredential() *syscall.Credential {
	groups := c.Groups
	if len(groups) == 0 {
		groups = []int{c.GID}
	}
	g := make([]uint32, len(groups))
	for i, x := range groups {
		g[i] = uint32(x)
	}
	return &syscall.Credential{Uid: uint32(c.UID), Gid: uint32(c.GID), Groups: g}
}

// Chroot changes the root directory to dir and the working directory to it.
func Chroot(dir string) error {
	if err := syscall.Chroot(dir); err != nil {
		return exitcode.Temp("chroot to", dir, err)
	}
	if err := syscall.Chdir("/"); err != nil {
		return exitcode.Temp("chdir to", "/", err)
	}
	return nil
}

// NoNewPrivs sets PR_SET_NO_NEW_PRIVS on every thread. prctl marks only the
// calling thread and exec inherits the calling thread's flag, so the flag is
// set on all of them (AllThreadsSyscall needs a build without cgo); where
// that is not possible the goroutine is locked to its thread and only that
// thread is marked, which is the one that will exec.
func NoNewPrivs() error {
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0)
	if errno == 0 {
		return nil
	}
	if errno != syscall.ENOTSUP {
		return exitcode.Temp("set", "no_new_privs", errno)
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return exitcode.Temp("set", "no_new_privs", err)
	}
	return nil
}

// FromEnv builds a Cred from UID, GID and GIDLIST (comma-separated) in
// envp, as s6-envuidgid and ucspi-tcp's envuidgid set them.
func FromEnv(envp []string) (Cred, error) {
	u, ok := ucspi.Getenv(envp, ucspi.UID)
	if !ok {
		return Cred{}, exitcode.UsageError("UID not set")
	}
	g, ok := ucspi.Getenv(envp, ucspi.GID)
	if !ok {
		return Cred{}, exitcode.UsageError("GID not set")
	}
	uid, err := parseID("UID", u)
	if err != nil {
		return Cred{}, err
	}
	gid, err := parseID("GID", g)
	if err != nil {
		return Cred{}, err
	}
	c := Cred{Set: true, UID: uid, GID: gid}
	if list, ok := ucspi.Getenv(envp, ucspi.GIDList); ok && list != "" {
		for _, s := range strings.Split(list, ",") {
			id, err := parseID("GIDLIST", s)
			if err != nil {
				return Cred{}, err
			}
			c.Groups = append(c.Groups, id)
		}
	}
	return c, nil
}

// maxID is the largest id the kernel accepts ((uid_t)-1 means "no change").
const maxID = 1<<32 - 2

func parseID(what, s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	// The second test is for 32-bit platforms, where int stops at 2^31-1.
	if err != nil || n > maxID || n > uint64(^uint(0)>>1) {
		return 0, exitcode.UsageError("bad " + what + ": " + strconv.Quote(s))
	}
	return int(n), nil
}
