package ucspi

import (
	"errors"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

func TestEnv(t *testing.T) {
	e := NewEnv([]string{"A=1", "B=2", "A=3", "junk", "C="})
	if got := e.Environ(); !reflect.DeepEqual(got, []string{"A=1", "B=2", "C="}) {
		t.Fatalf("NewEnv kept %q", got)
	}
	if v, ok := e.Get("C"); !ok || v != "" {
		t.Errorf("Get(C) = %q, %v", v, ok)
	}
	if _, ok := e.Get("AB"); ok {
		t.Error("Get(AB) found a prefix match")
	}
	e.Set("A", "x")
	e.Set("D", "4")
	e.Unset("B", "nope")
	if got := e.Environ(); !reflect.DeepEqual(got, []string{"A=x", "C=", "D=4"}) {
		t.Fatalf("after Set/Unset: %q", got)
	}
	e.Set("KEYFILE", "k")
	e.Set("KEYFILE:a.example", "k2")
	e.UnsetPrefix("KEYFILE")
	if _, ok := e.Get("KEYFILE"); ok {
		t.Error("UnsetPrefix left KEYFILE")
	}
	if got := Without([]string{"UID=1", "X=y", "GID=2"}, UIDGIDVars...); !reflect.DeepEqual(got, []string{"X=y"}) {
		t.Errorf("Without = %q", got)
	}
}

var reportTests = []struct {
	name string
	in   string
	want []Var
	err  error
}{
	{"empty report", "\x00", nil, nil},
	{"s6 sample", "SSL_PROTOCOL=TLSv1.2\x00SSL_CIPHER=ECDHE-ECDSA-CHACHA20-POLY1305\x00SSL_TLS_SNI_SERVERNAME=localhost\x00SSL_PEER_CERT_HASH\x00SSL_PEER_CERT_SUBJECT\x00\x00",
		[]Var{{"SSL_PROTOCOL", "TLSv1.2", false}, {"SSL_CIPHER", "ECDHE-ECDSA-CHACHA20-POLY1305", false},
			{"SSL_TLS_SNI_SERVERNAME", "localhost", false}, {"SSL_PEER_CERT_HASH", "", true}, {"SSL_PEER_CERT_SUBJECT", "", true}}, nil},
	{"empty value", "SSL_ALPN=\x00\x00", []Var{{"SSL_ALPN", "", false}}, nil},
	{"value with =", "SSL_CLIENT_S_DN=/CN=a=b\x00\x00", []Var{{"SSL_CLIENT_S_DN", "/CN=a=b", false}}, nil},
	{"longest value", "SSL_CLIENT_S_DN=" + strings.Repeat("x", MaxReportValue) + "\x00\x00",
		[]Var{{"SSL_CLIENT_S_DN", strings.Repeat("x", MaxReportValue), false}}, nil},
	{"nothing", "", nil, ErrReportTruncated},
	{"no final NUL", "SSL_ALPN=1\x00", nil, ErrReportTruncated},
	{"no NUL at all", "SSL_ALPN=1", nil, ErrReportTruncated},
	{"bytes after end", "SSL_ALPN=1\x00\x00B", nil, ErrReportBad},
	{"empty name", "=x\x00\x00", nil, ErrReportBad},
	// What a compromised engine would like the app to see.
	{"not an SSL name", "SSL_PROTOCOL=TLSv1.3\x00RELAYCLIENT=\x00\x00", nil, ErrReportName},
	{"PATH", "PATH=/tmp/evil\x00\x00", nil, ErrReportName},
	{"unset of another name", "TCPREMOTEIP\x00\x00", nil, ErrReportName},
	{"SSL_ prefix alone", "SSL_X=1\x00\x00", nil, ErrReportName},
	{"value too long", "SSL_CLIENT_S_DN=" + strings.Repeat("x", MaxReportValue+1) + "\x00\x00", nil, ErrReportValue},
	{"newline in value", "SSL_CLIENT_S_DN_CN=admin\nRCPT\x00\x00", nil, ErrReportValue},
	{"CR in value", "SSL_CLIENT_S_DN_CN=a\rb\x00\x00", nil, ErrReportValue},
}

func TestParseReport(t *testing.T) {
	for _, tc := range reportTests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseReport([]byte(tc.in))
			if err != tc.err || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
			if err == nil {
				if enc := string(EncodeReport(got)); enc != tc.in {
					t.Errorf("EncodeReport = %q, want %q", enc, tc.in)
				}
				if !ReportComplete([]byte(tc.in)) {
					t.Error("ReportComplete false on a whole report")
				}
			}
		})
	}
	if _, err := ParseReport(make([]byte, MaxReport+1)); err != ErrReportTooBig {
		t.Errorf("oversized report: %v", err)
	}
}

func TestApply(t *testing.T) {
	e := NewEnv([]string{"SSL_ALPN=h2", "X=1"})
	e.Apply([]Var{{"SSL_PROTOCOL", "TLSv1.3", false}, {"SSL_ALPN", "", true}})
	if got := e.Environ(); !reflect.DeepEqual(got, []string{"X=1", "SSL_PROTOCOL=TLSv1.3"}) {
		t.Errorf("Apply gave %q", got)
	}
}

// chunks is a reader that returns its parts one Read at a time (as
// much of a part as fits), then err.
type chunks struct {
	parts []string
	err   error
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.parts) == 0 {
		return 0, c.err
	}
	n := copy(p, c.parts[0])
	if c.parts[0] = c.parts[0][n:]; c.parts[0] == "" {
		c.parts = c.parts[1:]
	}
	return n, nil
}

func TestReadReport(t *testing.T) {
	errReset := syscall.ECONNRESET
	tests := []struct {
		name  string
		parts []string
		end   error
		want  int // variables
		err   error
	}{
		{"whole", []string{"SSL_PROTOCOL=TLSv1.3\x00SSL_CIPHER=X\x00\x00"}, io.EOF, 2, nil},
		{"in pieces", []string{"SSL_PROT", "OCOL=TLSv1.3\x00", "\x00"}, io.EOF, 1, nil},
		{"empty report", []string{"\x00"}, io.EOF, 0, nil},
		{"nothing: the handshake failed", nil, io.EOF, 0, ErrNoReport},
		{"a reset before a byte", nil, errReset, 0, ErrNoReport},
		{"cut short", []string{"SSL_PROTOCOL=TLSv1.3\x00"}, io.EOF, 0, ErrReportTruncated},
		{"cut by a reset", []string{"SSL_PROTOCOL=TLSv1.3\x00"}, errReset, 0, ErrReportTruncated},
		{"another name", []string{"PATH=/tmp\x00\x00"}, io.EOF, 0, ErrReportName},
		{"too big", []string{strings.Repeat("SSL_CIPHER=x\x00", MaxReport/13+1)}, io.EOF, 0, ErrReportTooBig},
		{"the reader's error", nil, os.ErrDeadlineExceeded, 0, os.ErrDeadlineExceeded},
	}
	for _, tc := range tests {
		vars, err := ReadReport(&chunks{parts: tc.parts, err: tc.end})
		if !errors.Is(err, tc.err) || len(vars) != tc.want {
			t.Errorf("%s: %d vars, %v; want %d, %v", tc.name, len(vars), err, tc.want, tc.err)
		}
	}
}
