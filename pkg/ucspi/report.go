package ucspi

import (
	"errors"
	"strings"
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

// Report errors.
var (
	ErrReportTooBig    = errors.New("handshake report too big")
	ErrReportTruncated = errors.New("handshake report truncated")
	ErrReportBad       = errors.New("malformed handshake report")
)

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
		vars = append(vars, Var{Name: name, Value: value, Unset: !set})
	}
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

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}
