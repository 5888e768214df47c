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

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Run does the whole job of tlsd or tlsc after option parsing: prog is
// the app's argv, appRead/appWrite the fds it gets its cleartext on. It
// returns only on failure, with the exit code (the message written).
func Run(name string, c *Config, prog, envp []string, appRead, appWrite int) int {
	log := logline.New(name)
	log.Level = c.Verbosity
	env := ucspi.NewEnv(envp)
	held, err := HoldInherited()
	if err != nil {
		return exitcode.Report(name, err)
	}
	cred, err := c.App.Resolve(envp)
	if err != nil {
		return exitcode.Report(name, err)
	}
	m, err := Load(c, env, SystemBundles)
	if err != nil {
		return exitcode.Report(name, err)
	}
	keys, err := keysign.LoadKeys(m.Pairs)
	if err != nil {
		return exitcode.Report(name, pairError(m, err))
	}
	m.Setup.Pairs = m.Pairs
	id, err := ChooseEngineID(c, env, os.Geteuid())
	if err != nil {
		return exitcode.Report(name, err)
	}
	enginePath, err := chain.Sibling(EngineName, envp)
	if err != nil {
		return exitcode.Report(name, exitcode.New(exitcode.TLSSetup, "find", EngineName, errors.Unwrap(err)))
	}
	if c.Delayed {
		st, err := startEngine(c, id, enginePath, EngineEnv(c, env))
		closeAll(id.LockFD) // the engine holds the slot now
		if err != nil {
			return exitcode.Report(name, err)
		}
		return runDelayed(name, c, st, held, cred, prog, env)
	}
	s, err := Handshake(c, m, keys, id, enginePath, EngineEnv(c, env))
	closeAll(id.LockFD) // the engine holds the slot now
	if err != nil {
		var fe *FailedError
		if errors.As(err, &fe) {
			if !fe.Logged {
				log.Warn(append(peer(env), "handshake failed: engine", fe.Status)...)
			}
			return fe.Code
		}
		return exitcode.Report(name, err)
	}
	if log.Level >= logline.Verbose {
		log.Debug(append(peer(env), "tls", varValue(s.Vars, ucspi.SSLProtocol), varValue(s.Vars, ucspi.SSLCipher))...)
	}
	// Immediate mode: prog has no UCSPI-TLS fds; names from an earlier
	// hop would point at nothing (or at the wrong fd).
	env.Unset(ucspi.SSLCtlFD, ucspi.SSLReadFD, ucspi.SSLWriteFD)
	envv := AppEnv(c, env, s.Vars)
	return exitcode.Report(name, HandOver(c, s, held, appRead, appWrite, cred, prog, envv))
}

// peer returns the "ip X port Y" fields of a log line, with the engine's
// failure after them for a warning.
func peer(env *ucspi.Env) []string {
	ip, _ := env.Get(ucspi.TCPRemoteIP)
	port, _ := env.Get(ucspi.TCPRemotePort)
	return []string{"ip", logline.Safe(ip), "port", logline.Safe(port)}
}

func varValue(vars []ucspi.Var, name string) string {
	for _, v := range vars {
		if v.Name == name && !v.Unset {
			return logline.Safe(v.Value)
		}
	}
	return "-"
}

// pairError names the files of the pair keysign could not load (96).
func pairError(m *Material, err error) error {
	var pe *keysign.PairError
	if errors.As(err, &pe) && pe.Index >= 0 && pe.Index < len(m.Files) {
		return exitcode.Config("load", m.Files[pe.Index], pe.Err)
	}
	return exitcode.Config("load", "the certificates and keys", err)
}
