package main

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// engineStub is the engine's end of a control socket: it reads the 'Y'
// and answers with report, then hangs up (hangUp) or keeps the socket
// open until the reader closes its end.
func engineStub(t *testing.T, report string, hangUp bool) (ctl int, done chan struct{}) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	done = make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 1)
		if n, _ := unix.Read(fds[1], b); n != 1 || b[0] != 'Y' {
			unix.Close(fds[1])
			return
		}
		unix.Write(fds[1], []byte(report))
		if hangUp {
			unix.Close(fds[1])
			return
		}
		// Hold the socket open until the reader gives up.
		unix.Read(fds[1], b)
		unix.Close(fds[1])
	}()
	return fds[0], done
}

var reportTests = []struct {
	name   string
	report string
	hangUp bool
	want   error // nil: the report is accepted
	bad    bool  // a *badReportError
}{
	{"accepted", "SSL_PROTOCOL=TLSv1.3\x00SSL_PEER_CERT_HASH\x00\x00", true, nil, false},
	{"no report", "", true, errHandshake, false},
	{"truncated", "SSL_PROTOCOL=TLSv1.3\x00", true, ucspi.ErrReportTruncated, true},
	{"name", "SSL_PROTOCOL=TLSv1.3\x00LD_PRELOAD=/tmp/x.so\x00\x00", true, ucspi.ErrReportName, true},
	{"name of the connection", "TCPREMOTEIP=127.0.0.1\x00\x00", true, ucspi.ErrReportName, true},
	{"value with LF", "SSL_CIPHER=A\nB\x00\x00", true, ucspi.ErrReportValue, true},
	{"value too long", "SSL_PEER_CERT_SUBJECT=" + strings.Repeat("x", ucspi.MaxReportValue+1) + "\x00\x00", true, ucspi.ErrReportValue, true},
	{"framing", "\x00\x00", true, ucspi.ErrReportBad, true},
	{"too big", strings.Repeat("SSL_CIPHER=x\x00", ucspi.MaxReport/13+1), false, ucspi.ErrReportTooBig, true},
	{"silent engine", "", false, io.ErrNoProgress, false},
}

// TestReadReport: what the engine answers on the control socket, as
// readReport classifies it. Every report ucspi.ParseReport rejects, and
// one cut short or too big, is a *badReportError naming the engine.
func TestReadReport(t *testing.T) {
	for _, tc := range reportTests {
		t.Run(tc.name, func(t *testing.T) {
			ctl, done := engineStub(t, tc.report, tc.hangUp)
			defer func() { unix.Close(ctl); <-done }()
			unix.Write(ctl, []byte{'Y'})
			vars, err := readReport(ctl, time.Now().Add(200*time.Millisecond), io.ErrNoProgress)
			if tc.want == nil {
				if err != nil || len(vars) != 2 || vars[0].Value != "TLSv1.3" || !vars[1].Unset {
					t.Fatalf("got %+v, %v", vars, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || isBadReport(err) != tc.bad || vars != nil {
				t.Fatalf("got %+v, %v; want %v (bad report %v)", vars, err, tc.want, tc.bad)
			}
			if tc.bad && !strings.HasPrefix(err.Error(), "the TLS engine sent a bad handshake report: ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

// TestClientBadReport: in client mode a rejected report ends the
// session: prog is never started (its path does not exist, so a start
// would give 127), the connection to the server is shut down, the exit
// code is 98, and one warning names the engine, with the peer.
func TestClientBadReport(t *testing.T) {
	fd, srvDone := scriptServer(t, "220 mx.test ESMTP\r\n", func(cmd string) string {
		switch strings.ToUpper(cmd) {
		case "EHLO LOCALHOST":
			return "250-mx.test\r\n250 STARTTLS\r\n"
		case "STARTTLS":
			return "220 go ahead\r\n"
		}
		return ""
	})
	defer unix.Close(fd)
	ctl, engDone := engineStub(t, "SSL_PROTOCOL=TLSv1.3\x00BASH_ENV=/tmp/x\x00\x00", true)
	defer func() { <-engDone }()
	c := testClient(t, "smtp", "encrypt", fd)
	c.tls = &tlsFDs{ctl: ctl, rd: -1, wr: -1}
	c.path = "/nonexistent/prog"
	c.log.Conn = []string{"conn", "42", "ip", "192.0.2.7", "port", "25"}
	c.kids = &reaper{waits: map[int]*child{}, keep: map[int]bool{}, kick: make(chan struct{}, 1), gone: make(chan struct{}, 1)}

	log := captureStderr(t, func() {
		if code := c.run(); code != exitcode.TLSSession {
			t.Errorf("exit %d, want %d", code, exitcode.TLSSession)
		}
	})
	want := "ucspi-starttls: warning: abort conn=42 ip=192.0.2.7 port=25 host=- policy=encrypt status=98 err=\"the TLS engine sent a bad handshake report: " +
		ucspi.ErrReportName.Error() + "\"\n"
	if log != want {
		t.Errorf("log %q, want %q", log, want)
	}
	select {
	case <-srvDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the connection to the server was not shut down")
	}
}

// captureStderr runs f with os.Stderr on a pipe and returns what it
// wrote there.
func captureStderr(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	f()
	os.Stderr = saved
	w.Close()
	b, _ := io.ReadAll(r)
	r.Close()
	return string(b)
}
