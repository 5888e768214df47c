package main

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// fdConn is the network as a net.Conn on two fds: one socket on both
// (tcpserver's fd 0/1, tcpclient's 6/7) or two pipes. The fds go through
// os.NewFile in non-blocking mode, which makes them pollable, so deadlines
// work (the handshake deadline, the idle timeout).
type fdConn struct {
	r, w     *os.File
	rc       syscall.RawConn // r's, for a read that does not wait (noWait)
	rsock    bool            // r is a socket: a read that must not wait says MSG_DONTWAIT
	rfd, wfd int
	socket   bool        // w is a socket: CloseWrite is shutdown(SHUT_WR)
	rawEOF   atomic.Bool // the peer's FIN (or pipe EOF) was read
	in, out  atomic.Int64
	activity *atomic.Int64 // unix nanoseconds of the last read or write, for -I

	// While batching, Write collects what crypto/tls writes (one record of
	// at most 16 KiB per call) and Flush sends it in one write(2): a 256 KiB
	// chunk of app data is one syscall instead of sixteen.
	mu       sync.Mutex
	batching bool
	pending  []byte

	// Reads are buffered: crypto/tls asks for one record at a time, and a
	// read(2) per 16 KiB record was a third of the receiving engine's
	// system time. rbuf[rpos:rend] is read from the network and not yet
	// handed out; only the reading goroutine touches these fields.
	rbuf       []byte
	rpos, rend int
	// noWait makes Read fail with errWouldBlock instead of waiting for
	// the network when nothing is buffered: the relay sets it while it
	// holds decrypted bytes the app has not been given yet.
	noWait bool
}

// readBufSize is the most one read(2) takes from the network.
const readBufSize = 256 << 10

// errWouldBlock is Read's answer in noWait mode when the next byte is
// not there yet. crypto/tls keeps a record read halfway across a
// temporary net.Error and goes on with it on the next Read.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "network read would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// newFDConn builds the conn. O_NONBLOCK is set here and not earlier: in
// delayed mode fds 0/1 belong to the app until it sends its command byte.
func newFDConn(rfd, wfd int) (*fdConn, error) {
	for _, fd := range []int{rfd, wfd} {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, err
		}
	}
	c := &fdConn{rfd: rfd, wfd: wfd, socket: isSocket(wfd), rsock: isSocket(rfd)}
	c.r = os.NewFile(uintptr(rfd), "network")
	c.w = c.r
	if wfd != rfd {
		c.w = os.NewFile(uintptr(wfd), "network")
	}
	var err error
	if c.rc, err = c.r.SyscallConn(); err != nil {
		return nil, err
	}
	return c, nil
}

func isSocket(fd int) bool {
	var st unix.Stat_t
	return unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFSOCK
}

func (c *fdConn) touch() {
	if c.activity != nil {
		c.activity.Store(time.Now().UnixNano())
	}
}

// Read hands out buffered bytes first; with none, it reads as much as the
// kernel has (up to readBufSize) in one read(2). It never waits when it
// has a byte to give.
func (c *fdConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.rpos == c.rend {
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	return n, nil
}

// fill reads the network into the empty rbuf: waiting for it through the
// poller (so deadlines apply), or, in noWait mode, trying once.
func (c *fdConn) fill() error {
	if c.rbuf == nil {
		c.rbuf = make([]byte, readBufSize)
	}
	c.rpos, c.rend = 0, 0
	var n int
	var err error
	if c.noWait {
		n, err = tryRead(c.rc, c.rsock, c.rbuf)
	} else {
		n, err = c.r.Read(c.rbuf)
	}
	if n > 0 {
		c.rend = n
		c.in.Add(int64(n))
		c.touch()
		return nil
	}
	if err == io.EOF {
		c.rawEOF.Store(true)
	}
	return err
}

func (c *fdConn) Write(p []byte) (int, error) {
	// The lock is held across the write itself: records must reach the
	// peer in the order crypto/tls made them, and a write from the reading
	// side (a KeyUpdate reply) must not pass a batch being flushed.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.batching {
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	return c.write(p)
}

// Batch starts collecting writes until Flush.
func (c *fdConn) Batch() {
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// Flush ends a batch and writes what it collected.
func (c *fdConn) Flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batching = false
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.write(c.pending)
	c.pending = c.pending[:0]
	return err
}

func (c *fdConn) write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.out.Add(int64(n))
		c.touch()
	}
	return n, err
}

// CloseWrite sends the peer a FIN: shutdown(SHUT_WR) on a socket (which
// fd 0 may share), close on a pipe.
func (c *fdConn) CloseWrite() error {
	if !c.socket {
		return c.w.Close()
	}
	rc, err := c.w.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Shutdown(int(fd), unix.SHUT_WR) }); err != nil {
		return err
	}
	if serr == unix.ENOTCONN {
		serr = nil
	}
	return serr
}

func (c *fdConn) Close() error {
	err := c.r.Close()
	if c.w != c.r {
		if e := c.w.Close(); err == nil && !errors.Is(e, os.ErrClosed) {
			err = e
		}
	}
	return err
}

func (c *fdConn) SetDeadline(t time.Time) error {
	c.r.SetDeadline(t)
	return c.w.SetDeadline(t)
}

func (c *fdConn) SetReadDeadline(t time.Time) error  { return c.r.SetReadDeadline(t) }
func (c *fdConn) SetWriteDeadline(t time.Time) error { return c.w.SetWriteDeadline(t) }

// fdAddr is the address the conn reports; crypto/tls only prints it.
type fdAddr string

func (a fdAddr) Network() string { return "fd" }
func (a fdAddr) String() string  { return string(a) }

func (c *fdConn) LocalAddr() net.Addr  { return fdAddr("local") }
func (c *fdConn) RemoteAddr() net.Addr { return fdAddr("peer") }

// isEPIPE says whether err is a write to a reader that went away.
func isEPIPE(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// tryRead reads what the fd behind rc has, without waiting:
// errWouldBlock if nothing, io.EOF at the end. One attempt: the callback
// says it is done whatever the read returned. On a socket it says
// MSG_DONTWAIT itself: another holder of the socket (an app of delayed
// mode) could make it blocking again, and this read must never wait
// while the relay holds bytes the app has not had. (A read that may wait
// or a write is right either way: on a blocking fd it only holds a
// thread while it waits.)
func tryRead(rc syscall.RawConn, sock bool, p []byte) (int, error) {
	var n int
	var errno error
	err := rc.Read(func(fd uintptr) bool {
		for {
			if sock {
				n, _, errno = unix.Recvfrom(int(fd), p, unix.MSG_DONTWAIT)
			} else {
				n, errno = unix.Read(int(fd), p)
			}
			if errno != unix.EINTR {
				return true
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno == unix.EAGAIN:
		return 0, errWouldBlock
	case errno != nil:
		return 0, &os.PathError{Op: "read", Path: "network", Err: errno}
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}
