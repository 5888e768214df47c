package engine

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdConn is the network as a net.Conn on two fds: one socket on both
// (tcpserver's fd 0/1, tcpclient's 6/7) or two pipes. The fds go through
// os.NewFile in non-blocking mode, which makes them pollable, so deadlines
// work (the handshake deadline, the idle timeout).
type fdConn struct {
	r, w     *os.File
	rr, rw   rawFile
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
	c := &fdConn{rfd: rfd, wfd: wfd, socket: isSocket(wfd)}
	c.r = os.NewFile(uintptr(rfd), "network")
	c.w = c.r
	if wfd != rfd {
		c.w = os.NewFile(uintptr(wfd), "network")
	}
	var err error
	if c.rr, err = newRawFile(c.r); err != nil {
		return nil, err
	}
	if c.rw, err = newRawFile(c.w); err != nil {
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
		n, err = c.rr.tryRead(c.rbuf)
	} else {
		n, err = c.rr.read(c.rbuf)
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
	n, err := c.rw.write(p)
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

// rawFile does the I/O of a pollable fd in non-blocking system calls made
// with syscall.RawSyscall, and waits in Go's poller when the fd is not
// ready (so deadlines apply as with os.File). A plain os.File call tells
// the scheduler it enters a system call: with the engine's GOMAXPROCS=1,
// a copy of 256 KiB takes long enough that sysmon hands the P to another
// thread and back each time, a tenth of the engine's CPU in bulk. A call
// that cannot wait in the kernel need not say. On a socket the call says
// MSG_DONTWAIT itself, as another holder of the socket (an app of delayed
// mode) could clear O_NONBLOCK; the pipes' ends are the engine's alone,
// and newFDConn and newAppFiles made them non-blocking.
type rawFile struct {
	f    *os.File
	rc   syscall.RawConn
	fd   uintptr // for tryRead; f.Fd() would make the fd blocking
	sock bool
	// gate, when set, learns when read waits in the poller and when it
	// is woken: the relay's buffers are empty while it waits (relay.go).
	gate *gate
}

func newRawFile(f *os.File) (rawFile, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return rawFile{}, err
	}
	r := rawFile{f: f, rc: rc}
	err = rc.Control(func(fd uintptr) { r.fd = fd })
	r.sock = isSocket(int(r.fd))
	return r, err
}

// read reads what is there, waiting for a first byte; io.EOF at the end.
// Errors are spelled as os.File's.
func (r *rawFile) read(p []byte) (int, error) {
	var n int
	var errno error
	err := r.rc.Read(func(fd uintptr) bool {
		r.gate.wake()
		n, errno = r.io(false, fd, p)
		if errno == syscall.EAGAIN {
			r.gate.park()
			return false
		}
		return true
	})
	r.gate.wake() // a deadline ends the wait without a last call
	return r.done("read", n, err, errno)
}

// tryRead reads what is there without waiting: errWouldBlock if nothing.
func (r *rawFile) tryRead(p []byte) (int, error) {
	n, errno := r.io(false, r.fd, p)
	if errno == syscall.EAGAIN {
		return 0, errWouldBlock
	}
	return r.done("read", n, nil, errno)
}

// write writes all of p, waiting for room as needed.
func (r *rawFile) write(p []byte) (int, error) {
	total := 0
	var errno error
	err := r.rc.Write(func(fd uintptr) bool {
		for total < len(p) {
			n, e := r.io(true, fd, p[total:])
			if e == syscall.EAGAIN {
				return false
			}
			if e != nil {
				errno = e
				return true
			}
			total += n
		}
		return true
	})
	if err == nil {
		err = errno
	}
	if err != nil {
		return total, &os.PathError{Op: "write", Path: r.f.Name(), Err: err}
	}
	return total, nil
}

func (r *rawFile) done(op string, n int, err, errno error) (int, error) {
	if err == nil {
		err = errno
	}
	if err != nil {
		return 0, &os.PathError{Op: op, Path: r.f.Name(), Err: err}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// io is one non-blocking read or write of p, EINTR retried.
func (r *rawFile) io(write bool, fd uintptr, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	trap, flags := uintptr(syscall.SYS_READ), uintptr(0)
	switch {
	case write && r.sock:
		trap, flags = syscall.SYS_SENDTO, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL
	case write:
		trap = syscall.SYS_WRITE
	case r.sock:
		trap, flags = syscall.SYS_RECVFROM, syscall.MSG_DONTWAIT
	}
	for {
		n, _, e := syscall.RawSyscall6(trap, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)), flags, 0, 0)
		switch e {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, e
	}
}

// release gives b's whole pages back to the kernel (MADV_DONTNEED): they
// read as zeros when next touched. b must hold nothing anyone needs.
// The big buffers are large Go objects, page-aligned spans of their own.
func release(b []byte) {
	b = b[:cap(b)]
	if len(b) == 0 {
		return
	}
	page := uintptr(os.Getpagesize())
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := (page - start%page) % page
	hi := uintptr(len(b))
	if lo >= hi {
		return
	}
	hi = lo + (hi-lo)/page*page
	if hi > lo {
		unix.Madvise(b[lo:hi], unix.MADV_DONTNEED)
	}
}
