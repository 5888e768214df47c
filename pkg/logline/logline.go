// Package logline writes the suite's log lines: "prog: info: …" and
// "prog: warning: …", one event per line, one write(2) per line, no
// timestamps (s6-log and multilog add them).
package logline

import (
	"os"
	"strings"
)

// Verbosity levels, as set by -q and -v.
const (
	Quiet   = 0 // warnings and fatal errors only
	Normal  = 1 // one start and one end line per connection
	Verbose = 2 // details
)

// Logger writes lines for one program.
type Logger struct {
	Prog  string
	Level int
}

// New returns a Logger at the Normal level.
func New(prog string) *Logger { return &Logger{Prog: prog, Level: Normal} }

// Info writes an info line when the level is at least Normal. Fields are
// joined with spaces.
func (l *Logger) Info(fields ...string) {
	if l.Level >= Normal {
		l.write("info", fields)
	}
}

// Debug writes an info line only at the Verbose level.
func (l *Logger) Debug(fields ...string) {
	if l.Level >= Verbose {
		l.write("info", fields)
	}
}

// Warn writes a warning line at every level.
func (l *Logger) Warn(fields ...string) { l.write("warning", fields) }

func (l *Logger) write(kind string, fields []string) {
	var b strings.Builder
	b.Grow(64)
	b.WriteString(l.Prog)
	b.WriteString(": ")
	b.WriteString(kind)
	b.WriteString(": ")
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(f)
	}
	b.WriteByte('\n')
	os.Stderr.WriteString(b.String())
}

// MaxSafe is the longest peer-controlled string Safe keeps.
const MaxSafe = 100

// Safe makes peer-controlled text (SNI, EHLO argument, reverse DNS, a
// certificate subject) fit for a log line: bytes outside 0x21–0x7e become
// '?', and text longer than MaxSafe is cut and ends in "...". The empty
// string becomes "-" so that fields stay countable.
func Safe(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s, MaxSafe, func(c byte) bool { return c < 0x21 || c > 0x7e })
}

// Quote puts text named in an error message (an option argument, a
// policy word, a domain) in double quotes, cut to max bytes with "..."
// added, every byte outside 0x20–0x7e replaced by '?'.
func Quote(s string, max int) string {
	return "\"" + clean(s, max, func(c byte) bool { return c < 0x20 || c > 0x7e }) + "\""
}

// Printable makes text fit for one line of a message: cut to max bytes
// with "..." added, control characters (below 0x20, and 0x7f) replaced by
// '?'. Unlike Safe and Quote it keeps spaces and bytes from 0x80 on, so
// UTF-8 text stays readable.
func Printable(s string, max int) string {
	return clean(s, max, func(c byte) bool { return c < 0x20 || c == 0x7f })
}

// clean cuts s to max bytes, adding "..." when it did, and replaces the
// bytes bad reports with '?'.
func clean(s string, max int, bad func(byte) bool) string {
	cut := len(s) > max
	if cut {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if bad(c) {
			b[i] = '?'
		}
	}
	if cut {
		return string(b) + "..."
	}
	return string(b)
}
