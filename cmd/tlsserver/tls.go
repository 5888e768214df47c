package main

import (
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/listener"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

// handler is tlsd's immediate mode done for each connection of the
// listener (a listener.Handler): the same files read from the same
// per-connection environment, the same engine and report, the same app
// environment and identity as tcpserver ... tlsd; only the app is spawned
// rather than exec'd, which saves a Go program's start per connection.
type handler struct {
	tls     *tlsspawn.Inline
	s       *listener.Server
	warmMu  sync.Mutex    // the two below
	warm    *warmEngine   // an engine started ahead, or nil
	warming bool          // one is being started
	cpus    []unix.CPUSet // one per CPU: each engine is bound to one, in turn
	cpuTurn atomic.Uint32
}

func newHandler(in *tlsspawn.Inline) *handler {
	return &handler{tls: in, cpus: cpuSets()}
}

// Start says once what would fail every connection whose rules do not
// set the TLS variables (a missing or mismatched key), or weaken it (an
// app with the engine's uid), and starts the first engine ahead.
func (h *handler) Start(s *listener.Server) {
	h.s = s
	log := logline.New(name)
	if warning, err := h.tls.Check(s.Env()); err != nil {
		log.Warn("check", "err", "with this environment: "+err.Error())
	} else if warning != "" {
		log.Warn("check", "err", "with this environment: "+warning)
	}
	h.refill()
}

// Stop ends the engine waiting for a connection.
func (h *handler) Stop() {
	h.warmMu.Lock()
	defer h.warmMu.Unlock()
	if h.warm != nil {
		h.warm.w.Close()
		h.warm = nil
	}
}

// cpuSets returns one set per CPU tlsserver may run on, or nil for one
// CPU. Each engine is bound to one of them, in turn: the threads of its
// runtime then never move between CPUs, and its exit needs no cross-CPU
// TLB shootdown. Measured on two CPUs: about 5% less CPU per connection,
// 25–30% more handshakes per second at 1 and 4 concurrent clients, the
// same at 8 (CPU-bound).
func cpuSets() []unix.CPUSet {
	var all unix.CPUSet
	if unix.SchedGetaffinity(0, &all) != nil || all.Count() < 2 {
		return nil
	}
	var sets []unix.CPUSet
	for cpu := 0; cpu < len(all)*64; cpu++ {
		if all.IsSet(cpu) {
			var one unix.CPUSet
			one.Set(cpu)
			sets = append(sets, one)
		}
	}
	return sets
}

// nextCPUs is the CPU set of the next engine, or nil.
func (h *handler) nextCPUs() *unix.CPUSet {
	if len(h.cpus) == 0 {
		return nil
	}
	return &h.cpus[int(h.cpuTurn.Add(1))%len(h.cpus)]
}

// Serve does tlsd's work for c with the connection's environment env,
// then spawns the app as c's child. The accept line comes when the engine
// starts and names it, as does the end line: the engine is the process
// that lives as long as the connection. The end line's exit code is the
// app's, or tlsserver's when there is no app (a failed handshake: 98). A
// connection that fails before its engine starts (a missing CERTFILE)
// has its accept line all the same, naming no process (conn=-).
func (h *handler) Serve(s *listener.Server, c *listener.Conn, env []string) {
	th := &tlsHost{h: h, c: c}
	var w *tlsspawn.Warm
	if we := h.takeWarm(); we != nil {
		w, th.pending = we.w, we.ended
	}
	app, code, err := h.tls.Handshake(c.FD(), env, th, w)
	if app != nil {
		err = s.SpawnApp(c, app, th.engine)
		tlsspawn.CloseFiles(app)
		if err == nil {
			return
		}
	}
	if th.engine == 0 {
		// No process served it: its accept line names none (conn=-).
		s.LogAccept(c, 0)
	}
	if err != nil {
		code = exitcode.Report(name, err, th.Conn()...)
	}
	s.End(c, th.engine, code)
}

// tlsHost is the tlsspawn.Host of one connection (c) or of an engine
// started ahead (c nil): the engine is spawned while the reaper waits, and
// its end comes back from the reaper.
type tlsHost struct {
	h       *handler
	c       *listener.Conn
	engine  int // 0 until the engine is spawned or adopted
	ended   <-chan syscall.WaitStatus
	pending <-chan syscall.WaitStatus // the end of the engine started ahead
}

func (th *tlsHost) Spawn(ch *chain.Child) (int, error) {
	ch.CPUs = th.h.nextCPUs()
	pid, ended, err := th.h.s.SpawnWatched(ch)
	if err != nil {
		return 0, err
	}
	th.engine, th.ended = pid, ended
	if th.c != nil {
		th.h.s.LogAccept(th.c, pid)
	}
	return pid, nil
}

func (th *tlsHost) Wait(pid int) syscall.WaitStatus { return <-th.ended }

func (th *tlsHost) Adopt(pid int) {
	th.engine, th.ended = pid, th.pending
	th.h.s.LogAccept(th.c, pid)
}

// Conn names the connection as its accept line does: by its engine, or
// "-" before it has one.
func (th *tlsHost) Conn() []string { return th.c.Fields(th.engine) }

// warmEngine is an engine started ahead of its connection
// (tlsspawn.Inline.Prestart): one waits while the listener is idle, so
// the next connection does not wait for an engine's start.
type warmEngine struct {
	w     *tlsspawn.Warm
	ended <-chan syscall.WaitStatus
}

// takeWarm returns the waiting engine, if any, and starts the next one.
func (h *handler) takeWarm() *warmEngine {
	h.warmMu.Lock()
	we := h.warm
	h.warm = nil
	h.warmMu.Unlock()
	h.refill()
	return we
}

// refill starts an engine ahead unless one waits or is on its way.
func (h *handler) refill() {
	h.warmMu.Lock()
	defer h.warmMu.Unlock()
	if h.warm != nil || h.warming || h.s.Stopping() {
		return
	}
	h.warming = true
	go func() {
		th := &tlsHost{h: h}
		w := h.tls.Prestart(h.s.Env(), th)
		h.warmMu.Lock()
		defer h.warmMu.Unlock()
		h.warming = false
		if w == nil {
			return
		}
		if h.s.Stopping() {
			w.Close()
			return
		}
		h.warm = &warmEngine{w: w, ended: th.ended}
	}()
}
