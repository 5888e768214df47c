package tlsspawn

import (
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Inline is tlsd's immediate mode done by a long-lived server (tlsserver)
// for each connection, in place of an exec of tlsd: the same options, the
// same files read from the same per-connection environment, the same
// engine and report, the same app environment and identity; only the app
// is spawned rather than exec'd. It saves a Go program's start per
// connection (doc/tlsserver.md).
type Inline struct {
	name string
	c    *ServerConfig
	prog []string
}

// NewInline returns tlsd's work for prog under the server configuration
// c, in immediate mode: delayed mode and the key holder need a process of
// their own. name is the program's, for its log lines.
func NewInline(name string, c *ServerConfig, prog []string) *Inline {
	return &Inline{name: name, c: c, prog: prog}
}

// Handshake does tlsd's work for the connection on fd, whose environment
// is envp: engine, handshake, report. w, when not nil, is an engine from
// Prestart: it serves this connection if it fits (same identity and
// program), else it is closed and a new engine spawned. Handshake returns
// the app to spawn, on the cleartext pipes; the caller spawns it, then
// calls CloseFiles. On failure it returns nil and tlsd's exit code, the
// reason logged as tlsd logs it, or else the error for the caller to
// report (tlsd's fatal line).
func (in *Inline) Handshake(fd int, envp []string, h Host, w *Warm) (*chain.Child, int, error) {
	p, err := prepare(in.c, envp)
	if err != nil {
		w.Close()
		return nil, 0, err
	}
	p.netRead, p.netWrite = fd, fd
	var st *started
	if w.fits(p) && keysign.SendNetwork(w.st.key, fd, peerVars(p.env)) == nil {
		st = w.st
		h.Adopt(st.pid)
	} else {
		w.Close()
	}
	s, code := p.handshake(in.name, h, st)
	if s == nil {
		return nil, code, nil
	}
	// The engine, named by the accept line, is the connection's id.
	p.env.Set(ucspi.ConnPID, strconv.Itoa(s.Pid))
	app, err := in.app(p, s)
	if err != nil {
		closeAll(s.AppRead, s.AppWrite)
		return nil, 0, err
	}
	return app, exitcode.OK, nil
}

// Check reads what a connection with the environment envp would read
// (the files, the keys, the engine's identity and program) and returns
// what would fail it, or else a warning about the identities (""): a
// listener can say at start what would otherwise show only per
// connection.
func (in *Inline) Check(envp []string) (warning string, err error) {
	p, err := prepare(in.c, envp)
	if err != nil {
		return "", err
	}
	closeAll(p.id.LockFD)
	return p.sharedUID(), nil
}

// Warm is an engine started before its connection (tlswrap
// --prestarted): its Go
// runtime has started, it has hardened itself, and it waits on the key
// channel for the socket. That takes the engine's start, about a third of
// a connection's time, off the time to the first byte.
type Warm struct {
	st   *started
	id   engineID
	path string
}

// Prestart starts an engine for the next connection, with the identity
// and program the environment envp (without a connection's variables)
// gives. It returns nil where that cannot be done ahead: a uid pool
// (whose slot a waiting engine would hold) or any error (the connection
// then starts its own engine and reports it).
func (in *Inline) Prestart(envp []string, h Host) *Warm {
	if in.c.UIDPool > 0 {
		return nil
	}
	p := &prepared{cfg: in.c, env: ucspi.NewEnv(envp)}
	var err error
	if p.id, err = in.c.engineID(p.env, os.Geteuid()); err != nil {
		return nil
	}
	if p.enginePath, err = chain.Sibling(engineName, envp); err != nil {
		return nil
	}
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(null)
	p.netRead, p.netWrite = null, null
	st, err := p.startEngine(h, true)
	if err != nil {
		return nil
	}
	return &Warm{st: st, id: p.id, path: p.enginePath}
}

// fits says whether w can serve the connection p was prepared for.
func (w *Warm) fits(p *prepared) bool {
	return w != nil && p.id.LockFD < 0 && w.path == p.enginePath &&
		w.id.UID == p.id.UID && w.id.GID == p.id.GID && (w.id.Cred == nil) == (p.id.Cred == nil)
}

// Close discards an engine that will serve no connection: it sees the key
// channel close and exits.
func (w *Warm) Close() {
	if w != nil {
		closeAll(w.st.appRead, w.st.appWrite, w.st.ctl, w.st.key)
	}
}

// peerVars are the peer's variables, for the engine's log lines: in a new
// engine's environment (engineEnv), or sent with the socket to an engine
// started ahead.
func peerVars(env *ucspi.Env) []string {
	var out []string
	for _, name := range [...]string{ucspi.ConnPID, ucspi.TCPRemoteIP, ucspi.TCPRemotePort} {
		if v, ok := env.Get(name); ok {
			out = append(out, name+"="+v)
		}
	}
	return out
}

// app is prog on the cleartext pipes, with the identity tlsd would have
// dropped to before its exec.
func (in *Inline) app(p *prepared, s *session) (*chain.Child, error) {
	// Found with the listener's PATH, as tlsd's exec would, before the
	// report touches the environment.
	path, err := chain.LookPath(in.prog[0], p.env.Environ())
	if err != nil {
		return nil, err
	}
	ch := &chain.Child{Path: path, Argv: in.prog, Env: p.sessionEnv(s), Files: []int{s.AppRead, s.AppWrite, 2}}
	if p.cred.Set {
		if err := p.cred.Check(); err != nil {
			return nil, err
		}
		ch.Cred = p.cred.SysCredential()
	}
	return ch, nil
}

// CloseFiles closes the spawner's copies of the pipes an app from
// Handshake was given.
func CloseFiles(app *chain.Child) {
	closeAll(app.Files[0], app.Files[1])
}
