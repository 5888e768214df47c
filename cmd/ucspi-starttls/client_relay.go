package main

import (
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// clientProg is prog in client mode: our child, its fd 6 reading a pipe
// we write, its fd 7 writing a pipe we read (a UCSPI client app's fds);
// fds 0, 1 and 2 are ours.
type clientProg struct {
	*child
	toProg *os.File // we write: prog's fd 6
	from   *os.File // we read: prog's fd 7
}

func (c *client) spawnProg(envv []string) (*clientProg, error) {
	inR, inW, err := fdutil.Pipe()
	if err != nil {
		return nil, exitcode.Temp("create", "pipe", err)
	}
	outR, outW, err := fdutil.Pipe()
	if err != nil {
		unix.Close(inR)
		unix.Close(inW)
		return nil, exitcode.Temp("create", "pipe", err)
	}
	ch, err := c.kids.spawn(&chain.Child{
		Path:  c.path,
		Argv:  c.cfg.prog,
		Env:   envv,
		Files: []int{0, 1, 2, -1, -1, -1, inR, outW},
	})
	unix.Close(inR)
	unix.Close(outW)
	if err != nil {
		unix.Close(inW)
		unix.Close(outR)
		return nil, err
	}
	return &clientProg{child: ch, toProg: os.NewFile(uintptr(inW), "prog-in"),
		from: os.NewFile(uintptr(outR), "prog-out")}, nil
}

// exitStatus returns prog's exit status (111 when a signal ended it).
func (p *clientProg) exitStatus() int {
	if p.status.Exited() {
		return p.status.ExitStatus()
	}
	return exitcode.Temporary
}

// progEnv is prog's environment: no UCSPI-TLS fds (ucspi-starttls owns
// TLS), the report's SSL_* after TLS, none in clear.
func (c *client) progEnv() []string {
	env := ucspi.NewEnv(c.env.Environ())
	env.Unset(ucspi.SSLCtlFD, ucspi.SSLReadFD, ucspi.SSLWriteFD, ucspi.TLSCVerify)
	env.Unset(ucspi.ReportVars...)
	env.Apply(c.vars)
	return env.Environ()
}

// answerProg gives prog msg as the whole session (a 421, or the server's
// refusing greeting), then EOF, and waits for it: a client that reads a
// 4xx greeting defers the mail and ends.
func (c *client) answerProg(msg []byte) int {
	c.vars = nil
	p, err := c.spawnProg(c.progEnv())
	if err != nil {
		return exitcode.Report(name, err)
	}
	p.toProg.Write(msg)
	p.toProg.Close()
	go drainFile(p.from)
	return c.waitProg(p)
}

func drainFile(f *os.File) {
	buf := make([]byte, 4096)
	for {
		if _, err := f.Read(buf); err != nil {
			f.Close()
			return
		}
	}
}

// waitProg waits for prog within the timeout, then SIGTERM, then SIGKILL.
func (c *client) waitProg(p *clientProg) int {
	select {
	case <-p.done:
		return p.exitStatus()
	case <-time.After(c.cfg.timeout):
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.exitStatus()
	case <-time.After(graceTERM):
	}
	p.signal(syscall.SIGKILL)
	<-p.done
	return p.exitStatus()
}

// startRelay starts prog, gives it the server's greeting, and moves bytes
// between prog and the server inside TLS (rfd/wfd: the engine's pipes)
// until prog exits: a byte splice, since nothing about STARTTLS matters
// any more (clearRelay, client_filter.go, is the cleartext relay). prog's
// exit status is ours.
func (c *client) startRelay(rfd, wfd int) int {
	p, err := c.spawnProg(c.progEnv())
	if err != nil {
		return exitcode.Report(name, err)
	}
	if _, err := p.toProg.Write(c.greeting); err != nil {
		p.toProg.Close()
	}
	// Server → prog.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := syscall.Read(rfd, buf)
			if err == syscall.EINTR {
				continue
			}
			if n <= 0 || err != nil {
				break
			}
			if _, err := p.toProg.Write(buf[:n]); err != nil {
				break
			}
		}
		p.toProg.Close()
	}()
	// prog → server; prog's EOF closes the pipe to the engine, which
	// then ends the TLS session.
	up := make(chan struct{})
	go func() {
		defer close(up)
		buf := make([]byte, 64<<10)
		for {
			n, err := p.from.Read(buf)
			if n > 0 {
				if writeAll(wfd, buf[:n]) != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		p.from.Close()
		unix.Close(wfd)
	}()
	<-p.done
	select {
	case <-up:
	case <-time.After(graceEOF):
	}
	return p.exitStatus()
}
