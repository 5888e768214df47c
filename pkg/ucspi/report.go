package ucspi

import (
	"errors"
	"io"
	"strings"
	"syscall"
)

// Var is one record of a UCSPI-TLS report: NAME=value, or a bare NAME when
// Unset, meaning "this variable does not apply: remove it".
type Var struct {
	Name  string
	Value string
	Unset bool
}

// MaxReport is the largest report a reader accepts (s6-tlsd reads at most
// 4096 bytes; certificate subjects make ours a little longer).
const MaxReport = 16384

// MaxReportValue bounds one value of a report. The engine writes at most
// 1024 bytes of peer text in a value.
const MaxReportValue = 2048

// Report errors. ErrReportName and ErrReportValue are a report that is
// well formed but says what no engine writes: a sign that the engine is
// not the suite's, or no longer runs its code.
var (
	ErrReportTooBig    = errors.New("handshake report too big")
	ErrReportTruncated = errors.New("handshake report truncated")
	ErrReportBad       = errors.New("malformed handshake report")
	ErrReportName      = errors.New("handshake report names a variable no engine sets")
	ErrReportValue     = errors.New("handshake report value too long or with a control character")
)

// reportNames is ReportVars as a set.
var reportNames = func() map[string]bool {
	m := make(map[string]bool, len(ReportVars))
	for _, n := range ReportVars {
		m[n] = true
	}
	return m
}()

// EncodeReport formats vars as the UCSPI-TLS report: NAME=value\0 records
// (NAME\0 for an unset variable) and a final \0. Names must not contain
// '=' or NUL; values must not contain NUL (callers sanitise peer text).
func EncodeReport(vars []Var) []byte {
	var b []byte
	for _, v := range vars {
		b = append(b, v.Name...)
		if !v.Unset {
			b = append(b, '=')
			b = append(b, v.Value...)
		}
		b = append(b, 0)
	}
	return append(b, 0)
}

// ParseReport parses a complete report as written by EncodeReport. An
// empty input is not a report: the handshake failed (ErrReportTruncated).
//
// The report comes from the engine, the process that parses everything
// the peer sends: it is data, never environment. Only the names in
// ReportVars are accepted, and only values of at most MaxReportValue
// bytes without control characters; anything else rejects the whole
// report (ErrReportName, ErrReportValue), so that no engine can set
// PATH, BASH_ENV, RELAYCLIENT or TCPREMOTEIP for the app.
func ParseReport(b []byte) ([]Var, error) {
	if len(b) > MaxReport {
		return nil, ErrReportTooBig
	}
	var vars []Var
	for {
		i := indexNUL(b)
		if i < 0 {
			return nil, ErrReportTruncated
		}
		rec := string(b[:i])
		b = b[i+1:]
		if rec == "" {
			if len(b) != 0 {
				return nil, ErrReportBad
			}
			return vars, nil
		}
		name, value, set := strings.Cut(rec, "=")
		if name == "" {
			return nil, ErrReportBad
		}
		if !reportNames[name] {
			return nil, ErrReportName
		}
		if !reportValue(value) {
			return nil, ErrReportValue
		}
		vars = append(vars, Var{Name: name, Value: value, Unset: !set})
	}
}

// ErrNoReport is the engine's end of the control socket (EOF or a reset)
// before the first byte of a report: the handshake failed, and the
// engine's exit code or log says why.
var ErrNoReport = errors.New("no handshake report")

// ReadReport reads a report from r, the control socket after 'Y', to its
// final NUL and parses it: the one reader of every program that starts
// TLS with a report (tlsd, tlsc, the in-process listener, ucspi-starttls).
// A report cut short by EOF is ErrReportTruncated; more than MaxReport
// bytes, ErrReportTooBig; r's own errors (a deadline) come back as they
// are.
func ReadReport(r io.Reader) ([]Var, error) {
	var b []byte
	buf := make([]byte, 4096)
	for !ReportComplete(b) {
		n, err := r.Read(buf)
		b = append(b, buf[:n]...)
		if len(b) > MaxReport {
			return nil, ErrReportTooBig
		}
		if n > 0 || err == nil {
			continue
		}
		end := err == io.EOF || errors.Is(err, syscall.ECONNRESET)
		switch {
		case end && len(b) == 0:
			return nil, ErrNoReport
		case end:
			return nil, ErrReportTruncated
		}
		return nil, err
	}
	return ParseReport(b)
}

// ReportComplete says whether b holds a whole report: it ends in the extra
// NUL that follows the last record. Readers use it to stop reading.
func ReportComplete(b []byte) bool {
	n := len(b)
	return n == 1 && b[0] == 0 || n >= 2 && b[n-1] == 0 && b[n-2] == 0
}

// Apply sets and unsets vars in e.
func (e *Env) Apply(vars []Var) {
	for _, v := range vars {
		if v.Unset {
			e.Unset(v.Name)
		} else {
			e.Set(v.Name, v.Value)
		}
	}
}

// reportValue says whether v may be a report's value: bounded, and free
// of the bytes an app's parser could split on (newline, CR, NUL, DEL).
func reportValue(v string) bool {
	if len(v) > MaxReportValue {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
