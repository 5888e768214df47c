package main

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// The engine's fds (doc/tlswrap.md).
const (
	netReadFD  = 0
	netWriteFD = 1
	fromAppFD  = 3 // cleartext from the app: the engine reads it
	toAppFD    = 4 // cleartext to the app: the engine writes it
	controlFD  = 5 // UCSPI-TLS control socket
	keysFD     = 6 // key channel
)

// bufSize is the relay buffer for each direction: large enough that one
// read from the app fills four full TLS records (doc/tlswrap.md has the
// measurements).
const bufSize = 256 << 10

// trimDelay is how long a session lasts before the engine returns the
// handshake's memory to the kernel, when the setup carried more than
// trimAbove bytes of CA certificates (parsed, they are most of the
// engine's heap: the system bundle is about 200 KB of PEM).
const (
	trimDelay = 200 * time.Millisecond
	trimAbove = 64 << 10
)

// caBytes is the size of the setup's CA certificates.
func caBytes(s *keysign.Setup) int {
	n := 0
	for _, b := range s.CAs {
		n += len(b)
	}
	return n
}

// lingerTime bounds how long the engine keeps reading (and discarding)
// from the peer once the app is gone and the engine has sent its FIN, so
// that it does not close a socket with unread data, which makes the kernel
// send a reset that can destroy the app's last bytes at the peer.
const lingerTime = 5 * time.Second

// run runs tlswrap. It returns the exit code.
func run(argv, envp []string) int {
	o, err := parseOptions(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	logline.SetConn(envp)
	e := &engine{o: o, log: logline.New(name)}
	e.log.Level = o.level
	growStack(0)
	return e.run()
}

// growStack gives the main goroutine, which runs the handshake, the stack
// the handshake needs while the stack is still shallow. Grown on demand,
// it is copied three times (2 → 4 → 8 → 16 KiB) deep inside crypto/tls,
// and each copy walks every frame's stack map: measured, about 4% of an
// engine's CPU, against one copy of a few frames here.
//
//go:noinline
func growStack(i int) byte {
	var b [12 << 10]byte
	return b[i]
}

// engine is one connection's engine. Its log lines name the connection
// (e.log.Conn): by CONNPID, or by its own pid (tlsserver's engines, whose
// pid the accept line names).
type engine struct {
	o   *options
	log *logline.Logger
}

func (e *engine) fatal(err error) int {
	return exitcode.Report(name, err, e.log.Conn...)
}

func (e *engine) run() int {
	if err := harden(); err != nil {
		return e.fatal(err)
	}
	if err := checkFDs(); err != nil {
		return e.fatal(err)
	}
	// The network may be fd 1: a write to a peer that reset must be an
	// EPIPE error, not a SIGPIPE death (Go raises it for fds 1 and 2).
	signal.Ignore(syscall.SIGPIPE)
	if e.o.warm {
		if done, err := e.awaitNetwork(); done || err != nil {
			if err != nil {
				return e.fatal(err)
			}
			return exitcode.OK
		}
	}

	// The key channel goes through the runtime's poller: a goroutine
	// waiting in read(2) for its signature holds its P, and the runtime's
	// monitor thread then polls every 20 µs until the answer comes.
	// Measured at 8 concurrent handshakes: 54 → 41 context switches per
	// engine, 2% less CPU per connection.
	if err := unix.SetNonblock(keysFD, true); err != nil {
		return e.fatal(exitcode.New(exitcode.TLSSetup, "use", "the key channel", err))
	}
	keys := os.NewFile(keysFD, "key channel")
	setup, err := keysign.ReadSetup(keys)
	if err != nil {
		return e.fatal(exitcode.New(exitcode.TLSSetup, "read", "the setup from the key channel", err))
	}
	cfg, ver, err := buildConfigV(e.o, setup, keysign.NewChannel(keys))
	if err != nil {
		return e.fatal(err)
	}

	cmd, err := readCommand()
	if err != nil {
		return e.fatal(err)
	}
	if cmd == 0 {
		e.log.Debug("declined")
		return exitcode.OK
	}

	conn, err := newFDConn(netReadFD, netWriteFD)
	if err != nil {
		return e.fatal(exitcode.New(exitcode.TLSSetup, "use", "the network fds", err))
	}
	app, err := newAppFiles()
	if err != nil {
		return e.fatal(err)
	}
	missing, err := jail(e.o)
	if err != nil {
		return e.fatal(err)
	}
	if len(missing) > 0 {
		e.log.Debug("jail", "jail", "partial", "reason", strings.Join(missing, ","))
	}

	var tc *tls.Conn
	if e.o.server {
		tc = tls.Server(conn, cfg)
	} else {
		tc = tls.Client(conn, cfg)
	}
	ctx := context.Background()
	if e.o.handshake > 0 {
		conn.SetDeadline(time.Now().Add(e.o.handshake))
	}
	if err := tc.HandshakeContext(ctx); err != nil {
		e.log.Warn("handshake", "status", strconv.Itoa(exitcode.TLSSession), "err", e.handshakeError(err))
		return exitcode.TLSSession
	}
	conn.SetDeadline(time.Time{})
	// No more signatures or tickets: TLS 1.3 signs once per full
	// handshake, the server has sent its ticket, and neither side
	// renegotiates. The holder grants nothing more anyway.
	keys.Close()

	cs := tc.ConnectionState()
	if cmd == 'Y' {
		vars := buildReport(&cs, e.o.server, e.o.serverName, peerVerify(e.o, ver))
		if e.o.anyCert {
			vars = generous(vars)
		}
		writeAll(controlFD, ucspi.EncodeReport(vars))
	}
	unix.Close(controlFD)
	e.log.Info("tls", tlsFields(&cs, e.o, peerVerify(e.o, ver))...)

	// The setup, the parsed CAs and the handshake's garbage are dead now.
	// When they were big (a client that parsed the system's CA bundle),
	// one collection returns their pages once the session has lasted
	// trimDelay, so an idle engine keeps only what the session needs. A
	// server's handshake allocates far less, and there a forced
	// collection dirties more runtime memory than it returns (measured:
	// 10 idle engines 830 KiB each without it, 1060 with it) and costs
	// a tenth of a short connection's CPU. The size of the CA setup
	// decides: runtime/metrics, which would give the heap's size, costs
	// 1% of a connection's CPU to read.
	big := caBytes(setup) > trimAbove
	cfg, setup = nil, nil
	if big {
		trim := time.AfterFunc(trimDelay, debug.FreeOSMemory)
		defer trim.Stop()
	}

	r := &relay{e: e, tc: tc, conn: conn, app: app}
	code := r.run()
	e.log.Info("end", "in", strconv.FormatInt(conn.in.Load(), 10), "out", strconv.FormatInt(conn.out.Load(), 10), "status", strconv.Itoa(code))
	return code
}

// awaitNetwork is --prestarted: the engine was started before its connection and
// its runtime is warm; the spawner hands it the socket (for fds 0 and 1)
// and the peer's variables on the key channel. done: the spawner closed
// the channel first, no connection came.
func (e *engine) awaitNetwork() (done bool, err error) {
	sock, vars, err := keysign.RecvNetwork(keysFD)
	if err == io.EOF {
		return true, nil
	}
	if err != nil {
		return false, exitcode.New(exitcode.TLSSetup, "receive", "the network from the key channel", err)
	}
	defer unix.Close(sock)
	for _, fd := range []int{netReadFD, netWriteFD} {
		if err := unix.Dup3(sock, fd, 0); err != nil {
			return false, exitcode.New(exitcode.TLSSetup, "use", "the network socket", err)
		}
	}
	e.log.Conn = logline.ConnFields(vars)
	return false, nil
}

// handshakeError turns a handshake error into log text.
func (e *engine) handshakeError(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "deadline of " + strconv.FormatInt(e.o.handshake.Milliseconds(), 10) + " ms exceeded"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "peer closed the connection"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset by peer"
	}
	return sanitize(err.Error(), 200)
}

// readCommand reads the one command byte from the control socket: 'y' or
// 'Y' start the handshake; EOF before a byte declines TLS (0).
func readCommand() (byte, error) {
	var b [1]byte
	for {
		n, err := unix.Read(controlFD, b[:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.ECONNRESET {
			return 0, nil
		}
		if err != nil {
			return 0, exitcode.New(exitcode.TLSSetup, "read", "the control socket", err)
		}
		if n == 0 {
			return 0, nil
		}
		if b[0] != 'y' && b[0] != 'Y' {
			return 0, exitcode.New(exitcode.Usage, "use", "the control command "+strconv.Quote(string(b[:])), errors.New("want y or Y"))
		}
		return b[0], nil
	}
}

// writeAll writes b to a blocking fd. Errors are dropped: a reader that
// went away did not want the report.
func writeAll(fd int, b []byte) {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		b = b[n:]
	}
}

// appFiles are the cleartext pipes, pollable so the idle timeout works.
type appFiles struct {
	r, w *os.File
}

func newAppFiles() (*appFiles, error) {
	for _, fd := range []int{fromAppFD, toAppFD} {
		if err := unix.SetNonblock(fd, true); err != nil {
			return nil, exitcode.New(exitcode.TLSSetup, "use", "fd "+strconv.Itoa(fd), err)
		}
	}
	return &appFiles{r: os.NewFile(fromAppFD, "from-app"), w: os.NewFile(toAppFD, "to-app")}, nil
}
