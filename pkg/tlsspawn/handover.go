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

// secretVars are the variables removed from the app's environment unless
// -Z: the key and certificate paths, the CA paths, the ticket-key file and
// the engine's identity. CERTFILE:name and KEYFILE:name go too.
var secretVars = []string{
	ucspi.CertFile, ucspi.KeyFile, ucspi.CAFile, ucspi.CADir,
	ucspi.TLSUID, ucspi.TLSGID, ucspi.SSLUID, ucspi.SSLGID, ucspi.TicketKeyFile,
}

// appEnv returns the app's environment: env without the TLS
// configuration (unless -Z), without stale report variables, with the
// report applied, and without UID/GID/GIDLIST after -U.
func (c *Common) appEnv(env *ucspi.Env, vars []ucspi.Var) []string {
	if !c.KeepVars {
		env.Unset(secretVars...)
		env.UnsetPrefix(ucspi.CertFilePrefix)
		env.UnsetPrefix(ucspi.KeyFilePrefix)
	}
	env.Unset(ucspi.ReportVars...)
	env.Apply(vars)
	env.Unset(c.App.EnvToRemove()...)
	return env.Environ()
}

// inherited holds the fds from 3 up that the spawner inherited open
// across exec. The contract (doc/ucspi.md) passes them on to prog, but the
// engine must not get them: they are close-on-exec while the engine is
// spawned and open again for prog's exec.
type inherited []int

// holdInherited finds the inherited fds and marks them close-on-exec.
func holdInherited() (inherited, error) {
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
	var fds inherited
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

// release makes the held fds inheritable again, for prog.
func (h inherited) release() {
	for _, fd := range h {
		fdutil.SetCloexec(fd, false)
	}
}

// handOver puts the app's pipe ends of s at readFD and writeFD
// (replacing the network fds there), closes network fds left elsewhere,
// reaps an engine that is already gone, gives prog back the fds it
// inherited, drops the app's privileges and execs argv. It returns only
// on failure.
func (p *prepared) handOver(s *session, held inherited, readFD, writeFD int, argv []string) error {
	envv := p.sessionEnv(s)
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
	for _, fd := range [...]int{p.netRead, p.netWrite} {
		if fd != readFD && fd != writeFD {
			unix.Close(fd)
		}
	}
	reapIfDone(s.Pid)
	held.release()
	if err := privdrop.Apply(p.cred); err != nil {
		return err
	}
	return chain.Exec(argv, envv)
}
