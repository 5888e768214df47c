// Package pop3 is the POP3 side of ucspi-starttls (RFC 2595 §4 over RFC
// 1939, CAPA from RFC 2449): it parses commands and responses, adds and
// strips STLS in CAPA lists (answering CAPA itself for an app that does
// not know it, such as popa3d), answers STLS and the mandatory-mode
// refusals, and keeps client and app in lock step. It does no I/O.
package pop3

import (
	"strings"

	"github.com/tlschain/tlschain/pkg/lineproto"
)

// Replies written by the session itself.
const (
	ReplyReady       = "+OK Begin TLS negotiation"
	ReplyActive      = "-ERR TLS already active"
	ReplyNoTLS       = "-ERR TLS not available"
	ReplyArgs        = "-ERR STLS takes no arguments"
	ReplyState       = "-ERR STLS only in the AUTHORIZATION state"
	ReplyMandatory   = "-ERR Must issue a STLS command first"
	ReplyTooLong     = "-ERR Line too long"
	ReplySyntax      = "-ERR Syntax error: NUL or bare CR in command"
	ReplyPipelined   = "-ERR Commands pipelined after STLS, closing connection"
	ReplyTimeout     = "-ERR Timeout, closing connection"
	ReplyUnavailable = "-ERR Service not available"
	capaHead         = "+OK Capability list follows"
)

// DefaultMaxLine bounds a command line, CRLF included (RFC 2449 §4 allows
// 255 octets; AUTH responses need more).
const DefaultMaxLine = 512

// maxCapaLines bounds the CAPA list held for rewriting.
const maxCapaLines = 64

type waiting int

const (
	waitNone     waiting = iota
	waitOne              // a single-line response
	waitMulti            // a multi-line response if +OK
	waitCapa             // CAPA: rewrite the list
	waitAuth             // AUTH or PASS/APOP: +OK moves to TRANSACTION; "+ " continues
	waitBody             // inside a multi-line response, until "."
	waitCapaBody         // inside the CAPA list
)

// Session is one POP3 connection's state.
type Session struct {
	lineproto.Base
	wait     waiting
	authData bool // the next client line answers a "+ " challenge
	trans    bool // TRANSACTION state: STLS no longer allowed
	capa     []string
	appMid   bool
}

// New returns a Session for cfg.
func New(cfg lineproto.Config) *Session {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	return &Session{Base: lineproto.Base{Cfg: cfg}}
}

// WantClient implements lineproto.Session.
func (s *Session) WantClient() (bool, int) {
	if s.Pending != lineproto.None || !s.HasGreet || s.wait != waitNone {
		return false, 0
	}
	return true, s.Cfg.MaxLine
}

// Client implements lineproto.Session.
func (s *Session) Client(frag []byte, complete bool) {
	if !s.Long(complete, func() { s.Reply(ReplyTooLong) }) {
		return
	}
	if s.authData {
		// A SASL response (RFC 5034): not a command.
		s.authData = false
		s.ToApp = append(s.ToApp, frag...)
		s.wait = waitAuth
		return
	}
	line := lineproto.Trim(frag)
	if !lineproto.Clean(line) {
		s.Reply(ReplySyntax)
		return
	}
	verb, _, hasArg := lineproto.Verb(line)
	if verb == "STLS" {
		switch {
		case s.InTLS:
			s.Reply(ReplyActive)
		case !s.Cfg.TLS:
			s.Reply(ReplyNoTLS)
		case s.trans:
			s.Reply(ReplyState)
		case hasArg:
			s.Reply(ReplyArgs)
		default:
			s.Pending = lineproto.StartTLS
		}
		return
	}
	if s.Locked() && (verb == "USER" || verb == "PASS" || verb == "APOP" || verb == "AUTH") {
		s.Reply(ReplyMandatory)
		return
	}
	s.ToApp = append(s.ToApp, frag...)
	switch verb {
	case "CAPA":
		s.wait = waitCapa
	case "RETR", "TOP":
		s.wait = waitMulti
	case "LIST", "UIDL":
		s.wait = waitOne
		if !hasArg {
			s.wait = waitMulti
		}
	case "AUTH":
		s.wait = waitAuth
		if !hasArg {
			s.wait = waitMulti // the list of mechanisms
		}
	case "PASS", "APOP":
		s.wait = waitAuth
	default:
		s.wait = waitOne
	}
}

// App implements lineproto.Session.
func (s *Session) App(frag []byte, complete bool) {
	mid := s.appMid
	s.appMid = !complete
	if mid {
		if s.wait == waitCapaBody {
			return // an over-long capability: dropped
		}
		if !s.Swallow {
			s.ToClient = append(s.ToClient, frag...)
		}
		return
	}
	line := lineproto.Trim(frag)
	if !s.HasGreet {
		s.HasGreet = true
		if s.Swallow {
			s.Swallow = false // no new greeting after TLS (RFC 2595 §4)
			return
		}
		s.ToClient = append(s.ToClient, frag...)
		return
	}
	ok := strings.HasPrefix(string(line), "+OK")
	switch s.wait {
	case waitNone:
	case waitOne:
		s.wait = waitNone
	case waitMulti:
		s.wait = waitNone
		if ok {
			s.wait = waitBody
		}
	case waitBody:
		if string(line) == "." && complete {
			s.wait = waitNone
		}
	case waitAuth:
		s.wait = waitNone
		if len(line) > 0 && line[0] == '+' && !ok {
			s.authData = true // "+ challenge"
		} else if ok {
			s.trans = true
		}
	case waitCapa:
		if !ok {
			// The app has no CAPA (popa3d says -ERR): answer it ourselves.
			s.wait = waitNone
			for _, l := range RewriteCapa([]string{capaHead, "USER"}, s.Offer() && !s.trans, s.Locked()) {
				s.Reply(l)
			}
			return
		}
		s.capa = append(s.capa[:0], string(line))
		s.wait = waitCapaBody
		return
	case waitCapaBody:
		if string(line) != "." {
			if len(s.capa) < maxCapaLines {
				s.capa = append(s.capa, string(line))
			}
			return
		}
		s.wait = waitNone
		for _, l := range RewriteCapa(s.capa, s.Offer() && !s.trans, s.Locked()) {
			s.Reply(l)
		}
		return
	}
	s.ToClient = append(s.ToClient, frag...)
}

// RewriteCapa returns a CAPA response (the +OK line, then one capability
// a line, without the final ".") with STLS removed, USER and SASL removed
// when hideLogin, STLS added when offer, and the final "." appended.
func RewriteCapa(lines []string, offer, hideLogin bool) []string {
	if len(lines) == 0 {
		return lines
	}
	out := make([]string, 0, len(lines)+2)
	out = append(out, lines[0])
	for _, l := range lines[1:] {
		kw := lineproto.Keyword(l)
		if kw == "STLS" || kw == "." || hideLogin && (kw == "USER" || kw == "SASL") {
			continue
		}
		out = append(out, l)
	}
	if offer {
		out = append(out, "STLS")
	}
	return append(out, ".")
}

// Ready implements lineproto.Session.
func (s *Session) Ready() []byte { return []byte(ReplyReady + "\r\n") }

// Refuse implements lineproto.Session.
func (s *Session) Refuse() []byte { return []byte(ReplyPipelined + "\r\n") }

// Started implements lineproto.Session.
func (s *Session) Started() {
	s.InTLS, s.Swallow, s.HasGreet = true, true, false
	s.wait, s.authData, s.appMid = waitNone, false, false
}

// Timeout implements lineproto.Session.
func (s *Session) Timeout() []byte { return []byte(ReplyTimeout + "\r\n") }

// Unavailable implements lineproto.Session.
func (s *Session) Unavailable() []byte { return []byte(ReplyUnavailable + "\r\n") }
