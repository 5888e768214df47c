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
	cut := len(s) > MaxSafe
	if cut {
		s = s[:MaxSafe]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x21 || c > 0x7e {
			b[i] = '?'
		}
	}
	if cut {
		return string(b) + "..."
	}
	return string(b)
}
