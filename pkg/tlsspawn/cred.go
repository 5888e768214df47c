package tlsspawn

import (
	"errors"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// nobody is the engine's uid and gid when the spawner runs as root and
// neither TLS_UID/TLS_GID nor SSL_UID/SSL_GID is set.
const nobody = 65534

// engineID is the identity the engine is spawned with.
type engineID struct {
	// Cred is nil when the spawner is not root: the engine then runs as
	// the spawner's own uid and gid, and TLS_UID/TLS_GID are ignored.
	Cred *syscall.Credential
	UID  int
	GID  int
	// LockFD is the locked slot file of a uid pool (-1 without a pool).
	// The engine inherits it, so the slot stays taken while it lives.
	LockFD int
}

// engineIDVar returns TLS_x, or else ucspi-ssl's SSL_x, and which was used.
func engineIDVar(env *ucspi.Env, tlsName, sslName string) (string, string, bool) {
	if v, ok := env.Get(tlsName); ok && v != "" {
		return v, tlsName, true
	}
	if v, ok := env.Get(sslName); ok && v != "" {
		return v, sslName, true
	}
	return "", tlsName, false
}

// engineID decides the engine's uid and gid from env and c's uid pool.
// euid is the spawner's effective uid. The engine never runs as uid or
// gid 0: a 0 in TLS_UID or TLS_GID is refused (100), not silently
// replaced.
func (c *Common) engineID(env *ucspi.Env, euid int) (engineID, error) {
	id := engineID{UID: euid, GID: syscall.Getegid(), LockFD: -1}
	if euid != 0 {
		if c.UIDPool > 0 {
			return id, exitcode.UsageError("option --engine-uids needs root")
		}
		return id, nil
	}
	id.UID, id.GID = nobody, nobody
	if v, name, ok := engineIDVar(env, ucspi.TLSUID, ucspi.SSLUID); ok {
		uid, _, err := privdrop.User(v)
		if err != nil {
			return id, exitcode.UsageError("bad " + name + ": " + strconv.Quote(v))
		}
		id.UID = uid
		if uid == 0 {
			return id, exitcode.UsageError(name + " is 0: the TLS engine never runs as root")
		}
	}
	if v, name, ok := engineIDVar(env, ucspi.TLSGID, ucspi.SSLGID); ok {
		gid, err := privdrop.Group(v)
		if err != nil {
			return id, exitcode.UsageError("bad " + name + ": " + strconv.Quote(v))
		}
		id.GID = gid
		if gid == 0 {
			return id, exitcode.UsageError(name + " is 0: the TLS engine never runs as group root")
		}
	}
	if c.UIDPool > 0 {
		if id.UID+c.UIDPool-1 > maxUID {
			return id, exitcode.UsageError("option --engine-uids: " + ucspi.TLSUID + "+count passes the largest uid")
		}
		uid, fd, err := lockSlot(c.UIDLockDir, id.UID, c.UIDPool, syscall.Getpid())
		if err != nil {
			return id, err
		}
		id.UID, id.LockFD = uid, fd
	}
	// Groups holds the gid alone: supplementary groups are cleared.
	id.Cred = &syscall.Credential{Uid: uint32(id.UID), Gid: uint32(id.GID), Groups: []uint32{uint32(id.GID)}}
	return id, nil
}

// maxUID is the largest uid the kernel accepts ((uid_t)-1 means "none").
const maxUID = 1<<32 - 2

// lockSlot takes a free uid from base .. base+n-1: a non-blocking flock on
// dir/<uid>. The search starts at a place that depends on seed so that
// concurrent spawners rarely race for the same slot. The lock lives on the
// open file description, which the engine inherits, so the slot is free
// again exactly when the engine (and every copy of the fd) is gone.
func lockSlot(dir string, base, n, seed int) (uid, fd int, err error) {
	if err := checkLockDir(dir); err != nil {
		return 0, -1, err
	}
	start := seed % n
	for i := 0; i < n; i++ {
		u := base + (start+i)%n
		p := dir + "/" + strconv.Itoa(u)
		f, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return 0, -1, exitcode.New(exitcode.TLSSetup, "open engine uid lock", p, err)
		}
		err = unix.Flock(f, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return u, f, nil
		}
		unix.Close(f)
		if err != unix.EWOULDBLOCK {
			return 0, -1, exitcode.New(exitcode.TLSSetup, "lock", p, err)
		}
	}
	return 0, -1, exitcode.Temp("find a free engine uid in", strconv.Itoa(base)+".."+strconv.Itoa(base+n-1), errors.New("all in use"))
}

// checkLockDir creates dir (0700) if needed and refuses one that another
// user could write: whoever can replace a lock file can steal a uid.
func checkLockDir(dir string) error {
	var st unix.Stat_t
	err := unix.Lstat(dir, &st)
	if err == unix.ENOENT {
		if err := mkdirAll(dir); err != nil {
			return exitcode.New(exitcode.TLSSetup, "create engine uid directory", dir, err)
		}
		err = unix.Lstat(dir, &st)
	}
	if err != nil {
		return exitcode.New(exitcode.TLSSetup, "use engine uid directory", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != 0 || st.Mode&0o022 != 0 {
		return exitcode.New(exitcode.TLSSetup, "use engine uid directory", dir,
			errors.New("not a directory owned by root and writable only by root"))
	}
	return nil
}

func mkdirAll(dir string) error {
	for i := 1; i < len(dir); i++ {
		if dir[i] == '/' {
			if err := unix.Mkdir(dir[:i], 0o755); err != nil && err != unix.EEXIST {
				return err
			}
		}
	}
	if err := unix.Mkdir(dir, 0o700); err != nil && err != unix.EEXIST {
		return err
	}
	return nil
}
