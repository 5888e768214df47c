package listener

import (
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// limits counts live connections, in total and per client IP. A slot is
// taken at accept and given back when the child is reaped, or at once when
// the connection ends before a child exists (denied, rejected, spawn
// failure).
type limits struct {
	// spawning orders spawn+register against reap: spawners hold it
	// shared (they run in parallel), the reaper exclusively, so a child
	// that ends at once is never reaped before its pid is known.
	spawning sync.RWMutex
	mu       sync.Mutex // the fields below
	max      int        // -c
	maxPerIP int        // -C; 0 = no limit
	live     int
	perIP    map[netip.Addr]int
	children map[int]child
	// engines are a Handler's children that hold no slot (tlsserver's
	// TLS engines), whose end goes to whoever waits for it.
	engines map[int]chan syscall.WaitStatus
}

// child is what the reaper needs to know about a running child.
type child struct {
	remote netip.AddrPort
	start  time.Time // the connection's accept
	logPid int       // the pid the accept line named: the child's, or its engine's (a Handler's)
}

func newLimits(max, maxPerIP int) *limits {
	return &limits{
		max:      max,
		maxPerIP: maxPerIP,
		perIP:    make(map[netip.Addr]int),
		children: make(map[int]child),
		engines:  make(map[int]chan syscall.WaitStatus),
	}
}

// full says whether the total limit is reached: stop accepting.
func (l *limits) full() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live >= l.max
}

// take counts a new connection from ip. It returns the number of live
// connections from ip before this one (TCPCONNNUM, s6's meaning) and false
// when that number has already reached the per-IP limit, in which case
// nothing is counted: -C 1 lets one connection per IP run, the second is
// refused (s6-connlimit's off-by-one is not copied).
func (l *limits) take(ip netip.Addr) (others int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	others = l.perIP[ip]
	if l.maxPerIP > 0 && others >= l.maxPerIP {
		return others, false
	}
	l.perIP[ip] = others + 1
	l.live++
	return others, true
}

// register records a spawned child; logPid is the pid its log lines name.
func (l *limits) register(pid int, c *Conn, logPid int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.children[pid] = child{remote: c.remote, start: c.start, logPid: logPid}
	return l.live
}

// count returns the number of live connections.
func (l *limits) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.live
}

// reaped forgets a child and gives back its slot. It returns what its
// end line names, and false for a pid that is not ours.
func (l *limits) reaped(pid int) (live int, c child, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok = l.children[pid]
	if !ok {
		return l.live, c, false
	}
	delete(l.children, pid)
	l.releaseLocked(c.remote.Addr())
	return l.live, c, true
}

// releaseLocked gives back a slot taken for ip. The caller holds l.mu.
func (l *limits) releaseLocked(ip netip.Addr) {
	l.live--
	if n := l.perIP[ip] - 1; n > 0 {
		l.perIP[ip] = n
	} else {
		delete(l.perIP, ip)
	}
}

// release gives back a slot for a connection that never got a child.
func (l *limits) release(ip netip.Addr) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.releaseLocked(ip)
	return l.live
}

// watch records a spawned engine; its status arrives on the channel.
func (l *limits) watch(pid int) <-chan syscall.WaitStatus {
	ch := make(chan syscall.WaitStatus, 1)
	l.mu.Lock()
	l.engines[pid] = ch
	l.mu.Unlock()
	return ch
}

// engineEnded passes an engine's status on (nothing for a pid that is
// not an engine).
func (l *limits) engineEnded(pid int, ws syscall.WaitStatus) {
	l.mu.Lock()
	ch, ok := l.engines[pid]
	delete(l.engines, pid)
	l.mu.Unlock()
	if ok {
		ch <- ws // buffered: nobody may be waiting
	}
}
