package listener

import (
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
)

// Handler does a listener's work for each connection in place of
// spawning prog: tlsserver's TLS. Its methods take no crypto types, so
// that tcpserver, which has no Handler, links no crypto.
type Handler interface {
	// Start is called once, when the listener is ready to accept.
	Start(s *Server)
	// Serve handles c, whose environment is env, on a goroutine of its
	// own; c.FD() is closed when Serve returns. Serve ends with
	// s.SpawnApp, or with s.End when no child holds the connection.
	Serve(s *Server, c *Conn, env []string)
	// Stop is called once the listener is closed.
	Stop()
}

// StopGrace bounds how long a stopping listener with a Handler waits for
// connections still in Serve (a handshake, say: an exec'd tlsd would
// finish it on its own).
const StopGrace = 10 * time.Second

// Server is one running listener.
type Server struct {
	o        *Options
	h        Handler // nil: spawn prog
	log      *logline.Logger
	l        *listener
	wildcard bool // bound to 0.0.0.0 or ::: TCPLOCALIP needs getsockname
	lim      *limits
	rules    *ruleFile // nil without -x
	base     []string  // the children's environment, built once
	maxText  string    // "/40", the tail of count fields
	stopping atomic.Bool
	lfile    *os.File        // the listener, in the runtime's poller
	lconn    syscall.RawConn // its accept loop
	wakeC    chan struct{}   // a reaped child or a stop: look at the state again
	inflight sync.WaitGroup
}

// Run listens as o says, then accepts connections and spawns o's prog for
// each one (or hands it to h, when not nil), until SIGTERM or SIGINT. name
// and usage are the program's, for its messages. It returns the exit code.
func Run(name, usage string, o *Options, envp []string, h Handler) int {
	fail := func(err error) int {
		// A bad operand or name (100) gets the usage line too.
		if exitcode.Code(err) == exitcode.Usage {
			return exitcode.ReportUsage(name, usage, err)
		}
		return exitcode.Report(name, err)
	}
	// Nothing inherited by accident reaches a child: every fd above 2 is
	// close-on-exec from here on (the listening socket is used through a
	// close-on-exec copy).
	if err := fdutil.CloexecFrom(3); err != nil {
		return exitcode.Report(name, exitcode.Temp("set close-on-exec on", "inherited fds", err))
	}
	if o.readyFD >= 0 {
		if o.readyFD == o.inherited || !fdutil.Valid(o.readyFD) {
			return exitcode.ReportUsage(name, usage, exitcode.UsageError("option -d "+strconv.Itoa(o.readyFD)+" is not an open fd for readiness"))
		}
	}
	cred, err := o.ids.Resolve(envp)
	if err != nil {
		return fail(err)
	}

	s := &Server{o: o, h: h, log: logline.New(name), lim: newLimits(o.maxConn, o.maxPerIP)}
	s.log.Level = o.level
	s.maxText = "/" + strconv.Itoa(o.maxConn)
	if o.rulesPath != "" {
		s.rules = &ruleFile{path: o.rulesPath, missingOK: o.rulesMissingOK}
	}
	s.base = baseEnv(envp, o)

	// Signals first: a TERM that arrives right after readiness is handled.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	s.wakeC = make(chan struct{}, 1)

	if o.inherited >= 0 {
		s.l, err = adopt(o.inherited)
		if err == nil {
			unix.Close(o.inherited)
			if o.inherited == 0 {
				err = devNull(0)
			}
		}
	} else {
		s.l, err = bind(o)
	}
	if err != nil {
		return fail(err)
	}
	s.wildcard = s.l.addr.Addr().IsUnspecified()
	// The listener is non-blocking: os.NewFile puts it in the poller.
	s.lfile = os.NewFile(uintptr(s.l.fd), "listener")
	if s.lconn, err = s.lfile.SyscallConn(); err != nil {
		return exitcode.Report(name, exitcode.Temp("use", "the listening socket", err))
	}

	if err := privdrop.Apply(cred); err != nil {
		return exitcode.Report(name, err)
	}
	if o.printPort {
		if _, err := os.Stdout.WriteString(strconv.Itoa(int(s.l.addr.Port())) + "\n"); err != nil {
			return exitcode.Report(name, exitcode.Temp("write", "the port to stdout", err))
		}
	}
	// As ucspi-tcp: stdin and stdout are not the parent's business once
	// listening (and -1's reader sees EOF). /dev/null, not closed, so that
	// no accepted socket takes their numbers.
	if o.inherited != 0 {
		devNull(0)
	}
	devNull(1)
	if o.readyFD >= 0 {
		unix.Write(o.readyFD, []byte{'\n'})
		unix.Close(o.readyFD)
	}
	s.log.Info("start", "localip", s.l.addr.Addr().String(), "localport", strconv.Itoa(int(s.l.addr.Port())), "max", strconv.Itoa(o.maxConn))

	go s.signals(sigs)
	if h != nil {
		h.Start(s)
	}
	s.serve()

	// Stop: the listener goes first, children live on (ucspi-tcp).
	s.lfile.Close()
	if h != nil {
		h.Stop()
		s.waitTimeout(StopGrace)
	} else {
		s.inflight.Wait()
	}
	s.log.Info("stop", "count", strconv.Itoa(s.lim.count())+s.maxText)
	return exitcode.OK
}

// bind resolves the host and port operands and listens there.
func bind(o *Options) (*listener, error) {
	port, err := resolvePort(o.port)
	if err != nil {
		return nil, err
	}
	ip, err := resolveHost(o.host)
	if err != nil {
		return nil, err
	}
	return listen(netip.AddrPortFrom(ip, uint16(port)), o.backlog, o.reusePort)
}

// devNull points fd at /dev/null.
func devNull(fd int) error {
	n, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return exitcode.Temp("open", "/dev/null", err)
	}
	if n == fd {
		return fdutil.SetCloexec(fd, false)
	}
	defer unix.Close(n)
	if err := unix.Dup3(n, fd, 0); err != nil {
		return exitcode.Temp("redirect fd "+strconv.Itoa(fd)+" to", "/dev/null", err)
	}
	return nil
}

// wake makes the accept loop look at its state again.
func (s *Server) wake() {
	select {
	case s.wakeC <- struct{}{}:
	default: // one is pending already
	}
}

// stop ends the accept loop, waiting or not.
func (s *Server) stop() {
	s.stopping.Store(true)
	s.wake()
	s.lfile.SetReadDeadline(time.Unix(1, 0))
}

// Stopping says whether a stop was asked for.
func (s *Server) Stopping() bool { return s.stopping.Load() }

// Env is the environment every connection's starts from: the listener's
// own, without the variables it owns.
func (s *Server) Env() []string { return s.base }

// waitTimeout waits for the connections in flight, at most d.
func (s *Server) waitTimeout(d time.Duration) {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}
