package tcpserver

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsd"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

// tlsd in-process. When prog is the tlsd installed beside tcpserver (the
// same file), tcpserver does that tlsd's work itself for each connection:
// the same options, files read from the same per-connection environment,
// the same engine and report, the same app environment and identity. The
// app is spawned instead of being exec'd by a tlsd process, which saves a
// Go program's start (about a third of a connection's CPU: doc/tcpserver.md).
// Delayed mode (-n), a tlsd found elsewhere and --exec-tlsd run tlsd as
// written.

// stopGrace bounds how long a stopping tcpserver waits for connections
// still in their handshake (an exec'd tlsd would finish them on its own).
const stopGrace = 10 * time.Second

// tlsName is the program tcpserver stands in for.
const tlsName = "tlsd"

// setupTLS turns on the in-process path when prog is the sibling tlsd.
func (s *server) setupTLS() {
	if s.o.execTLSD || filepath.Base(s.o.prog[0]) != tlsName {
		return
	}
	path, err := chain.LookPath(s.o.prog[0], s.base)
	if err != nil || !samePath(path, siblingPath(tlsName)) {
		return
	}
	if in := tlsd.Inline(s.o.prog); in != nil {
		s.tls, s.tlsPath = in, path
		s.cpus = cpuSets()
		// Said once at start, what would fail every connection whose
		// rules do not set these variables (a missing or mismatched key),
		// or weaken it (an app with the engine's uid).
		if warning, err := in.Check(s.base); err != nil {
			s.log.Warn(tlsName + " with this environment: " + err.Error())
		} else if warning != "" {
			s.log.Warn(tlsName + " with this environment: " + warning)
		}
	}
}

// cpuSets returns one set per CPU tcpserver may run on, or nil for one
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
func (s *server) nextCPUs() *unix.CPUSet {
	if len(s.cpus) == 0 {
		return nil
	}
	return &s.cpus[int(s.cpuTurn.Add(1))%len(s.cpus)]
}

// siblingPath is name in tcpserver's own directory, or "".
func siblingPath(name string) string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(self), name)
}

func samePath(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// startTLS does tlsd's work for c with the connection's environment env,
// then spawns the app as c's child. The accept line comes when the engine
// starts and names it, as does the end line: the engine is the process
// that lives as long as the connection. The end line's exit code is the
// app's, or tlsd's when there is no app (a failed handshake: 98).
func (s *server) startTLS(c *conn, env []string) {
	h := &tlsHost{s: s, c: c}
	var w *tlsspawn.Warm
	if we := s.takeWarm(); we != nil {
		w, h.pending = we.w, we.ended
	}
	app, code := s.tls.Handshake(c.fd, env, h, w)
	if app != nil {
		_, _, err := s.spawnChild(c, app, h.engine)
		tlsspawn.CloseFiles(app)
		if err == nil {
			return
		}
		code = exitcode.Report(tlsName, err)
	}
	live := s.lim.release(c.remote.Addr())
	s.wake()
	if h.engine == 0 {
		s.logAccept(c, 0, live+1) // no process started: pid 0
	}
	if s.log.Level >= logline.Normal {
		s.log.Info("end", "pid", strconv.Itoa(h.engine), "exitcode", strconv.Itoa(code), "count", strconv.Itoa(live)+s.maxText)
	}
}

// tlsHost is the tlsspawn.Host of one connection (c) or of an engine
// started ahead (c nil): the engine is spawned while the reaper waits, and
// its end comes back from the reaper.
type tlsHost struct {
	s       *server
	c       *conn
	engine  int // 0 until the engine is spawned or adopted
	ended   <-chan syscall.WaitStatus
	pending <-chan syscall.WaitStatus // the end of the engine started ahead
}

func (h *tlsHost) Spawn(ch *chain.Child) (int, error) {
	ch.CPUs = h.s.nextCPUs()
	lim := h.s.lim
	lim.spawning.RLock()
	pid, err := chain.Spawn(ch)
	if err == nil {
		h.engine, h.ended = pid, lim.watch(pid)
	}
	lim.spawning.RUnlock()
	if err == nil && h.c != nil {
		h.s.logAccept(h.c, pid, lim.count())
	}
	return pid, err
}

func (h *tlsHost) Wait(pid int) syscall.WaitStatus { return <-h.ended }

func (h *tlsHost) Adopt(pid int) {
	h.engine, h.ended = pid, h.pending
	h.s.logAccept(h.c, pid, h.s.lim.count())
}

// warmEngine is an engine started ahead of its connection
// (tlsspawn.Inline.Prestart): one waits while the listener is idle, so
// the next connection does not wait for an engine's start.
type warmEngine struct {
	w     *tlsspawn.Warm
	ended <-chan syscall.WaitStatus
}

// takeWarm returns the waiting engine, if any, and starts the next one.
func (s *server) takeWarm() *warmEngine {
	s.warmMu.Lock()
	we := s.warm
	s.warm = nil
	s.warmMu.Unlock()
	s.refill()
	return we
}

// refill starts an engine ahead unless one waits or is on its way.
func (s *server) refill() {
	s.warmMu.Lock()
	defer s.warmMu.Unlock()
	if s.warm != nil || s.warming || s.stopping.Load() {
		return
	}
	s.warming = true
	go func() {
		h := &tlsHost{s: s}
		w := s.tls.Prestart(s.base, h)
		s.warmMu.Lock()
		defer s.warmMu.Unlock()
		s.warming = false
		if w == nil {
			return
		}
		if s.stopping.Load() {
			w.Close()
			return
		}
		s.warm = &warmEngine{w: w, ended: h.ended}
	}()
}

// dropWarm ends the waiting engine (at stop).
func (s *server) dropWarm() {
	s.warmMu.Lock()
	defer s.warmMu.Unlock()
	if s.warm != nil {
		s.warm.w.Close()
		s.warm = nil
	}
}

// waitTimeout waits for the in-flight connections, at most d.
func (s *server) waitTimeout(d time.Duration) {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
