// Package exitcode holds the suite's exit codes (doc/ucspi.md,
// doc/design.md §3.6), the Error type that carries a code from where a
// failure is understood to where the program exits, and the one place
// that prints "prog: fatal: exit … err=…".
package exitcode

import (
	"errors"
	"os"
	"strconv"
	"syscall"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/version"
)

// Exit codes shared by every program of the suite.
const (
	OK            = 0
	Denied        = 1
	TLSConfig     = 96
	TLSSetup      = 97
	TLSSession    = 98
	AccessTimeout = 99
	Usage         = 100
	Internal      = 101
	Temporary     = 111
	NotExecutable = 126
	NotFound      = 127
)

// Error is a failure with the exit code it maps to. Error() reads
// "unable to <Op> <Arg>: <Err>", like fs.PathError.
type Error struct {
	Code int
	Op   string
	Arg  string
	Err  error
}

// New returns an *Error; err may be nil.
func New(code int, op, arg string, err error) *Error {
	return &Error{Code: code, Op: op, Arg: arg, Err: err}
}

// Errorf-free constructors for the common classes.

// Config is a TLS configuration error (96).
func Config(op, arg string, err error) *Error { return New(TLSConfig, op, arg, err) }

// Temp is a temporary system failure (111).
func Temp(op, arg string, err error) *Error { return New(Temporary, op, arg, err) }

// UsageError is a bad command line or a missing variable (100).
func UsageError(msg string) *Error { return &Error{Code: Usage, Op: msg} }

func (e *Error) Error() string {
	s := e.Op
	if e.Err != nil || e.Arg != "" {
		s = "unable to " + e.Op
	}
	if e.Arg != "" {
		s += " " + e.Arg
	}
	if e.Err != nil {
		s += ": " + errText(e.Err)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// errText returns err's text; errno text comes without Go's *PathError
// decorations when the path is already named by Op/Arg.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// Code maps err to an exit status: the outermost *Error wins, a bare errno
// is a temporary failure (111), anything else is an internal error (101):
// somebody forgot to classify it.
func Code(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return Temporary
	}
	return Internal
}

// Report writes err's fatal line on stderr in one write and returns err's
// exit code:
//
//	prog: fatal: exit conn=… ip=… port=… status=96 err="unable to …"
//
// conn are the fields naming the connection (logline.ConnFields); without
// them, the process's own (logline.SetConn), if any.
func Report(prog string, err error, conn ...string) int {
	code := Code(err)
	if conn == nil {
		conn = logline.ProcConn()
	}
	os.Stderr.WriteString(logline.Format(prog, "fatal", "exit", conn, []string{"status", strconv.Itoa(code), "err", err.Error()}))
	return code
}

// ReportUsage writes a fatal line with the usage, and err when it is not
// nil, and returns 100:
//
//	prog: fatal: usage status=100 err="…" usage="prog [ -v ] prog..."
func ReportUsage(prog, usage string, err error) int {
	kv := []string{"status", strconv.Itoa(Usage)}
	if err != nil {
		kv = append(kv, "err", err.Error())
	}
	os.Stderr.WriteString(logline.Format(prog, "fatal", "usage", logline.ProcConn(), append(kv, "usage", usage)))
	return Usage
}

// CommandLine ends a program whose option parsing returned err:
// getopt.ErrHelp prints help and getopt.ErrVersion the version line on
// stdout (exit 0); any other error goes to ReportUsage (100). With err nil
// done is false, and the program goes on.
func CommandLine(prog, usage, help string, err error) (code int, done bool) {
	switch err {
	case nil:
		return OK, false
	case getopt.ErrHelp:
		os.Stdout.WriteString(help)
	case getopt.ErrVersion:
		os.Stdout.WriteString(version.Line(prog))
	default:
		return ReportUsage(prog, usage, err), true
	}
	return OK, true
}
