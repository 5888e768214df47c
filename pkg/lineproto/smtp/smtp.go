// Package smtp is the SMTP side of ucspi-starttls (RFC 3207 over RFC 5321):
// it parses client commands and server replies, adds and strips STARTTLS
// in EHLO replies, answers STARTTLS and the mandatory-mode 530s itself, and
// keeps client and app in lock step so that every reply belongs to a
// known command. It does no I/O (see lineproto.Session).
package smtp

import (
	"strconv"
	"strings"

	"github.com/tlschain/tlschain/pkg/lineproto"
)

// Replies written by the session itself.
const (
	ReplyReady       = "220 2.0.0 Ready to start TLS"
	ReplyActive      = "554 5.5.1 Error: TLS already active"
	ReplyNoTLS       = "454 4.7.0 TLS not available"
	ReplyArgs        = "501 5.5.4 Syntax error: STARTTLS takes no parameters"
	ReplyMandatory   = "530 5.7.0 Must issue a STARTTLS command first"
	ReplyTooLong     = "500 5.5.2 Line too long"
	ReplySyntax      = "500 5.5.2 Syntax error: NUL or bare CR in command"
	ReplyPipelined   = "554 5.5.1 Error: commands pipelined after STARTTLS, closing connection"
	ReplyTimeout     = "421 4.4.2 Timeout, closing connection"
	ReplyUnavailable = "421 4.3.0 Service not available, closing connection"
	ReplyDegrade     = "451 4.7.0 Temporary failure: please retry with STARTTLS"
)

// DefaultMaxLine is the command line limit of RFC 5321 §4.5.3.1.4,
// CRLF included.
const DefaultMaxLine = 512

// maxEHLOLines bounds the EHLO reply held for rewriting.
const maxEHLOLines = 64

type waiting int

const (
	waitNone waiting = iota
	waitReply
	waitEHLO
	waitDATA
)

// Session is one SMTP connection's state.
type Session struct {
	lineproto.Base
	wait    waiting
	data    bool // the client sends message text (after 354)
	atStart bool // data: the next fragment starts a line
	bdat    int  // BDAT bytes still to pass to the app
	ehlo    []string
	appMid  bool   // the app's last fragment ended inside a line
	helo    string // the EHLO/HELO name given before TLS

	// DegradeMail answers MAIL before TLS with ReplyDegrade instead of
	// passing it on (ucspi-starttls -g: gradual cleartext degradation);
	// OnDegrade, if set, is called each time, for the log.
	DegradeMail bool
	OnDegrade   func()
}

// New returns a Session for cfg.
func New(cfg lineproto.Config) *Session {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	return &Session{Base: lineproto.Base{Cfg: cfg}}
}

// WantClient implements lineproto.Session: the client is read only when
// the app owes no reply (lock step), except for message text and BDAT
// chunks, which flow without replies.
func (s *Session) WantClient() (bool, int) {
	switch {
	case s.Pending != lineproto.None || !s.HasGreet:
		return false, 0
	case s.bdat > 0:
		return true, min(s.bdat, lineproto.DefaultBuffer)
	case s.data && s.atStart:
		return true, lineproto.Text
	case s.data:
		return true, lineproto.TextMid
	case s.wait != waitNone:
		return false, 0
	}
	return true, s.Cfg.MaxLine
}

// Client implements lineproto.Session.
func (s *Session) Client(frag []byte, complete bool) {
	if s.bdat > 0 {
		s.ToApp = append(s.ToApp, frag...)
		s.bdat -= len(frag)
		if s.bdat <= 0 {
			s.bdat = 0
		}
		return
	}
	if s.data {
		// frag is whole lines (Reader.Block) or a piece of a long one; it
		// ends with the "." line if the text ends in it.
		s.ToApp = append(s.ToApp, frag...)
		n := len(frag)
		if complete && (s.atStart && lineproto.IsDot(frag) ||
			n >= 4 && string(frag[n-4:]) == "\n.\r\n" || n >= 3 && string(frag[n-3:]) == "\n.\n") {
			s.data = false
			s.wait = waitReply
		}
		s.atStart = complete
		return
	}
	if !s.Long(complete, func() { s.Reply(ReplyTooLong) }) {
		return
	}
	line := lineproto.Trim(frag)
	if !lineproto.Clean(line) {
		s.Reply(ReplySyntax)
		return
	}
	verb, rest, hasArg := lineproto.Verb(line)
	if verb == "STARTTLS" {
		switch {
		case s.InTLS:
			s.Reply(ReplyActive)
		case !s.Cfg.TLS:
			s.Reply(ReplyNoTLS)
		case hasArg:
			s.Reply(ReplyArgs)
		default:
			s.Pending = lineproto.StartTLS
		}
		return
	}
	if s.Locked() && !allowedLocked(verb) {
		s.Reply(ReplyMandatory)
		return
	}
	if verb == "MAIL" && s.DegradeMail && !s.InTLS {
		s.Reply(ReplyDegrade)
		if s.OnDegrade != nil {
			s.OnDegrade()
		}
		return
	}
	s.ToApp = append(s.ToApp, frag...)
	if (verb == "EHLO" || verb == "HELO") && !s.InTLS {
		s.helo, _, _ = strings.Cut(strings.TrimSpace(rest), " ")
	}
	switch verb {
	case "EHLO":
		s.wait = waitEHLO
		s.ehlo = s.ehlo[:0]
	case "DATA":
		s.wait = waitDATA
	case "BDAT":
		s.wait = waitReply
		f := strings.Fields(rest)
		if len(f) > 0 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 0 {
				s.bdat = n
			}
		}
	default:
		s.wait = waitReply
	}
}

// allowedLocked lists the commands RFC 3207 §4 lets through before TLS
// when TLS is required: NOOP, EHLO, QUIT (and STARTTLS, handled first).
// HELO is refused too: it cannot see STARTTLS, and doc/design.md §5.3 lists it
// among the 530s.
func allowedLocked(verb string) bool {
	return verb == "NOOP" || verb == "EHLO" || verb == "QUIT"
}

// ParseReply splits a trimmed reply line: its code, whether it is the last
// line of the reply ("250 x" or "250", not "250-x"), and whether it looks
// like a reply line at all.
func ParseReply(line []byte) (code int, final bool, ok bool) {
	if len(line) < 3 {
		return 0, true, false
	}
	for _, c := range line[:3] {
		if c < '0' || c > '9' {
			return 0, true, false
		}
	}
	code = int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
	if len(line) == 3 || line[3] == ' ' {
		return code, true, true
	}
	if line[3] == '-' {
		return code, false, true
	}
	return code, true, false
}

// App implements lineproto.Session.
func (s *Session) App(frag []byte, complete bool) {
	if s.appMid {
		// The rest of an over-long app line: pass it on, never parse it.
		s.appMid = !complete
		if s.wait == waitEHLO {
			s.ehlo[len(s.ehlo)-1] += string(lineproto.Trim(frag))
			return
		}
		s.ToClient = append(s.ToClient, frag...)
		return
	}
	s.appMid = !complete
	line := lineproto.Trim(frag)
	code, final, _ := ParseReply(line)
	if s.appMid {
		final = false
	}
	if !s.HasGreet {
		if final {
			s.HasGreet = true
		}
		if s.Swallow {
			// RFC 3207 §4.2: no greeting after TLS; the client's EHLO is
			// the next thing the fresh app hears.
			if final {
				s.Swallow = false
			}
			return
		}
		s.ToClient = append(s.ToClient, frag...)
		return
	}
	switch s.wait {
	case waitEHLO:
		if len(s.ehlo) < maxEHLOLines || final {
			s.ehlo = append(s.ehlo, string(line))
		}
		if !final {
			return
		}
		out := s.ehlo
		if code == 250 {
			out = RewriteEHLO(out, s.Offer(), s.Locked())
		}
		for _, l := range out {
			s.Reply(l)
		}
		s.ehlo = s.ehlo[:0]
		s.wait = waitNone
		return
	case waitDATA:
		if final {
			s.wait = waitNone
			if code == 354 {
				s.data, s.atStart = true, true
			}
		}
	case waitReply:
		if final {
			s.wait = waitNone
		}
	}
	s.ToClient = append(s.ToClient, frag...)
}

// RewriteEHLO returns the lines of a 250 EHLO reply (trimmed) with every
// STARTTLS keyword removed, AUTH removed when hideAuth, STARTTLS added
// last when offer, and the separators redone so that the result is one
// valid multi-line reply: "250-" on every line but the last, "250 " there.
// The first line (the server's name) is always kept.
func RewriteEHLO(lines []string, offer, hideAuth bool) []string {
	if len(lines) == 0 {
		return lines
	}
	out := make([]string, 0, len(lines)+1)
	out = append(out, text(lines[0]))
	for _, l := range lines[1:] {
		t := text(l)
		kw := lineproto.Keyword(t)
		if i := strings.IndexByte(kw, '='); i >= 0 {
			kw = kw[:i]
		}
		if kw == "STARTTLS" || hideAuth && kw == "AUTH" {
			continue
		}
		out = append(out, t)
	}
	if offer {
		out = append(out, "STARTTLS")
	}
	code := "250"
	if len(lines[0]) >= 3 {
		code = lines[0][:3]
	}
	for i, t := range out {
		sep := "-"
		if i == len(out)-1 {
			sep = " "
		}
		out[i] = code + sep + t
	}
	return out
}

// text returns a reply line without its code and separator.
func text(l string) string {
	if len(l) <= 4 {
		return ""
	}
	return l[4:]
}

// Ready implements lineproto.Session.
func (s *Session) Ready() []byte { return []byte(ReplyReady + "\r\n") }

// Refuse implements lineproto.Session.
func (s *Session) Refuse() []byte { return []byte(ReplyPipelined + "\r\n") }

// Started implements lineproto.Session: RFC 3207 §4.2, the session is as
// just after the greeting, and the fresh app's greeting is swallowed.
func (s *Session) Started() {
	s.InTLS, s.Swallow, s.HasGreet = true, true, false
	s.wait, s.data, s.bdat, s.appMid = waitNone, false, 0, false
	s.ehlo = s.ehlo[:0]
}

// Timeout implements lineproto.Session.
func (s *Session) Timeout() []byte { return []byte(ReplyTimeout + "\r\n") }

// Unavailable implements lineproto.Session.
func (s *Session) Unavailable() []byte { return []byte(ReplyUnavailable + "\r\n") }

// HeloName returns the name of the client's last EHLO or HELO before TLS
// ("" when none was given): peer text, unchecked. ucspi-starttls -D looks
// up the TLSA records of this name for the client certificate.
func (s *Session) HeloName() string { return s.helo }
