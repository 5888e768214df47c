// Package tlsspawn is what tlsd and tlsc share: read the TLS environment,
// load the certificates and keys as root, choose the engine's identity,
// spawn the engine (tlswrap) with its fds and credentials, serve it
// signatures while it shakes hands, turn its report into the app's
// environment, drop the app's privileges and exec the app on the cleartext
// pipes. It never imports crypto/tls: only the engine does.
//
// The engine contract (fds 0/1 network, 3/4 cleartext, 5 control, 6 keys)
// is in doc/tlswrap.md; the user-facing behaviour in doc/tlsd.md and
// doc/tlsc.md.
package tlsspawn

import (
	"errors"
	"os"
	"strconv"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Run does the whole job of tlsd or tlsc after option parsing: prog is
// the app's argv, appRead/appWrite the fds it gets its cleartext on. It
// returns only on failure, with the exit code (the message written).
func Run(name string, c *Config, prog, envp []string, appRead, appWrite int) int {
	if c.CheckOnly {
		return check(name, c, prog, envp)
	}
	// The engine, the key holder and the app name the connection by this
	// process (the listener's child, or tcpclient), whose pid the
	// listener's accept line names.
	envp = logline.SetConn(envp)
	held, err := HoldInherited()
	if err != nil {
		return exitcode.Report(name, err)
	}
	p, err := prepare(c, envp)
	if err != nil {
		return exitcode.Report(name, err)
	}
	if c.Verbosity >= logline.Verbose {
		if w := p.sharedUID(c); w != "" {
			logline.New(name).Warn("check", "err", w)
		}
	}
	if c.Delayed {
		st, err := startEngine(c, p.id, p.enginePath, EngineEnv(c, p.env), selfHost{})
		closeAll(p.id.LockFD) // the engine holds the slot now
		if err != nil {
			return exitcode.Report(name, err)
		}
		return runDelayed(name, c, st, held, p.cred, prog, p.env)
	}
	s, code := p.handshake(name, c, selfHost{}, nil)
	if s == nil {
		return code
	}
	return exitcode.Report(name, HandOver(c, s, held, appRead, appWrite, p.cred, prog, p.appEnv(c, s)))
}

// check is --check: everything a connection reads and decides before its
// engine starts, and prog found in PATH, with no connection, for a run
// script to test its configuration. It says nothing when all is well but
// the warning about identities; otherwise the line and exit code a
// connection would get.
func check(name string, c *Config, prog, envp []string) int {
	p, err := prepare(c, envp)
	if err != nil {
		return exitcode.Report(name, err)
	}
	closeAll(p.id.LockFD)
	if w := p.sharedUID(c); w != "" {
		logline.New(name).Warn("check", "err", w)
	}
	if _, err := chain.LookPath(prog[0], envp); err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.OK
}

// prepared is what a connection needs before its engine starts: the
// app's identity, the files (keys stay here), the engine's identity and
// path, all read from the connection's environment.
type prepared struct {
	env        *ucspi.Env
	cred       privdrop.Cred
	m          *Material
	keys       *keysign.Keys
	id         EngineID
	enginePath string
}

// sharedUID returns a warning when the app is to run as the engine's uid
// (tlsd -u 65534 with the default TLS_UID, say): the app could then
// signal the engines of every connection (doc/security.md). "" otherwise.
func (p *prepared) sharedUID(c *Config) string {
	if p.id.Cred == nil || c.UIDPool > 0 || !p.cred.Set || p.cred.UID != p.id.UID {
		return ""
	}
	return "the app and the TLS engine both run as uid " + strconv.Itoa(p.id.UID) + ": give " + ucspi.TLSUID + " an account of its own"
}

// prepare reads and checks everything the connection's environment names.
func prepare(c *Config, envp []string) (*prepared, error) {
	p := &prepared{env: ucspi.NewEnv(envp)}
	var err error
	if p.cred, err = c.App.Resolve(envp); err != nil {
		return nil, err
	}
	if p.m, err = Load(c, p.env, SystemBundles); err != nil {
		return nil, err
	}
	if p.keys, err = p.m.loadKeys(); err != nil {
		return nil, err
	}
	if p.id, err = ChooseEngineID(c, p.env, os.Geteuid()); err != nil {
		return nil, err
	}
	if p.enginePath, err = chain.Sibling(EngineName, envp); err != nil {
		closeAll(p.id.LockFD)
		return nil, exitcode.New(exitcode.TLSSetup, "find", EngineName, errors.Unwrap(err))
	}
	return p, nil
}

// handshake runs the engine through the handshake: st, an engine started
// ahead and handed its connection, or else a new one. On failure it
// returns nil and the exit code, the reason logged.
func (p *prepared) handshake(name string, c *Config, h Host, st *started) (*Session, int) {
	var s *Session
	var err error
	if st != nil {
		s, err = handshakeOn(c, st, p.m, p.keys, h)
	} else {
		s, err = Handshake(c, p.m, p.keys, p.id, p.enginePath, EngineEnv(c, p.env), h)
	}
	closeAll(p.id.LockFD) // the engine holds the slot now
	if err != nil {
		var fe *FailedError
		var ee *EngineError
		if errors.As(err, &ee) {
			warnEngine(name, h.Conn(), ee.Pid, ee.Err)
			return nil, exitcode.TLSSession
		}
		if errors.As(err, &fe) {
			if !fe.Logged {
				// The engine said nothing: it was killed, or it
				// exited 0 with no session.
				log := logline.New(name)
				log.Conn = h.Conn()
				log.Warn("handshake", "status", fe.Status, "err", fe.Error())
			}
			return nil, fe.Code
		}
		return nil, exitcode.Report(name, err, h.Conn()...)
	}
	return s, exitcode.OK
}

// appEnv is the app's environment after the handshake of immediate mode.
func (p *prepared) appEnv(c *Config, s *Session) []string {
	// prog has no UCSPI-TLS fds; names from an earlier hop would point at
	// nothing (or at the wrong fd).
	p.env.Unset(ucspi.SSLCtlFD, ucspi.SSLReadFD, ucspi.SSLWriteFD, ucspi.TLSCVerify)
	return AppEnv(c, p.env, s.Vars)
}

// pairError names the files of the pair keysign could not load (96).
func pairError(m *Material, err error) error {
	var pe *keysign.PairError
	if errors.As(err, &pe) && pe.Index >= 0 && pe.Index < len(m.Files) {
		return exitcode.Config("load", m.Files[pe.Index], pe.Err)
	}
	return exitcode.Config("load", "the certificates and keys", err)
}
