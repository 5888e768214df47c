package main

import (
	"io"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Client mode (-c): ucspi-starttls runs under tlsc -n, with the server on
// fds 6/7 and the UCSPI-TLS fds of tlsc. It speaks the cleartext part of
// SMTP itself (greeting, EHLO, STARTTLS), has the engine do the handshake
// and the verification, decides by policy, and only then starts prog (an
// unmodified client: it reads fd 6, writes fd 7) on pipes, hands it the
// server's original greeting and relays. prog never sees a byte the
// server sent before the switch except that greeting, and none of prog's
// bytes reach the server before the switch is over.

// Replies ucspi-starttls gives prog instead of the server's greeting when
// the mail must not go out (RFC 3207 §6, RFC 7672 §2.2: defer, never send
// in clear, never bounce).
const replyDefer = "421 4.7.0 "

// clientConn is the cleartext connection to the server: fd 6/7, read with
// a deadline (none when zero) and never past the reply being read (lineproto.Reader reads
// only what the kernel has; the server sends nothing unasked).
type clientConn struct {
	rfd, wfd int
	deadline time.Time
}

func (c *clientConn) Read(b []byte) (int, error) {
	for {
		ms := -1 // no deadline: the cleartext relay
		if !c.deadline.IsZero() {
			left := time.Until(c.deadline)
			if left <= 0 {
				return 0, errReplyTimeout
			}
			ms = int(left/time.Millisecond) + 1
		}
		pfd := []unix.PollFd{{Fd: int32(c.rfd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			continue
		}
		n, err = unix.Read(c.rfd, b)
		if err == unix.EINTR || err == unix.EAGAIN {
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

// pending says whether the server sent anything not read yet: bytes (or
// EOF) waiting in the kernel.
func pending(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		return err != nil || n > 0
	}
}

// client is one outbound connection.
type client struct {
	cfg  *config
	log  *logline.Logger
	env  *ucspi.Env
	pol  *policy
	tls  *tlsFDs
	conn *clientConn
	rd   *lineproto.Reader
	path string
	kids *reaper

	host string // the destination's name, for the log

	greeting []byte      // the server's, for prog
	vars     []ucspi.Var // the report, after TLS
	verify   string      // SSL_PEER_VERIFY, or cleartext
}

// outcome of the cleartext phase.
type outcome int

const (
	goTLS       outcome = iota // TLS is up and acceptable
	goCleartext                // the policy allows cleartext
	goDefer                    // prog gets a 421
	goGreeting                 // prog gets the server's (non-220) greeting, then EOF
	goAbort                    // the engine sent a bad report: no prog, the connection closed
)

func clientMain(cfg *config, envp []string, kids *reaper) int {
	log := logline.New(name)
	log.Level = cfg.level
	env := ucspi.NewEnv(envp)
	dest, err := lookupDest(cfg, env, log)
	if err != nil {
		return exitcode.ReportUsage(name, usage, err)
	}
	polName := dest.policyName(cfg.policy, env)
	tlsa, haveTLSA := env.Get(ucspi.TLSA)
	pol, err := resolvePolicy(polName, tlsa, haveTLSA)
	if err != nil {
		return exitcode.ReportUsage(name, usage, err)
	}
	tls := &tlsFDs{ctl: -1, rd: -1, wr: -1}
	if pol.tls {
		if tls, err = getTLSFDs(env); err != nil {
			return exitcode.Report(name, exitcode.UsageError("policy "+pol.name+" needs the UCSPI-TLS fds of tlsc -n: "+err.Error()))
		}
		if err := pol.needReport(env); err != nil {
			return exitcode.Report(name, err)
		}
	}
	path, err := chain.LookPath(cfg.prog[0], env.Environ())
	if err != nil {
		return exitcode.Report(name, err)
	}
	host, _ := env.Get(ucspi.TLSABaseName)
	c := &client{
		cfg: cfg, log: log, env: env, pol: pol, tls: tls, path: path, kids: kids,
		conn: &clientConn{rfd: ucspi.ClientReadFD, wfd: ucspi.ClientWriteFD},
		host: field(host), verify: verifyCleartext,
	}
	dest.apply(c)
	c.rd = lineproto.NewReader(c.conn, 0)
	return c.run()
}

func field(s string) string {
	if s == "" {
		return "-"
	}
	return logline.Safe(s)
}

// maxLine is the longest reply line accepted (-l, else 2048).
func (c *client) maxLine() int {
	if c.cfg.maxLine > 0 {
		return c.cfg.maxLine
	}
	return defaultReplyLine
}

func (c *client) run() int {
	out, reason := c.negotiateProto()
	// The TLS version and cipher are on the engine's tls line.
	fields := []string{"host", c.host, "policy", c.pol.name, "verify", c.verify}
	switch out {
	case goTLS:
		c.log.Info("starttls", append(fields, "result", "tls")...)
		return c.startRelay(c.tls.rd, c.tls.wr)
	case goCleartext:
		c.log.Info("starttls", append(fields, "result", "cleartext", "reason", reason)...)
		return c.clearRelay()
	case goGreeting:
		c.log.Info("starttls", append(fields, "result", "greeting", "reason", reason)...)
		return c.answerProg(c.greeting)
	case goAbort:
		c.log.Warn("abort", "host", c.host, "policy", c.pol.name, "status", strconv.Itoa(exitcode.TLSSession), "err", reason)
		return exitcode.TLSSession
	}
	c.log.Warn("defer", append(fields, "reason", reason)...)
	return c.answerProg(c.deferReply(reason))
}

// negotiate runs the cleartext phase and returns what to do, with the
// reason for the log.
func (c *client) negotiate() (outcome, string) {
	if c.pol.refuse != "" {
		return c.deferNow(c.pol.refuse)
	}
	g, err := c.reply()
	if err != nil {
		return c.deferNow("greeting-" + err.Error())
	}
	c.greeting = g.raw
	if g.code != 220 {
		c.decline()
		c.quit()
		return goGreeting, "greeting-" + strconv.Itoa(g.code)
	}
	if !c.pol.tls {
		return goCleartext, "policy-none"
	}
	if err := c.send("EHLO " + c.heloName() + "\r\n"); err != nil {
		return c.deferNow("ehlo-write-failed")
	}
	e, err := c.reply()
	if err != nil {
		return c.deferNow("ehlo-" + err.Error())
	}
	if c.rd.Buffered() > 0 {
		return c.deferQuit("unexpected-data-after-ehlo")
	}
	if !offersSTARTTLS(e) {
		return c.noTLS("starttls-not-offered")
	}
	if err := c.send("STARTTLS\r\n"); err != nil {
		return c.deferNow("starttls-write-failed")
	}
	r, err := c.reply()
	if err != nil {
		return c.deferNow("starttls-" + err.Error())
	}
	// Response injection (doc/design.md §5.4): exactly one reply line and
	// nothing after it, in our buffer or in the kernel. Anything else was
	// sent in clear by someone who wants it read after the switch.
	if c.rd.Buffered() > 0 || pending(c.conn.rfd) {
		return c.deferNow("response-injection")
	}
	if r.code != 220 {
		return c.noTLS("starttls-refused-" + strconv.Itoa(r.code))
	}
	if len(r.texts) != 1 {
		return c.deferNow("starttls-reply-multiline")
	}
	return c.switchTLS()
}

// deferNow ends a session that cannot go on (the server or the network
// did not do what STARTTLS needs): the engine is declined and prog told
// to try later, for reason.
func (c *client) deferNow(reason string) (outcome, string) {
	c.decline()
	return goDefer, reason
}

// deferQuit is deferNow after a QUIT to a server still talking SMTP,
// POP3 or IMAP in clear.
func (c *client) deferQuit(reason string) (outcome, string) {
	c.decline()
	c.quit()
	return goDefer, reason
}

// noTLS is the end of a session without STARTTLS: cleartext where the
// policy allows it, else QUIT and defer.
func (c *client) noTLS(reason string) (outcome, string) {
	if c.pol.mandatory {
		return c.deferQuit(reason)
	}
	c.decline()
	return goCleartext, reason
}

func (c *client) heloName() string {
	n := c.cfg.helo
	if n == "" {
		n, _ = c.env.Get(ucspi.TCPLocalHost)
	}
	if n == "" || !heloOK(n) {
		return "localhost"
	}
	return n
}

// heloOK accepts a domain or an address literal, nothing that could
// break the command line.
func heloOK(s string) bool {
	if len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' ||
			ch == '-' || ch == '.' || ch == '_' || ch == '[' || ch == ']' || ch == ':') {
			return false
		}
	}
	return true
}

// reply reads one reply within the timeout.
func (c *client) reply() (*smtpReply, error) {
	c.conn.deadline = time.Now().Add(c.cfg.timeout)
	return readReply(c.rd, c.maxLine(), maxReplyLines)
}

func (c *client) send(s string) error { return writeAll(c.conn.wfd, []byte(s)) }

// quit ends the cleartext session politely; errors do not matter.
func (c *client) quit() { c.send(c.quitCmd()) }

// decline closes the UCSPI-TLS fds: the engine sees EOF on its control
// socket and exits without touching the connection.
func (c *client) decline() {
	for _, fd := range []int{c.tls.ctl, c.tls.rd, c.tls.wr} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	c.tls = &tlsFDs{ctl: -1, rd: -1, wr: -1}
}

// dropConnection closes the UCSPI-TLS fds and shuts the socket down
// under the engine, whose reads end too: nothing more goes through an
// engine that sent a bad report.
func (c *client) dropConnection() {
	c.decline()
	unix.Shutdown(c.conn.rfd, unix.SHUT_RDWR)
}

// quitTLS sends QUIT inside TLS and waits a little for the server to
// close, so that the engine ends cleanly.
func (c *client) quitTLS() {
	writeAll(c.tls.wr, []byte(c.quitCmd()))
	unix.Close(c.tls.wr)
	drain(c.tls.rd, 2*time.Second)
	unix.Close(c.tls.rd)
	c.tls = &tlsFDs{ctl: -1, rd: -1, wr: -1}
}

// drain reads fd until EOF or for at most d, discarding.
func drain(fd int, d time.Duration) {
	deadline := time.Now().Add(d)
	buf := make([]byte, 4096)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, int(left/time.Millisecond)+1); err == unix.EINTR || err == nil && n == 0 {
			continue
		}
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil || n == 0 {
			return
		}
	}
}

// handshake writes 'Y' and reads the report to its final NUL within the
// timeout; the control fd is closed afterwards either way.
func (c *client) handshake() ([]ucspi.Var, error) {
	ctl := c.tls.ctl
	c.tls.ctl = -1
	defer unix.Close(ctl)
	if err := writeAll(ctl, []byte{'Y'}); err != nil {
		return nil, err
	}
	return readReport(ctl, time.Now().Add(c.cfg.timeout), errReplyTimeout)
}
