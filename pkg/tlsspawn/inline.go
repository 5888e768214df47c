package tlsspawn

import (
	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
)

// Inline is tlsd's immediate mode done by a long-lived server for each
// connection, in place of an exec of tlsd: the same options, the same
// files read from the same per-connection environment, the same engine
// and report, the same app environment and identity; only the app is
// spawned rather than exec'd. It saves a Go program's start per
// connection (doc/tcpserver.md, "tlsd in-process").
type Inline struct {
	name string
	c    *Config
	prog []string
}

// NewInline returns tlsd's work for prog, or nil when c cannot be done
// in-process: delayed mode and the key holder need a process of their own.
func NewInline(name string, c *Config, prog []string) *Inline {
	if !c.Server || c.Delayed || c.KeyHolder || len(prog) == 0 {
		return nil
	}
	return &Inline{name: name, c: c, prog: prog}
}

// Handshake does tlsd's work for the connection on fd, whose environment
// is envp: engine, handshake, report. It returns the app to spawn, on the
// cleartext pipes; the caller spawns it, then calls CloseFiles. On
// failure it returns nil and tlsd's exit code, the reason logged as tlsd
// logs it.
func (in *Inline) Handshake(fd int, envp []string, h Host) (*chain.Child, int) {
	c := *in.c // per connection: the network fds differ
	c.NetRead, c.NetWrite = fd, fd
	p, err := prepare(&c, envp)
	if err != nil {
		return nil, exitcode.Report(in.name, err)
	}
	s, code := p.handshake(in.name, &c, h)
	if s == nil {
		return nil, code
	}
	app, err := in.app(&c, p, s)
	if err != nil {
		closeAll(s.AppRead, s.AppWrite)
		return nil, exitcode.Report(in.name, err)
	}
	return app, exitcode.OK
}

// app is prog on the cleartext pipes, with the identity tlsd would have
// dropped to before its exec.
func (in *Inline) app(c *Config, p *prepared, s *Session) (*chain.Child, error) {
	ch := &chain.Child{Argv: in.prog, Env: p.appEnv(c, s), Files: []int{s.AppRead, s.AppWrite, 2}}
	if p.cred.Set {
		if err := p.cred.Check(); err != nil {
			return nil, err
		}
		ch.Cred = p.cred.SysCredential()
	}
	var err error
	ch.Path, err = chain.LookPath(in.prog[0], ch.Env)
	return ch, err
}

// CloseFiles closes the spawner's copies of the pipes an app from
// Handshake was given.
func CloseFiles(app *chain.Child) {
	closeAll(app.Files[0], app.Files[1])
}
