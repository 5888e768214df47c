package tlsspawn

import (
	"errors"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// SecretVars are the variables removed from the app's environment unless
// -Z: the key and certificate paths, the CA paths, the ticket-key file and
// the engine's identity. CERTFILE:name and KEYFILE:name go too.
var SecretVars = []string{
	ucspi.CertFile, ucspi.KeyFile, ucspi.CAFile, ucspi.CADir,
	ucspi.TLSUID, ucspi.TLSGID, ucspi.SSLUID, ucspi.SSLGID, ucspi.TicketKeyFile,
}

// AppEnv returns the app's environment: env without the TLS
// configuration (unless c.KeepVars), without stale report variables, with
// the report applied, and without UID/GID/GIDLIST after -U.
func AppEnv(c *Config, env *ucspi.Env, vars []ucspi.Var) []string {
	if !c.KeepVars {
		env.Unset(SecretVars...)
		env.UnsetPrefix(ucspi.CertFilePrefix)
		env.UnsetPrefix(ucspi.KeyFilePrefix)
	}
	env.Unset(ucspi.ReportVars...)
	env.Apply(vars)
	env.Unset(c.App.EnvToRemove()...)
	return env.Environ()
}

// Inherited holds the fds from 3 up that the spawner inherited open
// across exec. The contract (doc/ucspi.md) passes them on to prog, but the
// engine must not get them: they are close-on-exec while the engine is
// spawned and open again for prog's exec.
type Inherited []int

// HoldInherited finds the inherited fds and marks them close-on-exec.
func HoldInherited() (Inherited, error) {
	open, err := fdutil.OpenFDs()
	if errors.Is(err, fdutil.ErrNoProc) {
		// No /proc: mark everything close-on-exec; prog loses them.
		if err := fdutil.CloexecFrom(3); err != nil {
			return nil, exitcode.New(exitcode.TLSSetup, "set close-on-exec on", "inherited fds", err)
		}
		return nil, nil
	}
	if err != nil {
		return nil, exitcode.New(exitcode.TLSSetup, "list", "/proc/self/fd", err)
	}
	var fds Inherited
	for _, fd := range open {
		if fd < 3 {
			continue
		}
		flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil || flags&unix.FD_CLOEXEC != 0 {
			continue
		}
		if err := fdutil.SetCloexec(fd, true); err != nil {
			return nil, exitcode.New(exitcode.TLSSetup, "set close-on-exec on fd", strconv.Itoa(fd), err)
		}
		fds = append(fds, fd)
	}
	return fds, nil
}

// Release makes the held fds inheritable again, for prog.
func (h Inherited) Release() {
	for _, fd := range h {
		fdutil.SetCloexec(fd, false)
	}
}

// HandOver puts the app's pipe ends at readFD and writeFD (replacing the
// network fds there), closes network fds left elsewhere, reaps an engine
// that is already gone, gives prog back the fds it inherited, drops the app's privileges and execs argv. It
// returns only on failure.
func HandOver(c *Config, s *Session, held Inherited, readFD, writeFD int, cred privdrop.Cred, argv, envv []string) error {
	r, w := s.AppRead, s.AppWrite
	// The pipe ends are at the lowest free numbers, which may be the
	// targets themselves (tlsc -6 3 -7 4 leaves 6 and 7 free): lift them
	// out of the way first.
	if r == writeFD || w == readFD {
		var err error
		if r, err = unix.FcntlInt(uintptr(r), unix.F_DUPFD_CLOEXEC, 10); err != nil {
			return exitcode.Temp("move", "the app's pipe", err)
		}
		unix.Close(s.AppRead)
		if w, err = unix.FcntlInt(uintptr(w), unix.F_DUPFD_CLOEXEC, 10); err != nil {
			return exitcode.Temp("move", "the app's pipe", err)
		}
		unix.Close(s.AppWrite)
	}
	if err := fdutil.Move(r, readFD); err != nil {
		return exitcode.Temp("move", "the app's pipe", err)
	}
	if err := fdutil.Move(w, writeFD); err != nil {
		return exitcode.Temp("move", "the app's pipe", err)
	}
	for _, fd := range [...]int{c.NetRead, c.NetWrite} {
		if fd != readFD && fd != writeFD {
			unix.Close(fd)
		}
	}
	ReapIfDone(s.Pid)
	held.Release()
	if err := privdrop.Apply(cred); err != nil {
		return err
	}
	return chain.Exec(argv, envv)
}
