package listener

import (
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// Conn is one accepted connection on its way to a child.
type Conn struct {
	fd         int
	start      time.Time      // accepted
	local      netip.AddrPort // getsockname of this connection
	remote     netip.AddrPort
	others     int    // live connections from the same IP before this one
	remoteHost string // -h
}

// Fields returns the fields naming c in log lines: conn= (pid, the
// process its accept line names, or 0 for none yet: "-"), ip=, port=.
func (c *Conn) Fields(pid int) []string { return connFields(pid, c.remote) }

func connFields(pid int, remote netip.AddrPort) []string {
	id := "-"
	if pid > 0 {
		id = strconv.Itoa(pid)
	}
	return []string{"conn", id, "ip", remote.Addr().String(), "port", strconv.Itoa(int(remote.Port()))}
}

// FD is the connection's socket, closed when the Handler's Serve returns.
func (c *Conn) FD() int { return c.fd }

// serve accepts until a stop is asked for. At the -c limit it does not
// accept: clients wait in the backlog until a child ends (ucspi-tcp).
// The listener is waited for in the runtime's poller, not in a poll(2) of
// our own: a goroutine in a system call holds its P, and the runtime's
// monitor thread, seeing that, kept waking every 20 µs under load (44%
// of tcpserver's context switches).
func (s *Server) serve() {
	for !s.stopping.Load() {
		if s.lim.full() {
			<-s.wakeC // a reaped child or a stop
			continue
		}
		err := s.lconn.Read(func(fd uintptr) bool { return !s.acceptSome(int(fd)) })
		if err != nil && !s.stopping.Load() {
			s.log.Warn("listen", "err", "wait for connections: "+err.Error())
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// acceptSome accepts while connections are waiting and slots are free.
// wait: none is waiting, the poller should wait for the next.
func (s *Server) acceptSome(lfd int) (wait bool) {
	for !s.stopping.Load() && !s.lim.full() {
		// Raw accept4 with SOCK_CLOEXEC and without SOCK_NONBLOCK: the
		// child gets a blocking fd 0/1 and no other child inherits it.
		fd, sa, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		switch err {
		case nil:
		case unix.EAGAIN:
			return true
		case unix.EINTR, unix.ECONNABORTED, unix.EPROTO, unix.EPERM:
			continue
		case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
			// Out of resources: back off rather than spin.
			s.log.Warn("listen", "err", "accept: "+err.Error())
			time.Sleep(100 * time.Millisecond)
			return false
		default:
			s.log.Warn("listen", "err", "accept: "+err.Error())
			time.Sleep(10 * time.Millisecond)
			return false
		}
		s.handle(fd, sa)
	}
	return false
}

// handle does the per-connection work that cannot wait: addresses,
// TCP_NODELAY, banner, per-IP limit; then it hands the connection to a
// goroutine for lookup, rules and spawn.
func (s *Server) handle(fd int, sa unix.Sockaddr) {
	c := &Conn{fd: fd, start: time.Now(), local: s.l.addr}
	var ok bool
	if c.remote, ok = fromSockaddr(sa); !ok {
		unix.Close(fd)
		return
	}
	if s.wildcard {
		// TCPLOCALIP is this connection's address, not the wildcard.
		if local, err := sockName(fd); err == nil {
			c.local = local
		}
	}
	if s.o.noDelay {
		unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	}
	if s.o.hasBanner {
		// Before lookups and rules: denied clients get it too (ucspi-tcp).
		writeAll(fd, s.o.banner)
	}
	ip := c.remote.Addr()
	others, ok := s.lim.take(ip)
	if !ok {
		unix.Close(fd)
		s.log.Warn("reject", append(c.Fields(0), "perip", strconv.Itoa(others)+"/"+strconv.Itoa(s.o.maxPerIP))...)
		return
	}
	c.others = others
	// The rest runs beside the accept loop: the lookup (-h) may wait on
	// DNS, and a spawn waits for the child's exec, which overlaps with
	// the next accept.
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		if s.o.lookup {
			c.remoteHost = lookupName(ip, s.o.paranoid)
		}
		s.start(c)
	}()
}

// writeAll writes str to the blocking socket fd; errors are the client's
// problem and show up when the child uses the socket.
func writeAll(fd int, str string) {
	b := []byte(str)
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return
		}
		b = b[n:]
	}
}
