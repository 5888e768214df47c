// Package lineproto reads the CRLF lines of SMTP, POP3 and IMAP with a
// bounded buffer, and can tell whether bytes are buffered after the line
// just returned: the check that refuses commands pipelined behind STARTTLS
// (CVE-2011-0411). The protocol packages below it (smtp, pop3, imap) parse
// commands, rewrite capability lists and word the replies; they do no I/O.
package lineproto

import (
	"bytes"
	"errors"
	"io"
)

// ErrTruncated is Reader's error when the input ended in the middle of a
// line.
var ErrTruncated = errors.New("input ended in the middle of a line")

// DefaultBuffer is the size of a Reader's buffer when NewReader is given
// a smaller one. It is also the most Fragment returns at once.
const DefaultBuffer = 16384

// Reader reads lines ending in LF (CRLF or a bare LF) from src. It never
// reads ahead except into its own buffer, and never holds more than the
// buffer's size, whatever the peer sends.
type Reader struct {
	src  io.Reader
	buf  []byte
	r, w int
	eof  bool
	err  error // a read error other than EOF, returned once the buffer is empty
}

// NewReader returns a Reader over src with a buffer of size bytes (at
// least DefaultBuffer).
func NewReader(src io.Reader, size int) *Reader {
	if size < DefaultBuffer {
		size = DefaultBuffer
	}
	return &Reader{src: src, buf: make([]byte, size)}
}

// Buffered returns how many bytes are held after the last line or bytes
// returned: bytes the peer sent that nobody has looked at yet.
func (r *Reader) Buffered() int { return r.w - r.r }

// fill reads once more into the buffer, moving the held bytes to its
// start. It returns false at EOF or on an error.
func (r *Reader) fill() bool {
	if r.eof || r.err != nil {
		return false
	}
	if r.r > 0 {
		copy(r.buf, r.buf[r.r:r.w])
		r.w -= r.r
		r.r = 0
	}
	for tries := 0; tries < 100; tries++ {
		n, err := r.src.Read(r.buf[r.w:])
		r.w += n
		if err == io.EOF {
			r.eof = true
			return n > 0
		}
		if err != nil {
			r.err = err
			return n > 0
		}
		if n > 0 {
			return true
		}
	}
	r.err = io.ErrNoProgress
	return false
}

// Fragment returns the next line with its terminator when it ends within
// max bytes (complete is true), or else its next max bytes (complete is
// false; the line continues in the next call). At the end of the input it
// returns io.EOF, or ErrTruncated with the bytes of an unterminated last
// line. The slice is valid until the next call.
func (r *Reader) Fragment(max int) (frag []byte, complete bool, err error) {
	if max <= 0 || max > len(r.buf) {
		max = len(r.buf)
	}
	scanned := 0
	for {
		held := r.buf[r.r:r.w]
		if i := bytes.IndexByte(held[scanned:], '\n'); i >= 0 && scanned+i < max {
			n := scanned + i + 1
			r.r += n
			return held[:n], true, nil
		}
		if len(held) >= max {
			r.r += max
			return held[:max], false, nil
		}
		scanned = len(held)
		if !r.fill() {
			held = r.buf[r.r:r.w]
			if len(held) > 0 {
				r.r = r.w
				return held, false, ErrTruncated
			}
			if r.err != nil {
				return nil, false, r.err
			}
			return nil, false, io.EOF
		}
	}
}

// Trim returns line without its LF and a CR before it.
func Trim(line []byte) []byte {
	if n := len(line); n > 0 && line[n-1] == '\n' {
		line = line[:n-1]
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
	}
	return line
}

// Clean says whether a trimmed line is fit to be taken as a command: no
// NUL, no CR, no LF inside it. A bare CR or LF inside a command is how
// smuggling attacks make two programs see different commands.
func Clean(line []byte) bool {
	for _, c := range line {
		if c == 0 || c == '\r' || c == '\n' {
			return false
		}
	}
	return true
}

// Verb splits a trimmed command line at its first space: the verb, upper
// case (ASCII), and the rest after the space. hasArg says whether there
// was anything but spaces after the verb.
func Verb(line []byte) (verb string, rest string, hasArg bool) {
	s := string(line)
	v, rest, _ := cutSpace(s)
	return upper(v), rest, trimSpace(rest) != ""
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func trimSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// Upper returns s with ASCII letters in upper case.
func Upper(s string) string { return upper(s) }

func upper(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'a' && c <= 'z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'a' && b[j] <= 'z' {
					b[j] -= 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// TrimSpace removes spaces and tabs at both ends of s.
func TrimSpace(s string) string { return trimSpace(s) }

// Config is what a protocol Session needs to know about this connection.
type Config struct {
	// TLS says STARTTLS may be offered: UCSPITLS allows it and the
	// UCSPI-TLS control fd is there.
	TLS bool
	// Mandatory refuses authentication and mail before TLS (submission
	// and access ports only; RFC 3207 §4 forbids it on a public MX).
	Mandatory bool
	// MaxLine is the longest command line accepted, terminator included.
	MaxLine int
}

// Event is what a Session asks its driver to do beyond moving bytes.
type Event int

// Events.
const (
	None     Event = iota
	StartTLS       // the client asked for TLS and the session is at rest: check for pipelined bytes, then Ready or Refuse
	Close          // send what TakeClient holds, then end the session
)

// Session is one protocol's view of a connection, without I/O: the driver
// feeds it fragments from the client and from the app (as Reader.Fragment
// returns them) and writes out what TakeClient and TakeApp return, in
// that order, after every call.
type Session interface {
	// WantClient says whether the driver should read from the client now,
	// and the largest fragment to ask for (0: the reader's buffer size).
	WantClient() (bool, int)
	// Client takes bytes from the client.
	Client(frag []byte, complete bool)
	// App takes bytes from the app.
	App(frag []byte, complete bool)
	// TakeClient returns and forgets the bytes due to the client.
	TakeClient() []byte
	// TakeApp returns and forgets the bytes due to the app.
	TakeApp() []byte
	// Event returns the pending event and clears it.
	Event() Event
	// Ready returns the protocol's "go ahead with TLS" reply for the
	// pending STARTTLS.
	Ready() []byte
	// Refuse returns the reply that refuses the pending STARTTLS because
	// bytes followed it; the driver then ends the session.
	Refuse() []byte
	// Started tells the session TLS is up and a fresh app runs: its
	// greeting is swallowed (RFC 3207 §4.2: no new greeting) and nothing
	// is advertised or accepted about STARTTLS any more.
	Started()
	// Greeted says whether the app's greeting has been seen since the
	// start (or since Started).
	Greeted() bool
	// TLS says whether Started was called.
	TLS() bool
	// Timeout returns the reply for a client that went silent.
	Timeout() []byte
	// Unavailable returns the reply for an app that ended or failed
	// before its greeting.
	Unavailable() []byte
}

// Base holds what every Session keeps: the configuration, the output
// buffers and the pending event. The protocol packages embed it.
type Base struct {
	Cfg       Config
	ToClient  []byte
	ToApp     []byte
	Pending   Event
	InTLS     bool
	Swallow   bool // the next greeting comes from a fresh app after TLS
	HasGreet  bool
	discardCl bool // discarding the rest of a too-long client line
}

// TakeClient implements Session.
func (b *Base) TakeClient() []byte { o := b.ToClient; b.ToClient = nil; return o }

// TakeApp implements Session.
func (b *Base) TakeApp() []byte { o := b.ToApp; b.ToApp = nil; return o }

// Event implements Session.
func (b *Base) Event() Event { e := b.Pending; b.Pending = None; return e }

// Greeted implements Session.
func (b *Base) Greeted() bool { return b.HasGreet }

// TLS implements Session.
func (b *Base) TLS() bool { return b.InTLS }

// Offer says whether STARTTLS is to be advertised and accepted now.
func (b *Base) Offer() bool { return b.Cfg.TLS && !b.InTLS }

// Locked says whether mandatory mode keeps authentication shut now.
func (b *Base) Locked() bool { return b.Cfg.Mandatory && !b.InTLS }

// Reply queues s and CRLF for the client.
func (b *Base) Reply(s string) { b.ToClient = append(append(b.ToClient, s...), '\r', '\n') }

// Long handles a command line fragment against the line limit: it
// returns false while the line is being discarded (the caller does
// nothing more), and calls tooLong once the end of a too-long line has
// been read.
func (b *Base) Long(complete bool, tooLong func()) bool {
	if b.discardCl {
		if complete {
			b.discardCl = false
			tooLong()
		}
		return false
	}
	if !complete {
		b.discardCl = true
		return false
	}
	return true
}

// Discarding says whether a too-long line is being discarded.
func (b *Base) Discarding() bool { return b.discardCl }

// Keyword returns the first word of a capability line, upper case: the
// text before the first space, tab or other control byte, so that
// "STARTTLS\r" or " STLS" are recognised as what a client would read.
func Keyword(s string) string {
	for len(s) > 0 && (s[0] <= ' ' || s[0] == 0x7f) {
		s = s[1:]
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return upper(s[:i])
		}
	}
	return upper(s)
}

// Values of WantClient's max that ask for message text (SMTP DATA): as
// many whole lines as the buffer holds, in one piece, stopping after a
// line that is just "." (the end of the text) when it starts a line.
const (
	Text    = -1 // the next byte starts a line
	TextMid = -2 // the next byte continues a line
)

// Block returns the next fragment as Fragment(0) does, extended by every
// further whole line already buffered, up to the buffer's size. It stops
// after a "." line (CRLF or LF), the first line counting only when
// atStart. Message text thus moves in large pieces instead of a line at a
// time.
func (r *Reader) Block(atStart bool) ([]byte, bool, error) {
	frag, complete, err := r.Fragment(0)
	if err != nil || !complete || atStart && IsDot(frag) {
		return frag, complete, err
	}
	start := r.r - len(frag)
	for {
		held := r.buf[r.r:r.w]
		i := bytes.IndexByte(held, '\n')
		if i < 0 {
			break
		}
		r.r += i + 1
		if IsDot(held[:i+1]) {
			break
		}
	}
	return r.buf[start:r.r], true, nil
}

// IsDot says whether line (terminator included) is the "." that ends
// message text.
func IsDot(line []byte) bool {
	s := string(line)
	return s == ".\r\n" || s == ".\n"
}

// Read reads the next piece for a session that asked for max (see
// WantClient, Text, TextMid).
func (r *Reader) Read(max int) ([]byte, bool, error) {
	switch max {
	case Text:
		return r.Block(true)
	case TextMid:
		return r.Block(false)
	}
	return r.Fragment(max)
}
