// Package tlsspawn is what tlsd, tlsc and tlsserver share: read the TLS
// environment, load the certificates and keys as root, choose the
// engine's identity, spawn the engine (tlswrap) with its fds and
// credentials, serve it signatures while it shakes hands, turn its report
// into the app's environment, drop the app's privileges and exec the app
// on the cleartext pipes; and the key holder of delayed mode
// (tlskeyholder). It never imports crypto/tls: only the engine does.
//
// A ServerConfig (tlsd, tlsserver) or a ClientConfig (tlsc) is the
// command line; both embed the Common part. The engine contract (fds 0/1
// network, 3/4 cleartext, 5 control, 6 keys) is in doc/tlswrap.md; the
// user-facing behaviour in doc/tlsd.md and doc/tlsc.md.
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

// Run does the whole job of tlsd after option parsing, with the network
// on fds 0 and 1: prog is the app's argv; it gets its cleartext on fds 0
// and 1 too. It returns only on failure, with the exit code (the message
// written).
func (c *ServerConfig) Run(name string, prog, envp []string) int {
	return run(name, c, prog, envp, netFDs{ucspi.ServerReadFD, ucspi.ServerWriteFD, ucspi.ServerReadFD, ucspi.ServerWriteFD})
}

// Run does the whole job of tlsc after option parsing, with the network
// on the -6 and -7 fds; prog gets its cleartext on fds 6 and 7.
func (c *ClientConfig) Run(name string, prog, envp []string) int {
	return run(name, c, prog, envp, netFDs{c.NetRead, c.NetWrite, ucspi.ClientReadFD, ucspi.ClientWriteFD})
}

// netFDs are the fds of the network, where the engine gets them, and of
// the app's cleartext, where the app gets them in immediate mode.
type netFDs struct{ netRead, netWrite, appRead, appWrite int }

func run(name string, c side, prog, envp []string, fds netFDs) int {
	cc := c.common()
	if cc.CheckOnly {
		return check(name, c, prog, envp)
	}
	// The engine, the key holder and the app name the connection by this
	// process (the listener's child, or tcpclient), whose pid the
	// listener's accept line names.
	envp = logline.SetConn(envp)
	held, err := holdInherited()
	if err != nil {
		return exitcode.Report(name, err)
	}
	p, err := prepare(c, envp)
	if err != nil {
		return exitcode.Report(name, err)
	}
	p.netRead, p.netWrite = fds.netRead, fds.netWrite
	if cc.Verbosity >= logline.Verbose {
		if w := p.sharedUID(); w != "" {
			logline.New(name).Warn("check", "err", w)
		}
	}
	if cc.Delayed {
		st, err := p.startEngine(selfHost{}, false)
		closeAll(p.id.LockFD) // the engine holds the slot now
		if err != nil {
			return exitcode.Report(name, err)
		}
		return p.runDelayed(name, st, held, prog)
	}
	s, code := p.handshake(name, selfHost{}, nil)
	if s == nil {
		return code
	}
	return exitcode.Report(name, p.handOver(s, held, fds.appRead, fds.appWrite, prog))
}

// check is --check: everything a connection reads and decides before its
// engine starts, and prog found in PATH, with no connection, for a run
// script to test its configuration. It says nothing when all is well but
// the warning about identities; otherwise the line and exit code a
// connection would get.
func check(name string, c side, prog, envp []string) int {
	p, err := prepare(c, envp)
	if err != nil {
		return exitcode.Report(name, err)
	}
	closeAll(p.id.LockFD)
	if w := p.sharedUID(); w != "" {
		logline.New(name).Warn("check", "err", w)
	}
	if _, err := chain.LookPath(prog[0], envp); err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.OK
}

// prepared is what a connection needs before its engine starts: the
// app's identity, the files (keys stay here), the engine's identity and
// path (and the key holder's in delayed mode), all read from the
// connection's environment; and where the network is.
type prepared struct {
	cfg        side
	env        *ucspi.Env
	cred       privdrop.Cred
	m          *material
	keys       *keysign.Keys
	id         engineID
	enginePath string
	holderPath string // delayed mode only
	netRead    int
	netWrite   int
}

// sharedUID returns a warning when the app is to run as the engine's uid
// (tlsd -u 65534 with the default TLS_UID, say): the app could then
// signal the engines of every connection (doc/security.md). "" otherwise.
func (p *prepared) sharedUID() string {
	if p.id.Cred == nil || p.cfg.common().UIDPool > 0 || !p.cred.Set || p.cred.UID != p.id.UID {
		return ""
	}
	return "the app and the TLS engine both run as uid " + strconv.Itoa(p.id.UID) + ": give " + ucspi.TLSUID + " an account of its own"
}

// prepare reads and checks everything the connection's environment names.
func prepare(c side, envp []string) (*prepared, error) {
	p := &prepared{cfg: c, env: ucspi.NewEnv(envp)}
	cc := c.common()
	var err error
	if p.cred, err = cc.App.Resolve(envp); err != nil {
		return nil, err
	}
	if p.m, err = c.load(p.env, systemBundles); err != nil {
		return nil, err
	}
	if p.keys, err = p.m.loadKeys(); err != nil {
		return nil, err
	}
	if p.id, err = cc.engineID(p.env, os.Geteuid()); err != nil {
		return nil, err
	}
	if p.enginePath, err = chain.Sibling(engineName, envp); err != nil {
		closeAll(p.id.LockFD)
		return nil, exitcode.New(exitcode.TLSSetup, "find", engineName, errors.Unwrap(err))
	}
	if cc.Delayed {
		if p.holderPath, err = chain.Sibling(keyHolderName, envp); err != nil {
			closeAll(p.id.LockFD)
			return nil, exitcode.New(exitcode.TLSSetup, "find", keyHolderName, errors.Unwrap(err))
		}
	}
	return p, nil
}

// handshake runs the engine through the handshake: st, an engine started
// ahead and handed its connection, or else a new one. On failure it
// returns nil and the exit code, the reason logged.
func (p *prepared) handshake(name string, h Host, st *started) (*session, int) {
	var err error
	if st == nil {
		st, err = p.startEngine(h, false)
	}
	var s *session
	if err == nil {
		s, err = p.handshakeOn(st, h)
	}
	closeAll(p.id.LockFD) // the engine holds the slot now
	if err != nil {
		var fe *failedError
		var ee *engineError
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

// sessionEnv is the app's environment after the handshake of immediate
// mode.
func (p *prepared) sessionEnv(s *session) []string {
	// prog has no UCSPI-TLS fds; names from an earlier hop would point at
	// nothing (or at the wrong fd).
	p.env.Unset(ucspi.SSLCtlFD, ucspi.SSLReadFD, ucspi.SSLWriteFD, ucspi.TLSCVerify)
	return p.cfg.common().appEnv(p.env, s.Vars)
}

// pairError names the files of the pair keysign could not load (96).
func pairError(m *material, err error) error {
	var pe *keysign.PairError
	if errors.As(err, &pe) && pe.Index >= 0 && pe.Index < len(m.Files) {
		return exitcode.Config("load", m.Files[pe.Index], pe.Err)
	}
	return exitcode.Config("load", "the certificates and keys", err)
}
