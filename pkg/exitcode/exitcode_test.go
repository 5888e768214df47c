package exitcode

import (
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

func TestError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		text string
		code int
	}{
		{New(TLSConfig, "open KEYFILE", "/etc/tls/key.pem", &os.PathError{Op: "open", Path: "/etc/tls/key.pem", Err: syscall.EACCES}),
			"unable to open KEYFILE /etc/tls/key.pem: permission denied", TLSConfig},
		{UsageError("UID not set"), "UID not set", Usage},
		{Temp("bind", "0.0.0.0 port 25", syscall.EADDRINUSE), "unable to bind 0.0.0.0 port 25: address already in use", Temporary},
		{Config("load", "", errors.New("bad")), "unable to load: bad", TLSConfig},
	} {
		if got := tc.err.Error(); got != tc.text {
			t.Errorf("Error() = %q, want %q", got, tc.text)
		}
		if got := Code(tc.err); got != tc.code {
			t.Errorf("Code(%q) = %d, want %d", tc.text, got, tc.code)
		}
	}
	if Code(nil) != OK || Code(syscall.ENOENT) != Temporary || Code(errors.New("x")) != Internal {
		t.Error("Code of nil / errno / plain error")
	}
	wrapped := New(TLSSession, "handshake", "", New(Temporary, "read", "", syscall.EIO))
	if Code(wrapped) != TLSSession {
		t.Error("the outermost *Error must win")
	}
}

// stderrOf returns what f writes on stderr.
func stderrOf(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = w
	f()
	os.Stderr = old
	w.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

func TestReport(t *testing.T) {
	err := New(TLSConfig, "read CERTFILE", "/x y", syscall.ENOENT)
	if got := stderrOf(t, func() { Report("tlsd", err) }); got != `tlsd: fatal: exit status=96 err="unable to read CERTFILE /x y: no such file or directory"`+"\n" {
		t.Errorf("Report: %q", got)
	}
	got := stderrOf(t, func() { Report("tlsserver", UsageError("TLS_UID is 0"), "conn", "-", "ip", "::1", "port", "25") })
	if got != `tlsserver: fatal: exit conn=- ip=::1 port=25 status=100 err="TLS_UID is 0"`+"\n" {
		t.Errorf("Report with a connection: %q", got)
	}
	got = stderrOf(t, func() { ReportUsage("p", "p [-v] prog", errors.New("unknown option -x")) })
	if got != `p: fatal: usage status=100 err="unknown option -x" usage="p [-v] prog"`+"\n" {
		t.Errorf("ReportUsage: %q", got)
	}
}
