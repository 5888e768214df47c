package main

import (
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// fragment is one answer of a reader goroutine.
type fragment struct {
	b        []byte
	complete bool
	err      error
}

// reader runs a lineproto.Reader in a goroutine that reads only when
// asked: the client's reader must never read past the STARTTLS line, since
// what follows belongs to the TLS engine.
type reader struct {
	rd   *lineproto.Reader
	req  chan int
	out  chan fragment
	busy bool
	eof  bool
}

func newReader(src io.Reader) *reader { return readerOver(lineproto.NewReader(src, 0)) }

// readerOver is newReader for a lineproto.Reader that may hold bytes
// already.
func readerOver(rd *lineproto.Reader) *reader {
	r := &reader{rd: rd, req: make(chan int), out: make(chan fragment, 1)}
	go func() {
		for max := range r.req {
			b, c, err := r.rd.Read(max)
			r.out <- fragment{b, c, err}
		}
	}()
	return r
}

// ask starts a read unless one is under way or the input ended.
func (r *reader) ask(max int) {
	if !r.busy && !r.eof {
		r.busy = true
		r.req <- max
	}
}

// stop ends the goroutine once it is idle (a busy one ends after its
// current read fails on a closed fd).
func (r *reader) stop() { close(r.req) }

// fdReader reads a raw fd without the runtime poller: fd 0 is shared with
// the TLS engine, so its O_NONBLOCK flag must stay as it is.
type fdReader int

func (f fdReader) Read(b []byte) (int, error) {
	for {
		n, err := syscall.Read(int(f), b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

// writeAll writes all of b to fd, with MSG_NOSIGNAL on a socket so that
// a vanished peer is an error, not a SIGPIPE on fd 1. A full fd (made
// non-blocking by someone) is waited for in poll(2), a second at a time.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.SendmsgN(fd, b, nil, nil, unix.MSG_NOSIGNAL)
		if err == unix.ENOTSOCK {
			n, err = unix.Write(fd, b)
		}
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
			unix.Poll(pfd, 1000)
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// session drives one connection: client ⇄ lineproto.Session ⇄ app.
type session struct {
	cfg  *config
	log  *logline.Logger
	p    lineproto.Session
	tls  *tlsFDs
	env  *ucspi.Env
	path string
	kids *reaper

	client   *reader
	clientFD int // where client bytes are read (fd 0, then SSLREADFD)
	writeCl  func([]byte) error
	clGone   bool // the client cannot be written to any more
	app      *app
	appR     *reader
	timer    *time.Timer
	timedOut bool
}

func (s *session) run() int {
	a, err := startApp(s.kids, s.path, s.cfg.prog, s.env.Environ())
	if err != nil {
		return exitcode.Report(name, err)
	}
	s.app = a
	s.appR = newReader(a.stdout)
	s.clientFD = ucspi.ServerReadFD
	s.client = newReader(fdReader(ucspi.ServerReadFD))
	s.writeCl = func(b []byte) error { return writeAll(ucspi.ServerWriteFD, b) }
	s.timer = time.NewTimer(s.cfg.timeout)
	defer s.timer.Stop()

	for {
		if code, done := s.events(); done {
			return code
		}
		if want, max := s.p.WantClient(); want {
			s.client.ask(max)
		}
		s.appR.ask(0)
		if s.appR.eof {
			return s.finish()
		}
		select {
		case f := <-s.client.out:
			s.client.busy = false
			s.resetTimer()
			if len(f.b) > 0 && f.err != lineproto.ErrTruncated {
				s.p.Client(f.b, f.complete)
			}
			if f.err != nil {
				s.client.eof = true
				if f.err != io.EOF {
					s.log.Debug("client", "err", "read: "+f.err.Error())
				}
				s.flush()
				s.app.closeStdin()
				continue
			}
		case f := <-s.appR.out:
			s.appR.busy = false
			if len(f.b) > 0 {
				s.p.App(f.b, f.complete)
			}
			if f.err != nil {
				s.appR.eof = true
				if !s.p.Greeted() {
					s.log.Warn("app", "err", "prog ended before its greeting")
					s.flush()
					s.sendClient(s.p.Unavailable())
				}
			}
		case <-s.timer.C:
			s.timedOut = true
			if s.client.eof {
				return s.finish()
			}
			s.log.Warn("timeout", "err", "timeout in the cleartext phase")
			s.flush()
			s.sendClient(s.p.Timeout())
			s.app.end()
			return Refused
		}
		s.flush()
	}
}

// resetTimer restarts the cleartext-phase timeout; after TLS it runs only
// until the fresh app has greeted.
func (s *session) resetTimer() {
	if s.p.TLS() && s.p.Greeted() {
		s.timer.Stop()
		return
	}
	if !s.timer.Stop() {
		select {
		case <-s.timer.C:
		default:
		}
	}
	s.timer.Reset(s.cfg.timeout)
}

// flush writes what the protocol session holds for the app and the client.
func (s *session) flush() {
	if b := s.p.TakeApp(); len(b) > 0 {
		s.app.write(b)
	}
	if b := s.p.TakeClient(); len(b) > 0 {
		s.sendClient(b)
	}
}

func (s *session) sendClient(b []byte) {
	if s.clGone {
		return
	}
	if err := s.writeCl(b); err != nil {
		s.clGone = true
		s.log.Debug("client", "err", "write: "+err.Error())
		s.app.closeStdin()
	}
}

// events acts on what the protocol session asks for.
func (s *session) events() (int, bool) {
	switch s.p.Event() {
	case lineproto.StartTLS:
		return s.startTLS()
	case lineproto.Close:
		s.flush()
		s.log.Warn("policy", "err", "session closed by policy: app preauthenticated, TLS required")
		s.app.end()
		return Refused, true
	}
	return 0, false
}

// finish ends a session whose app has closed its output: the client gets
// EOF, the app is reaped, and its exit status is ours.
func (s *session) finish() int {
	s.flush()
	code := s.app.end()
	if s.timedOut {
		s.log.Warn("app", "err", "prog did not exit after client EOF")
	}
	return code
}

// pipelined says whether the client sent anything after the STARTTLS
// line: bytes in our buffer, or bytes (or EOF) waiting in the kernel.
func (s *session) pipelined() bool {
	// A read under way would take the ClientHello from the engine; the
	// protocol sessions never ask for one after STARTTLS, so this is a
	// bug guard, not a path a client can choose.
	if s.client.busy || s.client.rd.Buffered() > 0 {
		return true
	}
	pfd := []unix.PollFd{{Fd: int32(s.clientFD), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// startTLS performs the switch (doc/design.md §3.3, §3.5).
func (s *session) startTLS() (int, bool) {
	s.flush()
	// Refuse STARTTLS when bytes follow it (CVE-2011-0411): they arrived
	// in cleartext and must not be taken as protected commands.
	if s.pipelined() {
		s.sendClient(s.p.Refuse())
		s.log.Warn("refuse", "err", "starttls refused: commands pipelined after it")
		s.app.end()
		unix.Close(s.tls.ctl)
		return Refused, true
	}
	s.sendClient(s.p.Ready())
	s.log.Debug("request")
	vars, err := s.handshake()
	if err != nil {
		msg := "tls handshake failed: " + err.Error()
		if isBadReport(err) {
			msg = err.Error()
		}
		s.log.Warn("handshake", "err", msg)
		s.dropConnection()
		s.app.end()
		return exitcode.TLSSession, true
	}
	// Nothing from before the switch crosses it: the old app goes with
	// whatever it had queued (response injection), and so does every
	// process it left behind, which could otherwise open the fresh app's
	// /proc/PID/fd/1 (same uid) and write into the TLS session.
	old := s.app
	s.appR.stop()
	s.client.stop()
	if err := s.kids.sweep(); err != nil {
		s.dropConnection()
		return exitcode.Report(name, &exitcode.Error{Code: exitcode.Temporary,
			Op: "end the cleartext phase", Err: err}), true
	}
	old.end()
	// fds 0/1 are the engine's now.
	if nul, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0); err == nil {
		unix.Dup3(nul, ucspi.ServerReadFD, unix.O_CLOEXEC)
		unix.Dup3(nul, ucspi.ServerWriteFD, unix.O_CLOEXEC)
		unix.Close(nul)
	}

	// The fresh app: SSL_* from the report, no UCSPITLS (mailfront-style
	// apps would offer STARTTLS again when it is set).
	env := ucspi.NewEnv(s.env.Environ())
	env.Unset(ucspi.UCSPITLS)
	env.Unset(ucspi.ReportVars...)
	env.Apply(vars)
	s.daneClient(env, vars)
	a, err := startApp(s.kids, s.path, s.cfg.prog, env.Environ())
	if err != nil {
		s.log.Warn("app", "err", err.Error())
		return exitcode.Code(err), true
	}
	s.app = a
	s.appR = newReader(a.stdout)
	s.clientFD = s.tls.rd
	unix.SetNonblock(s.tls.rd, true) // ours alone; lets Close wake a reader
	rd := os.NewFile(uintptr(s.tls.rd), "sslread")
	wr := s.tls.wr
	s.client = newReader(rd)
	s.writeCl = func(b []byte) error { return writeAll(wr, b) }
	s.clGone = false
	s.p.Started()
	s.resetTimer()
	// The TLS version and cipher are on the engine's tls line.
	s.log.Info("starttls", "proto", s.cfg.proto, "result", "tls")
	return 0, false
}

// dropConnection shuts the socket down under the engine, which may still
// be waiting for a ClientHello (no report within -t, tlsd without -K),
// or be past a handshake whose report we cannot use, or relay a session
// we give up: shutdown acts on the socket itself, so the engine's reads
// end too, and no engine outlives the session.
func (s *session) dropConnection() { unix.Shutdown(ucspi.ServerReadFD, unix.SHUT_RDWR) }

// errHandshake: the engine closed the control fd without a report.
var errHandshake = errors.New("no report from the engine")

// badReportError is a report the engine sent that ucspi.ParseReport
// rejects (a name no engine sets, a value too long or with a control
// character, bad framing) or that does not end: an engine that is not
// the suite's, or no longer runs its code. Neither mode starts prog
// after one, and the log names the engine as the cause.
type badReportError struct{ err error }

func (e *badReportError) Error() string {
	return "the TLS engine sent a bad handshake report: " + e.err.Error()
}

func (e *badReportError) Unwrap() error { return e.err }

func isBadReport(err error) bool {
	var b *badReportError
	return errors.As(err, &b)
}

// handshake writes 'Y' on the control fd and reads the report to its
// final NUL, within the timeout.
func (s *session) handshake() ([]ucspi.Var, error) {
	ctl := s.tls.ctl
	defer unix.Close(ctl)
	if err := writeAll(ctl, []byte{'Y'}); err != nil {
		return nil, err
	}
	return readReport(ctl, time.Now().Add(s.cfg.timeout), errors.New("timed out waiting for the handshake report"))
}

// readReport reads the UCSPI-TLS report from ctl to its final NUL before
// deadline: EOF first means the handshake failed (errHandshake), the
// deadline gives timeout, and a report cut short by EOF, too big or
// rejected by ucspi.ParseReport is a *badReportError.
func readReport(ctl int, deadline time.Time, timeout error) ([]ucspi.Var, error) {
	vars, err := ucspi.ReadReport(&pollReader{fd: ctl, deadline: deadline, timeout: timeout})
	switch {
	case err == nil:
		return vars, nil
	case errors.Is(err, ucspi.ErrNoReport):
		return nil, errHandshake
	case err == timeout:
		return nil, err
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return nil, err
	}
	return nil, &badReportError{err}
}

// pollReader reads fd, waiting for it in poll(2) until deadline, then
// failing with timeout.
type pollReader struct {
	fd       int
	deadline time.Time
	timeout  error
}

func (p *pollReader) Read(b []byte) (int, error) {
	for {
		left := time.Until(p.deadline)
		if left <= 0 {
			return 0, p.timeout
		}
		pfd := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(pfd, int(left/time.Millisecond)+1); err != nil && err != unix.EINTR {
			return 0, err
		}
		if pfd[0].Revents == 0 {
			continue
		}
		n, err := unix.Read(p.fd, b)
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err != nil:
			return 0, err
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}
