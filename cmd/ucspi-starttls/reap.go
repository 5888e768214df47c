package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
)

// Bounds of the sweep at the STARTTLS switch: rounds of "list the
// children, kill them, wait for one to go", and the time they may take.
// A SIGKILLed process is gone in microseconds unless it sleeps in the
// kernel (a hung NFS read); 5 s leave room for that on a loaded host.
const (
	sweepRounds = 1000
	sweepTime   = 5 * time.Second
	sweepPoll   = 20 * time.Millisecond // orphans arrive without SIGCHLD
	reapBatch   = 1024                  // zombies taken per wake-up
)

// reaper is the process's only waiter for its children. One waiter, not
// one wait4 per pid: as a child subreaper (server mode) we also inherit
// every orphan of the apps, and each must be reaped; a catch-all wait
// beside per-pid waits would steal the apps' exit statuses. Reaping and
// sweeping hold mu, so no pid the sweep has listed is reaped (and
// reused by an unrelated process) before its SIGKILL is sent.
type reaper struct {
	mu    sync.Mutex
	waits map[int]*child // spawned by us, with someone waiting
	keep  map[int]bool   // inherited from tlsd/tlsc -n: never swept
	kick  chan struct{}  // a child was spawned: there is something to wait for
	gone  chan struct{}  // a child was reaped
}

// child is one process we spawned; done is closed once it is reaped.
type child struct {
	pid    int
	status syscall.WaitStatus
	done   chan struct{}
	r      *reaper
}

// signal sends sig to c unless it has been reaped: its pid may belong
// to another process by then.
func (c *child) signal(sig syscall.Signal) {
	c.r.mu.Lock()
	defer c.r.mu.Unlock()
	select {
	case <-c.done:
	default:
		syscall.Kill(c.pid, sig)
	}
}

// newReaper starts reaping. Call it before spawning anything: the
// children it finds are the ones inherited across exec (under tlsd -n
// the TLS engine and the key holder, doc/design.md §3.3: the app reaps the
// engine), which the STARTTLS sweep leaves alone.
func newReaper() *reaper {
	r := &reaper{
		waits: make(map[int]*child),
		keep:  make(map[int]bool),
		kick:  make(chan struct{}, 1),
		gone:  make(chan struct{}, 1),
	}
	pids, _ := childPIDs()
	for _, pid := range pids {
		r.keep[pid] = true
	}
	go r.run()
	return r
}

// run waits for a zombie without taking it (WNOWAIT), then reaps under
// mu. With no child at all it sleeps until the next spawn: without
// children there are no descendants, so no orphan can arrive either.
func (r *reaper) run() {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT|unix.WALL, nil)
		switch err {
		case nil:
			r.collect()
		case unix.EINTR:
		default: // ECHILD
			<-r.kick
		}
	}
}

// collect reaps every zombie child and hands each status to its waiter.
func (r *reaper) collect() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := 0; i < reapBatch; i++ {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG|unix.WALL, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
		delete(r.keep, pid)
		if c := r.waits[pid]; c != nil {
			delete(r.waits, pid)
			c.status = ws
			close(c.done)
		}
	}
	select {
	case r.gone <- struct{}{}:
	default:
	}
}

// spawn starts c and registers the child before the reaper can see it
// exit (mu is held across the fork).
func (r *reaper) spawn(c *chain.Child) (*child, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := chain.Spawn(c)
	if err != nil {
		return nil, err
	}
	ch := &child{pid: pid, done: make(chan struct{}), r: r}
	r.waits[pid] = ch
	select {
	case r.kick <- struct{}{}:
	default:
	}
	return ch, nil
}

// sweepError: some process of the cleartext phase outlived the sweep.
type sweepError struct{ left int }

func (e *sweepError) Error() string {
	what := " processes"
	if e.left == 1 {
		what = " process"
	}
	return strconv.Itoa(e.left) + what + " left after " + strconv.Itoa(int(sweepTime/time.Second)) + " s"
}

// sweep kills every child but the inherited ones, and then each orphan
// their deaths hand us (we are the subreaper: a double-forked or setsid
// process comes to us, not to init), until no such child is left, not
// even as a zombie. Only children are killed, never a pid read from
// another process's list: our children's pids cannot be reused until we
// reap them, so every SIGKILL reaches the process that was listed.
// A round that finds no child ends the sweep for good: with no child
// left there is no descendant left to orphan another one.
func (r *reaper) sweep() error {
	deadline := time.Now().Add(sweepTime)
	left := 0
	for round := 0; round < sweepRounds; round++ {
		n, err := r.killRound()
		if err != nil || n == 0 {
			return err
		}
		left = n
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		// A reaped child may have left orphans: look again at once. A
		// grandchild orphaned by a process that was not our child comes
		// without SIGCHLD: look again after a short while in any case.
		select {
		case <-r.gone:
		case <-time.After(min(wait, sweepPoll)):
		}
	}
	return &sweepError{left: left}
}

// killRound sends SIGKILL to every child not inherited and returns how
// many there were (zombies included: they are gone once reaped).
func (r *reaper) killRound() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	pids, err := childPIDs()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, pid := range pids {
		if !r.keep[pid] {
			syscall.Kill(pid, syscall.SIGKILL)
			n++
		}
	}
	return n, nil
}

// errNoChildren: /proc does not list our children, so a sweep could not
// tell that it is done.
var errNoChildren = errors.New("no /proc/self/task/*/children to list the children in")

// childPIDs lists the pids in /proc/self/task/*/children: a child
// belongs to the thread that forked it, or to another thread of the
// group once that one is gone. The kernel walks each list by position,
// which is exact for the sweep: while mu is held no child is reaped, and
// an orphan is added at the end of a list, so nothing listed before a
// read moves (no goroutine here exits locked to its thread, so the
// runtime ends no thread whose children would move).
func childPIDs() ([]int, error) {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, err
	}
	var pids []int
	found := false
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		found = true
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	if !found {
		return nil, errNoChildren
	}
	return pids, nil
}
