package main

import (
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
)

// Grace periods when ending an app: after its stdin closes, then after
// SIGTERM, before SIGKILL.
const (
	graceEOF  = 2 * time.Second
	graceTERM = 2 * time.Second
)

// app is prog running as our child on two pipes.
type app struct {
	*child
	stdin  *os.File
	stdout *os.File
	once   sync.Once
	broken bool // stdin is closed or the app stopped reading
}

// startApp spawns path with argv and envv; its fd 0 and 1 are pipes to
// us, fd 2 is our stderr.
func startApp(r *reaper, path string, argv, envv []string) (*app, error) {
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
	c, err := r.spawn(&chain.Child{
		Path:  path,
		Argv:  argv,
		Env:   envv,
		Files: []int{inR, outW, 2},
	})
	unix.Close(inR)
	unix.Close(outW)
	if err != nil {
		unix.Close(inW)
		unix.Close(outR)
		return nil, err
	}
	// Our ends only: non-blocking, so that the runtime poller can wake a
	// reader when the pipe is closed under it.
	unix.SetNonblock(outR, true)
	unix.SetNonblock(inW, true)
	return &app{
		child:  c,
		stdin:  os.NewFile(uintptr(inW), "app-stdin"),
		stdout: os.NewFile(uintptr(outR), "app-stdout"),
	}, nil
}

// write sends b to the app's stdin; an app that stopped reading is
// noticed here and not written to again.
func (a *app) write(b []byte) {
	if a.broken {
		return
	}
	if _, err := a.stdin.Write(b); err != nil {
		a.closeStdin()
	}
}

func (a *app) closeStdin() {
	if !a.broken {
		a.broken = true
		a.stdin.Close()
	}
}

// end closes both pipes, waits for the app to exit (SIGTERM, then
// SIGKILL, if it lingers), reaps it and returns its exit status (111 when
// a signal ended it).
func (a *app) end() int {
	a.once.Do(func() {
		a.closeStdin()
		a.stdout.Close()
		select {
		case <-a.done:
			return
		case <-time.After(graceEOF):
		}
		a.signal(syscall.SIGTERM)
		select {
		case <-a.done:
			return
		case <-time.After(graceTERM):
		}
		a.signal(syscall.SIGKILL)
		<-a.done
	})
	if a.status.Exited() {
		return a.status.ExitStatus()
	}
	return exitcode.Temporary
}
