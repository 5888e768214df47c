package main

import (
	"bytes"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/imap"
	"github.com/tlschain/tlschain/pkg/lineproto/pop3"
	"github.com/tlschain/tlschain/pkg/lineproto/smtp"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Client mode in cleartext: prog must neither be told of STARTTLS nor be
// able to start it behind ucspi-starttls's back (the policy decided
// against TLS, and TLS belongs to ucspi-starttls alone). The server mode's
// protocol sessions already do exactly that with STARTTLS not offered:
// they strip STARTTLS/STLS from EHLO replies, CAPA lists and IMAP
// capabilities, answer a STARTTLS command with "not available" instead of
// passing it on, and keep the two sides in lock step so that message text
// (SMTP DATA after 354 up to the lone ".", BDAT chunks counted in bytes)
// and literals are never parsed as commands. Here prog is their "client"
// and the server their "app".

// clearFilter is one cleartext client session: prog ⇄ session ⇄ server.
type clearFilter struct {
	p     lineproto.Session
	base  *lineproto.Base
	proto string

	// POP3: the first response line to a forwarded CAPA is still due.
	capaDue bool
}

// newClearFilter returns the filter for proto with STARTTLS not offered;
// maxLine bounds prog's command lines.
func newClearFilter(proto string, maxLine int) *clearFilter {
	lc := lineproto.Config{MaxLine: maxLine}
	f := &clearFilter{proto: proto}
	switch proto {
	case "pop3":
		s := pop3.New(lc)
		f.p, f.base = s, &s.Base
	case "imap":
		s := imap.New(lc)
		f.p, f.base = s, &s.Base
	default:
		s := smtp.New(lc)
		f.p, f.base = s, &s.Base
	}
	return f
}

// clearMaxLine is the limit of prog's command lines in cleartext: -l, or
// the larger of the protocol's server-mode default and the client-mode
// reply limit (prog is a local client, not a stranger).
func clearMaxLine(proto string, l int) int {
	if l > 0 {
		return l
	}
	if proto == "imap" {
		return max(imap.DefaultMaxLine, defaultReplyLine)
	}
	return defaultReplyLine
}

// greet feeds the server's greeting (already read) through the session:
// an IMAP greeting's [CAPABILITY …] loses STARTTLS too.
func (f *clearFilter) greet(g []byte) {
	rd := lineproto.NewReader(bytes.NewReader(g), 0)
	for {
		b, complete, err := rd.Fragment(0)
		if len(b) > 0 {
			f.fromServer(b, complete)
		}
		if err != nil {
			return
		}
	}
}

// fromProg takes a fragment from prog. refused says it was a STARTTLS
// (STLS) command line answered locally, for the log.
func (f *clearFilter) fromProg(frag []byte, complete bool) (refused bool) {
	discarding := f.base.Discarding()
	before := len(f.base.ToApp)
	f.p.Client(frag, complete)
	forwarded := len(f.base.ToApp) > before
	if f.proto == "pop3" && forwarded && complete && !discarding && isVerb(frag, "CAPA") {
		f.capaDue = true
	}
	return !forwarded && complete && !discarding && f.isStartTLS(frag)
}

// fromServer takes a fragment from the server.
func (f *clearFilter) fromServer(frag []byte, complete bool) {
	capa := f.capaDue
	f.capaDue = false
	before := len(f.base.ToClient)
	f.p.App(frag, complete)
	// The POP3 session answers CAPA itself for a server that has none
	// (popa3d's -ERR), listing USER: right for a server-mode client that
	// is offered STLS, wrong here. prog gets the server's -ERR as it came.
	if capa && !bytes.HasPrefix(frag, []byte("+OK")) {
		f.base.ToClient = append(f.base.ToClient[:before], frag...)
	}
}

// isStartTLS says whether a command line is the protocol's STARTTLS.
func (f *clearFilter) isStartTLS(frag []byte) bool {
	switch f.proto {
	case "pop3":
		return isVerb(frag, "STLS")
	case "imap":
		_, verb, _, ok := imap.ParseCommand(lineproto.Trim(frag))
		return ok && verb == "STARTTLS"
	}
	return isVerb(frag, "STARTTLS")
}

func isVerb(frag []byte, verb string) bool {
	v, _, _ := lineproto.Verb(lineproto.Trim(frag))
	return v == verb
}

// clearRelay starts prog and relays between it and the server in clear
// (fds 6/7) through the protocol session, until prog exits. prog's exit
// status is ours.
func (c *client) clearRelay() int {
	p, err := c.spawnProg(c.progEnv())
	if err != nil {
		return exitcode.Report(name, err)
	}
	f := newClearFilter(c.cfg.proto, clearMaxLine(c.cfg.proto, c.cfg.maxLine))
	// No timeout from here on: prog has its own, and the server's close
	// ends the reads. c.rd keeps whatever the server sent after what the
	// negotiation read.
	c.conn.deadline = time.Time{}
	progR := newReader(p.from)
	srvR := readerOver(c.rd)
	defer progR.stop()
	defer srvR.stop()
	progGone, srvShut := false, false
	flush := func() {
		if b := f.p.TakeApp(); len(b) > 0 && !srvShut {
			if writeAll(ucspi.ClientWriteFD, b) != nil {
				srvShut = true
			}
		}
		if b := f.p.TakeClient(); len(b) > 0 && !progGone {
			if _, err := p.toProg.Write(b); err != nil {
				progGone = true
				p.toProg.Close()
			}
		}
	}
	f.greet(c.greeting)
	flush()
	done := p.done
	var grace <-chan time.Time
	for {
		f.p.Event() // with STARTTLS not offered and no mandatory mode: never one
		if want, max := f.p.WantClient(); want {
			progR.ask(max)
		}
		srvR.ask(0)
		select {
		case r := <-progR.out:
			progR.busy = false
			if len(r.b) > 0 && r.err != lineproto.ErrTruncated && f.fromProg(r.b, r.complete) {
				c.log.Debug("filter", "err", "starttls from prog refused in cleartext")
			}
			if r.err != nil {
				progR.eof = true
				flush()
				// prog's EOF half-closes the connection.
				srvShut = true
				unix.Shutdown(ucspi.ClientWriteFD, unix.SHUT_WR)
				if done == nil {
					return p.exitStatus()
				}
				continue
			}
		case r := <-srvR.out:
			srvR.busy = false
			if len(r.b) > 0 {
				f.fromServer(r.b, r.complete)
			}
			if r.err != nil {
				srvR.eof = true
				flush()
				if !progGone {
					progGone = true
					p.toProg.Close()
				}
				continue
			}
		case <-done:
			if progR.eof {
				return p.exitStatus()
			}
			done, grace = nil, time.After(graceEOF)
		case <-grace:
			return p.exitStatus()
		}
		flush()
	}
}
