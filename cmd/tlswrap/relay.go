package main

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

// relay moves the session's bytes until both directions are over.
// EOF rules (doc/tlswrap.md, doc/design.md §5.2):
//   - app EOF on fd 3: everything read is already written to the TLS
//     conn; then close_notify and FIN (default), or a bare FIN (-s).
//   - peer close_notify or FIN: fd 4 is closed after the last byte; the
//     other direction goes on until the app's EOF. FIN without
//     close_notify is a truncation with -J (98), and always mid-record.
//   - app stops reading (EPIPE on fd 4): the engine keeps reading the
//     network and discards it, so the peer's close is still seen.
//   - app gone and our FIN sent: the engine waits at most lingerTime for
//     the peer's close, then exits 0.
type relay struct {
	e    *engine
	tc   *tls.Conn
	conn *fdConn
	app  *appFiles

	activity atomic.Int64
	idleHit  atomic.Bool
	linger   atomic.Bool
	peerDone atomic.Bool // the peer closed cleanly
	finSent  atomic.Bool // our direction is closed
}

// result is how one direction ended: code 0 is a clean end.
type result struct {
	code int
	msg  string
}

func (r *relay) run() int {
	r.conn.activity = &r.activity
	toApp, err := r.app.w.SyscallConn()
	if err != nil {
		r.e.log.Warn("relay", "status", itoa(exitcode.Temporary), "err", "unable to use the app's pipes: "+err.Error())
		return exitcode.Temporary
	}
	r.activity.Store(time.Now().UnixNano())
	if r.e.o.idle > 0 {
		r.watchIdle()
	}
	netc := make(chan result, 1)
	appc := make(chan result, 1)
	gone := make(chan struct{}, 1)
	go func() { netc <- r.netToApp() }()
	go func() { appc <- r.appToNet() }()
	netDone, appDone := false, false
	for !netDone || !appDone {
		select {
		case res := <-netc:
			netDone = true
			if res.code != 0 {
				r.e.log.Warn("relay", "status", itoa(res.code), "err", res.msg)
				return res.code
			}
		case res := <-appc:
			appDone = true
			if res.code != 0 {
				r.e.log.Warn("relay", "status", itoa(res.code), "err", res.msg)
				return res.code
			}
			if !netDone {
				// Learn when the app has gone (its read end of fd 4
				// closed) without waiting for data to fail on.
				go func() {
					if waitGone(toApp) {
						gone <- struct{}{}
					}
				}()
			}
		case <-gone:
			r.linger.Store(true)
			r.conn.SetReadDeadline(time.Now().Add(lingerTime))
		}
	}
	return exitcode.OK
}

// netToApp copies the peer's cleartext to fd 4. It gathers the records
// that are already there (in fdConn's buffer or the kernel's) into one
// write to the app, but never waits for the network while it holds
// bytes the app has not had: before a read that could block, it writes
// out what it has (an interactive peer waits for the app's answer).
func (r *relay) netToApp() result {
	buf := make([]byte, bufSize)
	// Gather no more than the pipe to the app holds: a bigger write only
	// fills it and waits (a spawner that left the default 64 KiB pipe
	// measured 653 MB/s gathering 256 KiB, 961–1032 with 256 KiB pipes).
	if n, err := unix.FcntlInt(uintptr(toAppFD), unix.F_GETPIPE_SZ, 0); err == nil && n >= 2*maxPlaintext && n < len(buf) {
		buf = buf[:n]
	}
	fill := 0
	discard := false
	// flush gives the app what buf holds.
	flush := func() {
		if fill > 0 && !discard {
			if _, werr := r.app.w.Write(buf[:fill]); werr != nil {
				// The app stopped reading: drop the rest, but keep
				// reading so the peer's close is seen and nothing unread
				// is left in the socket at exit.
				discard = true
				r.app.w.Close()
			}
		}
		fill = 0
	}
	for {
		if len(buf)-fill < maxPlaintext {
			flush()
		}
		r.conn.noWait = fill > 0
		n, err := r.tc.Read(buf[fill:])
		r.conn.noWait = false
		fill += n
		if err == nil {
			continue
		}
		flush()
		if err == errWouldBlock {
			continue
		}
		if !discard {
			r.app.w.Close()
		}
		switch {
		case err == io.EOF && r.conn.rawEOF.Load() && r.e.o.strictEOF:
			return result{exitcode.TLSSession, "session truncated: peer closed without close_notify"}
		case err == io.EOF:
			r.peerDone.Store(true)
			return result{}
		case errors.Is(err, os.ErrDeadlineExceeded) && r.idleHit.Load():
			return result{exitcode.TLSSession, "idle timeout of " + itoa(int(r.e.o.idle/time.Second)) + " s"}
		case errors.Is(err, os.ErrDeadlineExceeded) && r.linger.Load():
			return result{}
		case r.finSent.Load() && isRemoteAlert(err):
			// OpenSSL 3 answers a FIN without close_notify with a
			// decode_error alert. Our side was over and every byte of the
			// peer's was delivered: the peer's verdict ends the session.
			r.e.log.Debug("alert", "err", "peer alert after our close: "+sanitize(err.Error(), 200))
			return result{}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return result{exitcode.TLSSession, "session truncated: peer closed inside a record"}
		}
		return result{exitcode.TLSSession, "unable to read from the peer: " + sanitize(err.Error(), 200)}
	}
}

// maxPlaintext is the most cleartext one TLS record carries: netToApp
// writes out its buffer before it has less room than that.
const maxPlaintext = 16 << 10

// appToNet copies fd 3 to the peer, then closes our direction.
func (r *relay) appToNet() result {
	buf := make([]byte, bufSize)
	for {
		n, err := r.app.r.Read(buf)
		if n > 0 {
			r.activity.Store(time.Now().UnixNano())
			r.conn.Batch()
			_, werr := r.tc.Write(buf[:n])
			if ferr := r.conn.Flush(); werr == nil {
				werr = ferr
			}
			if werr != nil {
				if r.peerDone.Load() && isEPIPE(werr) {
					return result{} // the peer closed and left: nobody to tell
				}
				return result{exitcode.TLSSession, "unable to write to the peer: " + sanitize(werr.Error(), 200)}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && r.idleHit.Load() {
				return result{exitcode.TLSSession, "idle timeout of " + itoa(int(r.e.o.idle/time.Second)) + " s"}
			}
			return result{exitcode.Temporary, "unable to read from the app: " + err.Error()}
		}
	}
	// Every byte the app wrote has been handed to the kernel: now the
	// end of our direction, which the peer sees after those bytes.
	if r.e.o.closeNotify {
		r.tc.CloseWrite()
	}
	r.finSent.Store(true)
	if err := r.conn.CloseWrite(); err != nil && !(r.peerDone.Load() && isEPIPE(err)) {
		return result{exitcode.TLSSession, "unable to close the connection: " + err.Error()}
	}
	return result{}
}

// watchIdle ends the session when neither direction moved a byte for
// the idle time: it expires every deadline, and the reader that fails
// sees idleHit.
func (r *relay) watchIdle() {
	idle := r.e.o.idle
	var t *time.Timer
	t = time.AfterFunc(idle, func() {
		last := time.Unix(0, r.activity.Load())
		if left := idle - time.Since(last); left > 0 {
			t.Reset(left)
			return
		}
		r.idleHit.Store(true)
		past := time.Unix(1, 0)
		r.conn.SetDeadline(past)
		r.app.r.SetReadDeadline(past)
		r.app.w.SetWriteDeadline(past)
	})
}

// isRemoteAlert says whether err is a TLS alert the peer sent
// (crypto/tls reports it as a *net.OpError "remote error").
func isRemoteAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}

// waitGone returns true once the reader of the pipe behind rc (fd 4,
// which the engine only writes) has gone, false if it cannot tell. It
// waits in the runtime's poller for the pipe's read side, which on a
// pipe's write end is woken only by EPOLLERR, no reader left, and asks
// readerGone before each wait (the poller forgets a wake-up that came
// before the wait began). Waiting there takes no lock the writes to the
// app need and holds no P.
func waitGone(rc syscall.RawConn) bool {
	return rc.Read(func(fd uintptr) bool { return readerGone(int(fd)) }) == nil
}

// readerGone says whether the pipe's write end fd has no reader left:
// select(2) counts the EPOLLERR of such a pipe as readable, which the
// write end never is otherwise. Not poll(2): with the engine's
// RLIMIT_NOFILE of 0 it fails (EINVAL); select has no such limit.
func readerGone(fd int) bool {
	var set unix.FdSet
	set.Set(fd)
	for {
		n, err := unix.Select(fd+1, &set, nil, nil, &unix.Timeval{})
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
