package tlsspawn

import (
	"errors"
	"io"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/landlock"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// engineName is the engine's program name, found beside the spawner.
const engineName = "tlswrap"

// Engine fd numbers (doc/tlswrap.md, the contract between spawner and
// engine).
const (
	engNetRead  = 0
	engNetWrite = 1
	engFromApp  = 3 // cleartext from the app: the engine reads it
	engToApp    = 4 // cleartext to the app: the engine writes it
	engControl  = 5 // UCSPI-TLS control socket
	engKeys     = 6 // key channel
	engLock     = 7 // uid-pool slot lock, only with --engine-uids
)

// session is a finished handshake: the app's ends of the cleartext pipes
// and the report.
type session struct {
	Pid      int // the engine
	AppRead  int // the app reads the peer's cleartext here
	AppWrite int // the app writes cleartext for the peer here
	Vars     []ucspi.Var
}

// failedError is a handshake that produced no report. Code is the class
// the program exits with: the engine's own exit code when it is one of the
// suite's TLS codes, else 98. Logged says the engine already wrote the
// reason (it does for every exit code it chooses), so the spawner adds no
// second line.
type failedError struct {
	Code   int
	Logged bool
	Status string // "98", "signal:9", as an end line's status
}

func (e *failedError) Error() string { return "handshake failed: engine status " + e.Status }

// engineEnv is the engine's whole environment: the connection's id and
// the peer (for its log lines) and GOMAXPROCS. No key path or other
// variable reaches it.
func (c *Common) engineEnv(env *ucspi.Env) []string {
	out := peerVars(env)
	if c.EngineMaxProcs != "" {
		out = append(out, ucspi.GoMaxProcs+"="+c.EngineMaxProcs)
	}
	return out
}

// engineTimerSlack is how late the kernel may wake an engine's threads
// (PR_SET_TIMERSLACK; the default is 50 µs). The Go runtime's monitor
// thread, sysmon, sleeps 20 µs at a time while its process is busy, and
// an engine is busy for most of its few milliseconds: some 21 wake-ups a
// connection, each a timer, a nanosleep and two context switches, for
// nothing, as the engine waits for I/O in the runtime's poller, not in a
// blocking system call (waitGone in the engine). With 20 ms of slack
// sysmon wakes at most once or twice; measured at 8 concurrent handshakes
// on two CPUs, 58 -> 27 context switches and 13% less CPU a connection
// (1 ms: 8%, 5 ms: 10%). The engine's own timers (-K, -I, the linger and
// the trims) are all 200 ms and longer: none matters to 20 ms.
const engineTimerSlack = 20 * time.Millisecond

// started is an engine just spawned, and the spawner's ends of its fds.
type started struct {
	pid      int
	appRead  int // the app reads the peer's cleartext here
	appWrite int // the app writes cleartext for the peer here
	ctl      int // the control socket (UCSPI-TLS: SSLCTLFD)
	key      int // the key channel
}

// pipeSize is the buffer asked for the app's two pipes.
const pipeSize = 256 << 10

// startEngine creates the pipes and sockets and spawns the engine on the
// network fds with the engine's credentials; prestarted is an engine
// started before its connection (the network fds are placeholders). The
// engine's ends are closed in the spawner once it runs.
func (p *prepared) startEngine(h Host, prestarted bool) (*started, error) {
	id := p.id
	fromAppR, fromAppW, err := fdutil.Pipe()
	if err != nil {
		return nil, exitcode.New(exitcode.TLSSetup, "create", "a pipe", err)
	}
	toAppR, toAppW, err := fdutil.Pipe()
	if err != nil {
		closeAll(fromAppR, fromAppW)
		return nil, exitcode.New(exitcode.TLSSetup, "create", "a pipe", err)
	}
	// 256 KiB: the engine's relay buffer, so one read or write moves a
	// whole chunk. 64 pages a pipe keeps 128 connections of an unprivileged
	// tlsd under the kernel's default per-user pipe budget.
	fdutil.GrowPipe(fromAppW, pipeSize)
	fdutil.GrowPipe(toAppW, pipeSize)
	ctl, ctlEng, err := fdutil.Socketpair()
	if err != nil {
		closeAll(fromAppR, fromAppW, toAppR, toAppW)
		return nil, exitcode.New(exitcode.TLSSetup, "create", "a socket pair", err)
	}
	key, keyEng, err := fdutil.Socketpair()
	if err != nil {
		closeAll(fromAppR, fromAppW, toAppR, toAppW, ctl, ctlEng)
		return nil, exitcode.New(exitcode.TLSSetup, "create", "a socket pair", err)
	}
	files := []int{p.netRead, p.netWrite, 2, fromAppR, toAppW, ctlEng, keyEng}
	if id.LockFD >= 0 {
		files = append(files, id.LockFD)
	}
	pid, err := spawnEngine(h, &chain.Child{
		Path:       p.enginePath,
		Argv:       p.cfg.engineArgs(prestarted),
		Env:        p.cfg.common().engineEnv(p.env),
		Files:      files,
		Cred:       id.Cred,
		TimerSlack: engineTimerSlack,
	})
	closeAll(fromAppR, toAppW, ctlEng, keyEng)
	if err != nil {
		closeAll(fromAppW, toAppR, ctl, key)
		return nil, exitcode.New(exitcode.TLSSetup, "spawn", p.enginePath, errors.Unwrap(err))
	}
	return &started{pid: pid, appRead: toAppR, appWrite: fromAppW, ctl: ctl, key: key}, nil
}

// spawnEngine spawns the engine inside its Landlock jail when the kernel
// has Landlock (tlswrap --confined), else as it is (the engine reports or refuses
// a missing jail itself). Started confined, the engine skips what costs
// most in making its own jail: the runtime's start-up parse of the mount
// table to find its cgroup (it now fails at once) and two stop-the-world
// rounds over every thread (no_new_privs, landlock_restrict_self).
// Measured: 8% of an engine's CPU.
func spawnEngine(h Host, ch *chain.Child) (int, error) {
	for try := 0; ; try++ {
		r := engineJail(ch.Path)
		c := *ch
		if r != nil {
			c.Argv = append(ch.Argv[:len(ch.Argv):len(ch.Argv)], "--confined")
			c.Landlock = r
		}
		pid, err := h.Spawn(&c)
		// EACCES: the engine's file was replaced between the ruleset and
		// the exec (an upgrade); the next ruleset names the new file.
		if r != nil && try == 0 && errors.Is(err, syscall.EACCES) {
			jails.drop(ch.Path)
			continue
		}
		// A thread that cannot enter a domain here never will: engines
		// are started plainly from now on, and jail themselves.
		var ce *chain.ConfineError
		if r != nil && errors.As(err, &ce) {
			jails.disable()
			continue
		}
		return pid, err
	}
}

// jails holds one ruleset per engine file, made on first use. The file's
// identity is checked at each spawn: a ruleset allows executing one
// inode, and an upgrade renames a new one over the path.
var jails = &jailCache{m: map[string]*jail{}}

type jailCache struct {
	sync.Mutex
	m   map[string]*jail
	off bool // confining failed once: start engines plainly
}

type jail struct {
	dev, ino uint64
	r        *landlock.Ruleset
}

// engineJail returns the ruleset for the engine at path, or nil without
// Landlock.
func engineJail(path string) *landlock.Ruleset {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return nil
	}
	jails.Lock()
	defer jails.Unlock()
	if jails.off {
		return nil
	}
	if j := jails.m[path]; j != nil && j.dev == st.Dev && j.ino == st.Ino {
		return j.r
	}
	r, err := landlock.Deny(path)
	if err != nil {
		return nil
	}
	// A replaced ruleset is not closed: a spawn may be entering it now.
	// That is one fd per upgrade of the engine's file.
	jails.m[path] = &jail{dev: st.Dev, ino: st.Ino, r: r}
	return r
}

func (c *jailCache) disable() {
	c.Lock()
	c.off = true
	c.Unlock()
}

func (c *jailCache) drop(path string) {
	c.Lock()
	delete(c.m, path)
	c.Unlock()
}

// reportGrace is how much longer than the handshake deadline (-K) the
// spawner waits for the report: the engine's deadline starts once it has
// started and read the command.
const reportGrace = 5 * time.Second

// handshakeOn asks the engine st for TLS with a report ('Y'), serves the
// key channel while it works and returns the session once the report is
// complete. The control and key fds are closed on return. The spawner
// does not trust the engine: the key channel grants one handshake
// (keysign.Grant), the report is waited for until the deadline (-K) and
// a little more, and a report that names anything but the SSL_*
// variables is refused. In each of these cases the engine is killed and
// the error is an *engineError. On another failure the engine has been
// waited for and the error is a *failedError or an *exitcode.Error.
func (p *prepared) handshakeOn(st *started, h Host) (*session, error) {
	pid, ctl, key := st.pid, st.ctl, st.key
	s := &session{Pid: pid, AppRead: st.appRead, AppWrite: st.appWrite}
	hsMS := p.cfg.common().HandshakeMS

	// Both sockets go to the runtime's poller: waiting for the engine
	// (its start, the peer, the handshake) then holds no thread, which
	// matters where one process serves many handshakes at once.
	ctlF, keyF := pollable(ctl, "control"), pollable(key, "key channel")
	if hsMS > 0 {
		ctlF.SetReadDeadline(time.Now().Add(time.Duration(hsMS)*time.Millisecond + reportGrace))
	}
	served := make(chan error, 1)
	go func() {
		err := keysign.ServeStream(keyF, p.keys, &p.m.Setup, p.cfg.grant())
		if errors.Is(err, keysign.ErrOverGrant) {
			// The report will never be trusted now: end the wait for it.
			syscall.Kill(pid, syscall.SIGKILL)
		}
		served <- err
	}()

	vars, rerr := readReport(ctlF)
	// The engine closes the key channel after the handshake; shutdown
	// ends ServeStream at once in every other case (the report, a failed
	// handshake, an engine that went away) without closing an fd it
	// still reads. Nothing is granted after the report.
	unix.Shutdown(key, unix.SHUT_RDWR)
	serr := <-served
	ctlF.Close()
	keyF.Close()

	switch {
	case errors.Is(serr, keysign.ErrOverGrant):
		rerr = serr
	case rerr == nil:
		s.Vars = vars
		return s, nil
	}
	closeAll(s.AppRead, s.AppWrite)
	if !errors.Is(rerr, ucspi.ErrNoReport) {
		syscall.Kill(pid, syscall.SIGKILL)
		h.Wait(pid)
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			return nil, &engineError{Pid: pid, Err: errNoReport}
		}
		if isReportError(rerr) || errors.Is(rerr, keysign.ErrOverGrant) {
			return nil, &engineError{Pid: pid, Err: rerr}
		}
		return nil, exitcode.New(exitcode.Temporary, "read the handshake report from", engineName, rerr)
	}
	return nil, engineFailed(h.Wait(pid))
}

// errNoReport is an engine that neither reported nor exited by the
// handshake deadline: its own deadline should have ended it.
var errNoReport = errors.New("no handshake report by the deadline")

// isReportError says whether err is a report no engine of the suite
// writes.
func isReportError(err error) bool {
	for _, e := range [...]error{ucspi.ErrReportTooBig, ucspi.ErrReportBad, ucspi.ErrReportTruncated, ucspi.ErrReportName, ucspi.ErrReportValue} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// engineError is an engine that did what no engine of the suite does: a
// request beyond its grant on the key channel, a report the spawner
// refuses, no report by the deadline. It is a sign of a compromised
// engine (code execution in the process that parses the peer's bytes):
// the engine has been killed, the app never starts, and the spawner logs
// a warning naming the connection and the engine.
type engineError struct {
	Pid int
	Err error
}

func (e *engineError) Error() string {
	return "TLS engine pid " + strconv.Itoa(e.Pid) + " killed: " + e.Err.Error()
}

func (e *engineError) Unwrap() error { return e.Err }

// warnEngine logs the warning of an *engineError's kind for the
// connection conn: a holder or spawner that refused its engine.
func warnEngine(name string, conn []string, pid int, err error) {
	log := logline.New(name)
	log.Conn = conn
	log.Warn("engine", "engine", strconv.Itoa(pid), "err", "refused: "+err.Error())
}

// pollable returns fd as a File in non-blocking mode; the File owns fd.
func pollable(fd int, name string) *os.File {
	unix.SetNonblock(fd, true) // on failure the File blocks a thread: slower, still right
	return os.NewFile(uintptr(fd), name)
}

// readReport writes 'Y' on the control socket and reads the report.
// ucspi.ErrNoReport is a failed handshake, or an engine already gone.
func readReport(ctl io.ReadWriter) ([]ucspi.Var, error) {
	if _, err := ctl.Write([]byte{'Y'}); err != nil {
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			return nil, ucspi.ErrNoReport // the engine is gone: its exit code says why
		}
		return nil, err
	}
	return ucspi.ReadReport(ctl)
}

// wait reaps pid, blocking.
func wait(pid int) syscall.WaitStatus {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return ws
		}
	}
}

// reapIfDone reaps the engine when it has already exited (WNOHANG), so
// the app does not inherit a zombie it did not make. A running engine is
// left alone: after exec it is the app's child.
func reapIfDone(pid int) {
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
}

// engineFailed maps the engine's end to the spawner's exit code.
func engineFailed(ws syscall.WaitStatus) *failedError {
	switch {
	case ws.Exited():
		code := ws.ExitStatus()
		e := &failedError{Code: code, Logged: code != 0, Status: strconv.Itoa(code)}
		switch code {
		case exitcode.TLSConfig, exitcode.TLSSetup, exitcode.TLSSession, exitcode.Usage, exitcode.Temporary:
		default:
			e.Code = exitcode.TLSSession
		}
		return e
	case ws.Signaled():
		return &failedError{Code: exitcode.TLSSession, Status: "signal:" + strconv.Itoa(int(ws.Signal()))}
	}
	return &failedError{Code: exitcode.TLSSession, Status: "wait:" + strconv.Itoa(int(ws))}
}

func closeAll(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}
