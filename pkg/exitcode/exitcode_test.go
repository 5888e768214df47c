package exitcode

import (
	"errors"
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
