// Package imap is the IMAP side of ucspi-starttls (RFC 3501/9051 §6.2.1):
// it parses tagged commands and responses (literals in both directions),
// adds and strips STARTTLS in "* CAPABILITY" responses and "[CAPABILITY …]"
// codes, answers STARTTLS and the mandatory-mode refusals (LOGINDISABLED,
// no AUTH=), and ends a mandatory session whose app greets with PREAUTH.
// Unlike SMTP and POP3 the client is read while commands are outstanding
// (IDLE, untagged responses at any time); the session never writes its own
// lines into the middle of an app response. It does no I/O.
package imap

import (
	"strconv"
	"strings"

	"github.com/tlschain/tlschain/pkg/lineproto"
)

// Texts of the replies written by the session itself (tagged ones get the
// client's tag in front).
const (
	TextReady       = "OK Begin TLS negotiation now"
	TextActive      = "BAD TLS already active"
	TextNoTLS       = "NO TLS not available"
	TextArgs        = "BAD STARTTLS takes no arguments"
	TextAuthed      = "BAD STARTTLS not allowed: already authenticated"
	TextMandatory   = "NO [PRIVACYREQUIRED] Must issue a STARTTLS command first"
	TextLiteral     = "BAD Literals not allowed before STARTTLS"
	ReplyTooLong    = "* BAD Line too long"
	ReplySyntax     = "* BAD Syntax error: NUL or bare CR, or no tag"
	ReplyPipelined  = "* BYE Commands pipelined after STARTTLS, closing connection"
	TextPipelined   = "NO STARTTLS refused"
	ReplyPreauth    = "* BYE TLS required, but the server greeted with PREAUTH"
	ReplyTimeout    = "* BYE Autologout; idle for too long"
	ReplyUnavailabe = "* BYE Service not available"
)

// DefaultMaxLine bounds a command line (RFC 7162 §4 asks for at least
// 8192 octets).
const DefaultMaxLine = 8192

// maxOutstanding bounds the commands in flight before the session stops
// reading the client.
const maxOutstanding = 1000

// Session is one IMAP connection's state.
type Session struct {
	lineproto.Base
	authed bool // authenticated state: no STARTTLS

	// client side
	inCmd    bool   // the next client line continues a command (after a literal)
	cmdTag   string // tag of the command being read
	cmdFwd   bool   // that command goes to the app (else discarded)
	lit      int    // client literal bytes still to come
	litWait  bool   // a synchronizing literal waits for the app's "+"
	litN     int
	cont     int               // client lines that answer "+" (AUTHENTICATE, IDLE's DONE)
	out      map[string]string // tag → verb of commands in flight
	outN     int
	tlsTag   string // a STARTTLS waits for the commands in flight
	tlsWait  bool
	localBuf []byte // local replies held until the app is between responses

	// app side
	srvLit int  // literal bytes the app still sends
	appMid bool // inside an app response (long line or after a literal)
}

// New returns a Session for cfg.
func New(cfg lineproto.Config) *Session {
	if cfg.MaxLine <= 0 {
		cfg.MaxLine = DefaultMaxLine
	}
	return &Session{Base: lineproto.Base{Cfg: cfg}, out: map[string]string{}}
}

// WantClient implements lineproto.Session.
func (s *Session) WantClient() (bool, int) {
	switch {
	case s.Pending != lineproto.None || !s.HasGreet || s.litWait || s.tlsWait:
		return false, 0
	case s.lit > 0:
		return true, min(s.lit, lineproto.DefaultBuffer)
	case s.outN >= maxOutstanding:
		return false, 0
	}
	return true, s.Cfg.MaxLine
}

func (s *Session) local(line string) {
	s.localBuf = append(append(s.localBuf, line...), '\r', '\n')
	s.flushLocal()
}

func (s *Session) flushLocal() {
	if s.srvLit == 0 && !s.appMid && len(s.localBuf) > 0 {
		s.ToClient = append(s.ToClient, s.localBuf...)
		s.localBuf = s.localBuf[:0]
	}
}

// Client implements lineproto.Session.
func (s *Session) Client(frag []byte, complete bool) {
	if s.lit > 0 {
		if s.cmdFwd {
			s.ToApp = append(s.ToApp, frag...)
		}
		s.lit -= len(frag)
		if s.lit <= 0 {
			s.lit, s.inCmd = 0, true
		}
		return
	}
	if !s.Long(complete, func() { s.local(ReplyTooLong) }) {
		return
	}
	line := lineproto.Trim(frag)
	if s.cont > 0 && !s.inCmd {
		s.cont--
		s.ToApp = append(s.ToApp, frag...)
		return
	}
	if !lineproto.Clean(line) {
		s.local(ReplySyntax)
		s.inCmd = false
		return
	}
	if s.inCmd {
		// The rest of a command after a literal.
		if s.cmdFwd {
			s.ToApp = append(s.ToApp, frag...)
		}
		s.inCmd = false
		s.literal(line)
		return
	}
	tag, verb, hasArg, ok := ParseCommand(line)
	if !ok {
		s.local(ReplySyntax)
		return
	}
	n, _, hasLit := Literal(line)
	if verb == "STARTTLS" {
		switch {
		case s.InTLS:
			s.local(tag + " " + TextActive)
		case hasArg || hasLit:
			s.local(tag + " " + TextArgs)
		case s.authed:
			s.local(tag + " " + TextAuthed)
		case !s.Cfg.TLS:
			s.local(tag + " " + TextNoTLS)
		default:
			s.tlsTag, s.tlsWait = tag, true
			s.checkTLS()
			return
		}
		s.skip(line, n, hasLit)
		return
	}
	if s.Locked() && !allowedLocked(verb) {
		s.local(tag + " " + TextMandatory)
		s.skip(line, n, hasLit)
		return
	}
	if s.Locked() && hasLit {
		// A literal's bytes reach the app uninspected; before TLS in
		// mandatory mode nothing may hide a LOGIN from us.
		s.local(tag + " " + TextLiteral)
		s.skip(line, n, hasLit)
		return
	}
	s.ToApp = append(s.ToApp, frag...)
	if _, dup := s.out[tag]; !dup {
		s.out[tag] = verb
	}
	s.outN++
	s.cmdTag, s.cmdFwd = tag, true
	s.literal(line)
}

// literal starts reading the literal a command line ends with, if any.
func (s *Session) literal(line []byte) {
	n, sync, ok := Literal(line)
	if !ok {
		return
	}
	if sync {
		s.litWait, s.litN = true, n
		return
	}
	s.lit = n
	if n == 0 {
		s.inCmd = true
	}
}

// skip discards a refused command: a non-synchronizing literal's bytes
// and the rest of the command follow without waiting, so they are read
// and dropped; a synchronizing one is never sent, as no "+" comes.
func (s *Session) skip(line []byte, n int, hasLit bool) {
	_, sync, _ := Literal(line)
	if hasLit && !sync {
		s.cmdFwd, s.lit = false, n
		if n == 0 {
			s.inCmd = true
		}
	}
}

func allowedLocked(verb string) bool {
	switch verb {
	case "CAPABILITY", "NOOP", "LOGOUT", "ID":
		return true
	}
	return false
}

func (s *Session) checkTLS() {
	if s.tlsWait && s.outN == 0 && s.srvLit == 0 && !s.appMid && len(s.localBuf) == 0 {
		s.Pending = lineproto.StartTLS
	}
}

// App implements lineproto.Session.
func (s *Session) App(frag []byte, complete bool) {
	for len(frag) > 0 {
		if s.srvLit > 0 {
			n := min(s.srvLit, len(frag))
			if !s.Swallow {
				s.ToClient = append(s.ToClient, frag[:n]...)
			}
			s.srvLit -= n
			frag = frag[n:]
			continue
		}
		if s.appMid {
			// The rest of a line: after a literal, or an over-long one.
			if !s.Swallow {
				s.ToClient = append(s.ToClient, frag...)
			}
			s.appMid = !complete
			if complete {
				if n, _, ok := Literal(lineproto.Trim(frag)); ok {
					s.srvLit, s.appMid = n, true
				} else if s.Swallow {
					s.Swallow = false
				}
			}
			break
		}
		s.response(frag, complete)
		break
	}
	s.flushLocal()
	s.checkTLS()
}

func (s *Session) response(frag []byte, complete bool) {
	s.appMid = !complete
	line := lineproto.Trim(frag)
	if complete {
		if n, _, ok := Literal(line); ok {
			s.srvLit, s.appMid = n, true
		}
	}
	if !s.HasGreet {
		s.HasGreet = true
		up := lineproto.Upper(string(line))
		if s.Swallow {
			// No new greeting after TLS.
			s.Swallow = s.appMid
			return
		}
		if strings.HasPrefix(up, "* PREAUTH") {
			s.authed = true
			if s.Cfg.Mandatory {
				s.Reply(ReplyPreauth)
				s.Pending = lineproto.Close
				return
			}
		}
		s.emit(frag, line, complete)
		return
	}
	if s.Swallow {
		// Still inside the swallowed greeting.
		return
	}
	if len(line) > 0 && line[0] == '+' {
		if s.litWait {
			s.litWait, s.lit = false, s.litN
			if s.lit == 0 {
				s.inCmd = true
			}
		} else {
			s.cont++
		}
		s.ToClient = append(s.ToClient, frag...)
		return
	}
	if tag, rest, ok := cut(string(line)); ok && tag != "*" {
		if verb, ok := s.out[tag]; ok {
			s.outN--
			delete(s.out, tag)
			st := lineproto.Upper(rest)
			if strings.HasPrefix(st, "OK") && (verb == "LOGIN" || verb == "AUTHENTICATE") {
				s.authed = true
			}
			if s.litWait && tag == s.cmdTag {
				s.litWait = false // the literal was refused: the client will not send it
			}
			s.cont = 0
		}
		if s.outN < 0 {
			s.outN = 0
		}
	}
	s.emit(frag, line, complete)
}

// emit passes an app response line on, rewriting capabilities in it.
func (s *Session) emit(frag, line []byte, complete bool) {
	if complete {
		if r, changed := RewriteLine(string(line), s.Offer() && !s.authed, s.Locked()); changed {
			s.Reply(r)
			return
		}
	}
	s.ToClient = append(s.ToClient, frag...)
}

// ParseCommand splits a trimmed command line: tag, verb (upper case),
// whether arguments follow, and whether it looks like a command at all.
func ParseCommand(line []byte) (tag, verb string, hasArg, ok bool) {
	t, rest, found := cut(string(line))
	if !found || t == "" || !validTag(t) {
		return "", "", false, false
	}
	v, args, _ := cut(rest)
	if v == "" {
		return "", "", false, false
	}
	return t, lineproto.Upper(v), lineproto.TrimSpace(args) != "", true
}

func validTag(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if c <= ' ' || c >= 0x7f || c == '(' || c == ')' || c == '{' || c == '%' || c == '*' || c == '"' || c == '\\' || c == '+' {
			return false
		}
	}
	return true
}

func cut(s string) (string, string, bool) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// Literal reports the literal a trimmed line ends with: "{n}" (sync, the
// sender waits for "+") or "{n+}" (LITERAL+, no wait).
func Literal(line []byte) (n int, sync bool, ok bool) {
	l := len(line)
	if l < 3 || line[l-1] != '}' {
		return 0, false, false
	}
	i := l - 2
	sync = true
	if line[i] == '+' {
		sync = false
		i--
	}
	end := i + 1
	for i >= 0 && line[i] >= '0' && line[i] <= '9' {
		i--
	}
	if i < 0 || line[i] != '{' || i+1 == end || end-(i+1) > 10 {
		return 0, false, false
	}
	v, err := strconv.ParseInt(string(line[i+1:end]), 10, 64)
	if err != nil || v > 1<<40 {
		return 0, false, false
	}
	return int(v), sync, true
}

// RewriteLine rewrites the capability list in one response line: the
// list of "* CAPABILITY …" and the one in a "[CAPABILITY …]" response
// code. STARTTLS is always removed, then added when offer; when locked,
// AUTH= mechanisms are removed and LOGINDISABLED added (RFC 3501
// §6.2.3). changed is false when the line holds no capability list.
func RewriteLine(line string, offer, locked bool) (string, bool) {
	up := lineproto.Upper(line)
	if strings.HasPrefix(up, "* CAPABILITY ") || up == "* CAPABILITY" {
		return line[:len("* CAPABILITY")] + rewriteCaps(line[len("* CAPABILITY"):], offer, locked), true
	}
	i := strings.Index(up, "[CAPABILITY")
	if i < 0 {
		return line, false
	}
	j := strings.IndexByte(line[i:], ']')
	if j < 0 {
		return line, false
	}
	start, end := i+len("[CAPABILITY"), i+j
	return line[:start] + rewriteCaps(line[start:end], offer, locked) + line[end:], true
}

func rewriteCaps(list string, offer, locked bool) string {
	var b strings.Builder
	hasLD := false
	for _, c := range strings.Fields(list) {
		u := lineproto.Upper(c)
		if u == "STARTTLS" || locked && strings.HasPrefix(u, "AUTH=") {
			continue
		}
		if u == "LOGINDISABLED" {
			hasLD = true
		}
		b.WriteByte(' ')
		b.WriteString(c)
	}
	if offer {
		b.WriteString(" STARTTLS")
	}
	if locked && !hasLD {
		b.WriteString(" LOGINDISABLED")
	}
	return b.String()
}

// Ready implements lineproto.Session.
func (s *Session) Ready() []byte {
	s.tlsWait = false
	return []byte(s.tlsTag + " " + TextReady + "\r\n")
}

// Refuse implements lineproto.Session.
func (s *Session) Refuse() []byte {
	s.tlsWait = false
	return []byte(ReplyPipelined + "\r\n" + s.tlsTag + " " + TextPipelined + "\r\n")
}

// Started implements lineproto.Session.
func (s *Session) Started() {
	s.InTLS, s.Swallow, s.HasGreet = true, true, false
	s.inCmd, s.lit, s.litWait, s.cont = false, 0, false, 0
	s.out, s.outN = map[string]string{}, 0
	s.srvLit, s.appMid, s.localBuf = 0, false, nil
}

// Timeout implements lineproto.Session.
func (s *Session) Timeout() []byte { return []byte(ReplyTimeout + "\r\n") }

// Unavailable implements lineproto.Session.
func (s *Session) Unavailable() []byte { return []byte(ReplyUnavailabe + "\r\n") }
