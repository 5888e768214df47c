package engine

import (
	"errors"
	"io"
	"net"
	"os"
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
	rfd, wfd int
	socket   bool        // w is a socket: CloseWrite is shutdown(SHUT_WR)
	rawEOF   atomic.Bool // the peer's FIN (or pipe EOF) was read
	in, out  atomic.Int64
	activity *atomic.Int64 // unix nanoseconds of the last read or write, for -I
}

// newFDConn builds the conn. O_NONBLOCK is set here and not earlier: in
// delayed mode fds 0/1 belong to the app until it sends its command byte.
func newFDConn(rfd, wfd int) (*fdConn, error) {
	for _, fd := range []int{rfd, wfd} {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, err
		}
	}
	c := &fdConn{rfd: rfd, wfd: wfd, socket: isSocket(wfd)}
	c.r = os.NewFile(uintptr(rfd), "network")
	c.w = c.r
	if wfd != rfd {
		c.w = os.NewFile(uintptr(wfd), "network")
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

func (c *fdConn) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.in.Add(int64(n))
		c.touch()
	}
	if err == io.EOF {
		c.rawEOF.Store(true)
	}
	return n, err
}

func (c *fdConn) Write(p []byte) (int, error) {
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
