package tcpserver

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
	"github.com/tlschain/tlschain/pkg/tlsspawn"
	"github.com/tlschain/tlschain/pkg/version"
)

// server is one running tcpserver.
type server struct {
	o        *options
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
	tls      *tlsspawn.Inline // tlsd's work done in-process (tls.go), or nil
	tlsPath  string           // the tlsd that tls stands for
	warmMu   sync.Mutex       // the two below
	warm     *warmEngine      // an engine started ahead, or nil
	warming  bool             // one is being started
	cpus     []unix.CPUSet    // one per CPU: each engine is bound to one, in turn
	cpuTurn  atomic.Uint32
}

// Main listens, then accepts connections and spawns prog for each one,
// until SIGTERM or SIGINT. It returns the exit code.
func Main(argv, envp []string) int {
	inherited := inheritedFD(envp)
	o, err := parseArgs(argv[1:], inherited >= 0)
	if err == errHelp {
		os.Stdout.WriteString("usage: " + usage + "\n" + help)
		return exitcode.OK
	}
	if err == errVersion {
		os.Stdout.WriteString(version.Line(name))
		return exitcode.OK
	}
	if err != nil {
		return exitcode.ReportUsage(name, usage, err)
	}
	// Nothing inherited by accident reaches a child: every fd above 2 is
	// close-on-exec from here on (the listening socket is used through a
	// close-on-exec copy).
	if err := fdutil.CloexecFrom(3); err != nil {
		return exitcode.Report(name, exitcode.Temp("set close-on-exec on", "inherited fds", err))
	}
	if o.readyFD >= 0 {
		if o.readyFD == inherited || !fdutil.Valid(o.readyFD) {
			return exitcode.ReportUsage(name, usage, exitcode.UsageError("option -d "+strconv.Itoa(o.readyFD)+" is not an open fd for readiness"))
		}
	}
	cred, err := o.ids.Resolve(envp)
	if err != nil {
		return fail(err)
	}

	s := &server{o: o, log: logline.New(name), lim: newLimits(o.maxConn, o.maxPerIP)}
	s.log.Level = o.level
	s.maxText = "/" + strconv.Itoa(o.maxConn)
	if o.rulesPath != "" {
		s.rules = &ruleFile{path: o.rulesPath, missingOK: o.rulesMissingOK}
	}
	s.base = baseEnv(envp, o)
	s.setupTLS()

	// Signals first: a TERM that arrives right after readiness is handled.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	s.wakeC = make(chan struct{}, 1)

	if inherited >= 0 {
		s.l, err = adopt(inherited)
		if err == nil {
			unix.Close(inherited)
			if inherited == 0 {
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
	if inherited != 0 {
		devNull(0)
	}
	devNull(1)
	if o.readyFD >= 0 {
		unix.Write(o.readyFD, []byte{'\n'})
		unix.Close(o.readyFD)
	}
	s.log.Info("start", "ip", s.l.addr.Addr().String(), "port", strconv.Itoa(int(s.l.addr.Port())), "max", strconv.Itoa(o.maxConn))

	go s.signals(sigs)
	if s.tls != nil {
		s.refill()
	}
	s.serve()

	// Stop: the listener goes first, children live on (ucspi-tcp).
	s.lfile.Close()
	if s.tls != nil {
		s.dropWarm()
		s.waitTimeout(stopGrace)
	} else {
		s.inflight.Wait()
	}
	s.lim.mu.Lock()
	live := s.lim.live
	s.lim.mu.Unlock()
	s.log.Info("stop", "count", strconv.Itoa(live)+s.maxText)
	return exitcode.OK
}

// fail reports err; a bad operand or name (100) gets the usage line too.
func fail(err error) int {
	if exitcode.Code(err) == exitcode.Usage {
		return exitcode.ReportUsage(name, usage, err)
	}
	return exitcode.Report(name, err)
}

// bind resolves the host and port operands and listens there.
func bind(o *options) (*listener, error) {
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
func (s *server) wake() {
	select {
	case s.wakeC <- struct{}{}:
	default: // one is pending already
	}
}

// stop ends the accept loop, waiting or not.
func (s *server) stop() {
	s.stopping.Store(true)
	s.wake()
	s.lfile.SetReadDeadline(time.Unix(1, 0))
}
