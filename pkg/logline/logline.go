// Package logline writes the suite's log lines, one format for every
// program (doc/ucspi.md, "Log lines"):
//
//	prog: level: verb key=value key=value…
//
// level is info, warning or fatal; verb is a fixed word; the fields
// follow in logfmt, a value in double quotes with Go's escapes when it
// is empty or holds a space, a quote, '=', a backslash or a byte outside
// 0x21–0x7e. A line about a connection names it first: conn=, ip=, port=.
// One event per line, one write(2) per line, no timestamps (s6-log and
// multilog add them).
package logline

import (
	"os"
	"strconv"
	"strings"

	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Verbosity levels, as set by -q and -v.
const (
	Quiet   = 0 // warnings and fatal errors only
	Normal  = 1 // a few lines per connection
	Verbose = 2 // details
)

// Logger writes lines for one program.
type Logger struct {
	Prog  string
	Level int
	// Conn are the fields every line starts with after its verb: the
	// connection's identity (ConnFields), or nil.
	Conn []string
}

// New returns a Logger at the Normal level whose lines name the process's
// connection (SetConn), if any.
func New(prog string) *Logger { return &Logger{Prog: prog, Level: Normal, Conn: procConn} }

// Info writes an info line when the level is at least Normal. kv are
// key, value pairs.
func (l *Logger) Info(verb string, kv ...string) {
	if l.Level >= Normal {
		l.write("info", verb, kv)
	}
}

// Debug writes an info line only at the Verbose level.
func (l *Logger) Debug(verb string, kv ...string) {
	if l.Level >= Verbose {
		l.write("info", verb, kv)
	}
}

// Warn writes a warning line at every level.
func (l *Logger) Warn(verb string, kv ...string) { l.write("warning", verb, kv) }

func (l *Logger) write(level, verb string, kv []string) {
	os.Stderr.WriteString(Format(l.Prog, level, verb, l.Conn, kv))
}

// Format returns one line, newline included: prog, level and verb, then
// the key, value pairs of conn and of kv.
func Format(prog, level, verb string, conn, kv []string) string {
	var b strings.Builder
	b.Grow(96)
	b.WriteString(prog)
	b.WriteString(": ")
	b.WriteString(level)
	b.WriteString(": ")
	b.WriteString(verb)
	for _, f := range [2][]string{conn, kv} {
		for i := 0; i+1 < len(f); i += 2 {
			b.WriteByte(' ')
			b.WriteString(f[i])
			b.WriteByte('=')
			b.WriteString(Value(f[i+1]))
		}
	}
	b.WriteByte('\n')
	return b.String()
}

// Value is v as a field's value: as it is when that is one word of
// printable ASCII without '"', '=' or '\', else quoted with Go's escapes
// (so no control byte or newline reaches the log).
func Value(v string) string {
	if v == "" {
		return `""`
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x21 || c > 0x7e || c == '"' || c == '=' || c == '\\' {
			return strconv.Quote(v)
		}
	}
	return v
}

// procConn names the connection of a process that serves one (SetConn).
var procConn []string

// SetConn makes every later line of the process (Loggers from New and
// exitcode's fatal lines) name the connection of envp, when envp names
// one. Programs that serve one connection call it at start. It returns
// envp with CONNPID set to the id, for the processes this one starts.
func SetConn(envp []string) []string {
	procConn = ConnFields(envp)
	if _, ok := ucspi.Getenv(envp, ucspi.ConnPID); ok || procConn == nil {
		return envp
	}
	return append(envp[:len(envp):len(envp)], ucspi.ConnPID+"="+procConn[1])
}

// ProcConn returns the fields SetConn set, or nil.
func ProcConn() []string { return procConn }

// ConnFields returns the fields naming the connection of envp — conn=,
// ip=, port= — or nil when envp names none (no TCPREMOTEIP nor CONNPID).
// conn is CONNPID, or this process's pid when that is unset: the
// listener's child, or a program it exec'd.
func ConnFields(envp []string) []string {
	id, okID := ucspi.Getenv(envp, ucspi.ConnPID)
	ip, okIP := ucspi.Getenv(envp, ucspi.TCPRemoteIP)
	if !okID && !okIP {
		return nil
	}
	if !okID {
		id = strconv.Itoa(os.Getpid())
	}
	port, _ := ucspi.Getenv(envp, ucspi.TCPRemotePort)
	return []string{"conn", Safe(id), "ip", Safe(ip), "port", Safe(port)}
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
