package t

// Black-box tests of ucspi-starttls (server mode).
//
// tlsd -n is not there yet, so these tests stand in for it: the test holds
// the other ends of SSLCTLFD (an AF_UNIX socketpair) and of the
// SSLREADFD/SSLWRITEFD pipes and answers like the engine of
// notes/TLS-CONTRACT.md would — reads one command byte, writes the report
// after 'Y' (or closes with nothing on a "failed handshake"), then relays
// the raw connection to the pipes. It does no cryptography: it checks what
// ucspi-starttls does around the switch, not TLS. TestStarttlsRealEngine
// runs the real chain with openssl s_client and swaks once tlsd -h lists
// -n.

import (
	"bufio"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// engineDouble is a stand-in for tlsd -n's engine.
type engineDouble struct {
	t       *testing.T
	cmd     *exec.Cmd
	client  net.Conn // the client's end of the raw connection
	srvRaw  *os.File // our copy of ucspi-starttls's fd 0/1 (the engine's network side)
	ctl     *os.File // our end of SSLCTLFD
	tlsIn   *os.File // write end of SSLREADFD's pipe (what the engine decrypts)
	tlsOut  *os.File // read end of SSLWRITEFD's pipe (what the engine encrypts)
	rd      *bufio.Reader
	stderr  *syncBuffer
	done    chan struct{}
	code    int
	cmdByte chan byte // the byte read on SSLCTLFD, 0 on EOF
	fail    bool      // answer 'Y' with nothing: a failed handshake
}

var testReport = "SSL_PROTOCOL=TLSv1.3\x00SSL_CIPHER=TLS_AES_128_GCM_SHA256\x00SSL_TLS_SNI_SERVERNAME=localhost\x00SSL_PEER_CERT_HASH\x00\x00"

func socketpair(t *testing.T) (*os.File, *os.File) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "sp0"), os.NewFile(uintptr(fds[1]), "sp1")
}

func startDouble(t *testing.T, fail bool, env []string, args ...string) *engineDouble {
	t.Helper()
	cl, srv := socketpair(t)
	ctlMine, ctlTheirs := socketpair(t)
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.FileConn(cl)
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	e := &engineDouble{t: t, client: conn, srvRaw: srv, ctl: ctlMine, tlsIn: inW, tlsOut: outR,
		stderr: &syncBuffer{}, done: make(chan struct{}), cmdByte: make(chan byte, 1), fail: fail}
	e.cmd = exec.Command(bin("ucspi-starttls"), args...)
	e.cmd.Env = append(baseEnv("TCPREMOTEIP=127.0.0.9", "SSLCTLFD=3", "SSLREADFD=4", "SSLWRITEFD=5"), env...)
	e.cmd.Stdin, e.cmd.Stdout, e.cmd.Stderr = srv, srv, e.stderr
	e.cmd.ExtraFiles = []*os.File{ctlTheirs, inR, outW}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ctlTheirs.Close()
	inR.Close()
	outW.Close()
	go func() {
		err := e.cmd.Wait()
		if ee, ok := err.(*exec.ExitError); ok {
			e.code = ee.ExitCode()
		}
		close(e.done)
	}()
	go e.engine()
	e.rd = bufio.NewReader(conn)
	t.Cleanup(func() {
		conn.Close()
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			e.cmd.Process.Kill()
			t.Errorf("ucspi-starttls did not exit; stderr: %s", e.stderr)
		}
		srv.Close()
		ctlMine.Close()
		inW.Close()
		outR.Close()
	})
	return e
}

// engine answers on the control fd like tlswrap (TLS-CONTRACT.md), then
// relays the raw connection to the cleartext pipes.
func (e *engineDouble) engine() {
	b := make([]byte, 1)
	n, _ := e.ctl.Read(b)
	if n == 0 {
		e.cmdByte <- 0 // declined: the engine exits, closing the network
		e.srvRaw.Close()
		return
	}
	e.cmdByte <- b[0]
	if e.fail {
		e.ctl.Close()
		e.srvRaw.Close()
		return
	}
	e.ctl.Write([]byte(testReport))
	e.ctl.Close()
	go func() { io.Copy(e.tlsIn, e.srvRaw); e.tlsIn.Close() }()
	go func() { io.Copy(e.srvRaw, e.tlsOut); syscall.Shutdown(int(e.srvRaw.Fd()), syscall.SHUT_WR) }()
}

func (e *engineDouble) send(s string) {
	e.t.Helper()
	if _, err := e.client.Write([]byte(s)); err != nil {
		e.t.Fatalf("write %q: %v", s, err)
	}
}

// line reads one line (without CRLF) within 5 s.
func (e *engineDouble) line() string {
	e.t.Helper()
	e.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := e.rd.ReadString('\n')
	if err != nil {
		e.t.Fatalf("read: %v (got %q); stderr: %s", err, l, e.stderr)
	}
	if !strings.HasSuffix(l, "\r\n") {
		e.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// reply reads one SMTP reply: all its lines.
func (e *engineDouble) reply() []string {
	e.t.Helper()
	var ls []string
	for i := 0; i < 100; i++ {
		l := e.line()
		ls = append(ls, l)
		if len(l) < 4 || l[3] == ' ' {
			return ls
		}
	}
	e.t.Fatal("reply too long")
	return nil
}

// rest reads everything until EOF (within 10 s).
func (e *engineDouble) rest() string {
	e.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, _ := io.ReadAll(e.rd)
	return string(b)
}

func (e *engineDouble) wait() int {
	e.t.Helper()
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		e.t.Fatalf("ucspi-starttls did not exit; stderr: %s", e.stderr)
	}
	return e.code
}

func testdata(name string) string {
	p, _ := filepath.Abs(filepath.Join("testdata", "starttls", name))
	return p
}

// checkEHLO asserts r is one valid multi-line 250 reply and returns its
// keywords.
func checkEHLO(t *testing.T, r []string) []string {
	t.Helper()
	var kw []string
	for i, l := range r {
		sep := "-"
		if i == len(r)-1 {
			sep = " "
		}
		if !strings.HasPrefix(l, "250"+sep) {
			t.Fatalf("EHLO reply line %d %q: want prefix 250%s in %q", i, l, sep, r)
		}
		if i > 0 {
			kw = append(kw, strings.ToUpper(strings.Fields(l[4:])[0]))
		}
	}
	return kw
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// TestStarttlsSMTPSwitch: the whole opportunistic dialogue. STARTTLS is
// advertised once (the app's own is stripped), the switch writes 'Y', the
// fresh app's multi-line greeting is swallowed, the SSL_* variables reach
// it and UCSPITLS does not, STARTTLS is neither advertised nor accepted
// after TLS.
func TestStarttlsSMTPSwitch(t *testing.T) {
	e := startDouble(t, false, []string{"UCSPITLS="}, "smtp", testdata("smtp.sh"))
	g := e.reply()
	if len(g) != 2 || !strings.HasPrefix(g[0], "220-test.example") {
		t.Fatalf("greeting %q", g)
	}
	e.send("EHLO client.example\r\n")
	kw := checkEHLO(t, e.reply())
	if count(kw, "STARTTLS") != 1 || count(kw, "AUTH") != 1 {
		t.Fatalf("EHLO keywords before TLS %q: want STARTTLS once, AUTH", kw)
	}
	e.send("XENV\r\n")
	if r := e.reply(); !strings.Contains(r[0], "UCSPITLS= ") || !strings.Contains(r[0], "SSLCTLFD=unset") {
		t.Fatalf("cleartext app env: %q", r)
	}
	e.send("STARTTLS\r\n")
	if r := e.reply(); r[0] != "220 2.0.0 Ready to start TLS" {
		t.Fatalf("STARTTLS reply %q", r)
	}
	if b := <-e.cmdByte; b != 'Y' {
		t.Fatalf("control byte %q, want Y", b)
	}
	// Inside "TLS": the client's EHLO is the first thing the fresh app
	// answers; no greeting comes first.
	e.send("EHLO client.example\r\n")
	r := e.reply()
	kw = checkEHLO(t, r)
	if !strings.HasPrefix(r[0], "250-test.example hello") || count(kw, "STARTTLS") != 0 || count(kw, "AUTH") != 1 {
		t.Fatalf("EHLO reply after TLS %q", r)
	}
	e.send("XENV\r\n")
	if r := e.reply(); r[0] != "250 SSL_PROTOCOL=TLSv1.3 UCSPITLS=unset SSLCTLFD=unset" {
		t.Fatalf("fresh app env: %q", r)
	}
	e.send("STARTTLS\r\n")
	if r := e.reply(); r[0] != "554 5.5.1 Error: TLS already active" {
		t.Fatalf("second STARTTLS: %q", r)
	}
	e.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
	e.reply()
	e.reply()
	if r := e.reply(); r[0] != "354 go ahead" {
		t.Fatalf("DATA: %q", r)
	}
	e.send("Subject: x\r\n\r\nSTARTTLS\r\n..dot\r\n.\r\n")
	if r := e.reply(); r[0] != "250 2.0.0 got 4 lines" {
		t.Fatalf("end of data: %q", r)
	}
	e.send("QUIT\r\n")
	if r := e.reply(); r[0] != "221 2.0.0 bye" {
		t.Fatalf("QUIT: %q", r)
	}
	if code := e.wait(); code != 0 {
		t.Fatalf("exit %d; stderr: %s", code, e.stderr)
	}
	if !strings.Contains(e.stderr.String(), "ucspi-starttls: info: pid ") || !strings.Contains(e.stderr.String(), "ip 127.0.0.9 starttls TLSv1.3") {
		t.Fatalf("log: %s", e.stderr)
	}
}

// TestStarttlsInjection: REFERENCE §5.4's command-injection vectors, each
// sent as one write. ucspi-starttls refuses STARTTLS and closes; the
// injected command is never answered and TLS never starts.
func TestStarttlsInjection(t *testing.T) {
	cases := []struct {
		name, proto, prog, greet, pre, vector, marker string
	}{
		{"smtp-rset", "smtp", "smtp.sh", "", "", "STARTTLS\r\nRSET\r\n", "RSET-ANSWERED"},
		{"smtp-ehlo", "smtp", "smtp.sh", "", "", "STARTTLS\r\nEHLO commandinjectiontester\r\n", "250"},
		{"imap", "imap", "imap.sh", "", "", "A STARTTLS\r\nXYZAB NOOP\r\n", "XYZAB"},
		{"pop3", "pop3", "pop3.sh", "", "", "STLS\r\nCAPA\r\n", "UIDL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := startDouble(t, false, []string{"UCSPITLS="}, tc.proto, testdata(tc.prog))
			e.line()
			if tc.proto == "smtp" {
				e.line()
			}
			e.send(tc.vector)
			out := e.rest()
			if strings.Contains(out, tc.marker) {
				t.Fatalf("injected command answered: %q", out)
			}
			if strings.Contains(out, "Ready to start TLS") || strings.Contains(out, "Begin TLS") {
				t.Fatalf("STARTTLS accepted: %q", out)
			}
			if b := <-e.cmdByte; b != 0 {
				t.Fatalf("control byte %q written", b)
			}
			if code := e.wait(); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if !strings.Contains(e.stderr.String(), "warning: pid") || !strings.Contains(e.stderr.String(), "ip 127.0.0.9 starttls refused: commands pipelined") {
				t.Fatalf("log: %s", e.stderr)
			}
		})
	}
}

// TestStarttlsNoBytesCross: after the switch the client's next bytes are
// the engine's (ucspi-starttls reads nothing more from fd 0), and a reply
// the cleartext app queued late never reaches the client (response
// injection).
func TestStarttlsNoBytesCross(t *testing.T) {
	app := filepath.Join(t.TempDir(), "late.sh")
	os.WriteFile(app, []byte("#!/bin/sh\nprintf '220 late ESMTP\\r\\n'\nread l\nprintf '250 ok\\r\\n'\nread l\nsleep 0.3\nprintf '250 QUEUED-INJECTED\\r\\n'\nsleep 1\n"), 0o755)
	e := startDouble(t, false, []string{"UCSPITLS="}, "smtp", app)
	e.line()
	e.send("NOOP\r\n")
	e.line()
	e.send("STARTTLS\r\n")
	if l := e.line(); !strings.HasPrefix(l, "220 2.0.0") {
		t.Fatalf("STARTTLS: %q", l)
	}
	<-e.cmdByte
	e.send("EHLO x\r\n") // reaches the fresh app through the "engine"
	r := e.reply()
	if strings.Contains(strings.Join(r, "\n"), "INJECTED") {
		t.Fatalf("queued cleartext reply crossed the switch: %q", r)
	}
}

// TestStarttlsMandatory: UCSPITLS=! (and -m): 530 to all but NOOP, EHLO,
// STARTTLS, QUIT; AUTH hidden in EHLO until TLS; everything open after.
func TestStarttlsMandatory(t *testing.T) {
	for _, mode := range []struct {
		env  string
		args []string
	}{{"UCSPITLS=!", nil}, {"UCSPITLS=", []string{"-m"}}} {
		e := startDouble(t, false, []string{mode.env}, append(mode.args, "smtp", testdata("smtp.sh"))...)
		e.reply()
		for _, c := range []string{"HELO x", "MAIL FROM:<a@b.test>", "AUTH PLAIN AGFAYg==", "RSET", "VRFY x", "XENV"} {
			e.send(c + "\r\n")
			if r := e.reply(); r[0] != "530 5.7.0 Must issue a STARTTLS command first" {
				t.Fatalf("%s %s: %q", mode.env, c, r)
			}
		}
		e.send("NOOP\r\n")
		if r := e.reply(); r[0] != "250 2.0.0 ok" {
			t.Fatalf("NOOP: %q", r)
		}
		e.send("EHLO x\r\n")
		kw := checkEHLO(t, e.reply())
		if count(kw, "AUTH") != 0 || count(kw, "STARTTLS") != 1 {
			t.Fatalf("EHLO keywords in mandatory mode: %q", kw)
		}
		e.send("STARTTLS\r\n")
		e.reply()
		<-e.cmdByte
		e.send("EHLO x\r\nAUTH PLAIN AGFAYg==\r\nQUIT\r\n")
		kw = checkEHLO(t, e.reply())
		if count(kw, "AUTH") != 1 || count(kw, "STARTTLS") != 0 {
			t.Fatalf("EHLO keywords after TLS: %q", kw)
		}
		if r := e.reply(); r[0] != "235 2.7.0 authenticated" {
			t.Fatalf("AUTH after TLS: %q", r)
		}
		e.reply()
		if code := e.wait(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
}

// TestStarttlsBadInput: long lines, NUL, bare CR, STARTTLS with an
// argument, STARTTLS where TLS is not offered.
func TestStarttlsBadInput(t *testing.T) {
	e := startDouble(t, false, []string{"UCSPITLS="}, "smtp", testdata("smtp.sh"))
	e.reply()
	steps := []struct{ in, want string }{
		{strings.Repeat("A", 600) + "\r\n", "500 5.5.2 Line too long"},
		{strings.Repeat("B", 70000) + "\r\n", "500 5.5.2 Line too long"},
		{"NOOP\x00\r\n", "500 5.5.2 Syntax error: NUL or bare CR in command"},
		{"NO\rOP\r\n", "500 5.5.2 Syntax error: NUL or bare CR in command"},
		{"STARTTLS now\r\n", "501 5.5.4 Syntax error: STARTTLS takes no parameters"},
		{"\xff\xfe binary\r\n", "502 5.5.1 unknown \xff\xfe"},
		{"NOOP\n", "250 2.0.0 ok"},
	}
	for _, s := range steps {
		e.send(s.in)
		if r := e.reply(); r[0] != s.want {
			t.Fatalf("%.40q: got %q, want %q", s.in, r, s.want)
		}
	}
	// EOF in the middle of a command: the app gets EOF, exits, is reaped.
	e.send("NOO")
	e.client.(*net.UnixConn).CloseWrite()
	e.rest()
	if code := e.wait(); code != 0 {
		t.Fatalf("exit %d; stderr %s", code, e.stderr)
	}

	// No UCSPITLS: not offered, not accepted.
	e = startDouble(t, false, nil, "smtp", testdata("smtp.sh"))
	e.reply()
	e.send("EHLO x\r\n")
	if kw := checkEHLO(t, e.reply()); count(kw, "STARTTLS") != 0 {
		t.Fatalf("offered without UCSPITLS: %q", kw)
	}
	e.send("STARTTLS\r\nQUIT\r\n")
	if r := e.reply(); r[0] != "454 4.7.0 TLS not available" {
		t.Fatalf("STARTTLS without UCSPITLS: %q", r)
	}
	e.reply()
	e.wait()
}

// TestStarttlsFailures: a failed handshake (98), a prog that never greets
// (timeout, prog killed and reaped), a prog that is not there (127), a
// prog that dies at once.
func TestStarttlsFailures(t *testing.T) {
	t.Run("handshake", func(t *testing.T) {
		e := startDouble(t, true, []string{"UCSPITLS="}, "smtp", testdata("smtp.sh"))
		e.reply()
		e.send("STARTTLS\r\n")
		e.reply()
		if code := e.wait(); code != 98 {
			t.Fatalf("exit %d, want 98", code)
		}
		if !strings.Contains(e.stderr.String(), "ip 127.0.0.9 tls handshake failed") {
			t.Fatalf("log: %s", e.stderr)
		}
	})
	t.Run("silent-prog", func(t *testing.T) {
		pidfile := filepath.Join(t.TempDir(), "pid")
		app := filepath.Join(t.TempDir(), "silent.sh")
		os.WriteFile(app, []byte("#!/bin/sh\necho $$ > "+pidfile+"\nexec sleep 60\n"), 0o755)
		start := time.Now()
		e := startDouble(t, false, []string{"UCSPITLS="}, "-t", "1", "smtp", app)
		if l := e.line(); l != "421 4.4.2 Timeout, closing connection" {
			t.Fatalf("got %q", l)
		}
		if code := e.wait(); code != 1 {
			t.Fatalf("exit %d", code)
		}
		if d := time.Since(start); d > 8*time.Second {
			t.Fatalf("took %v", d)
		}
		b, _ := os.ReadFile(pidfile)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			t.Fatalf("prog %d still alive", pid)
		}
	})
	t.Run("dying-prog", func(t *testing.T) {
		e := startDouble(t, false, []string{"UCSPITLS="}, "smtp", "/bin/false")
		if l := e.line(); l != "421 4.3.0 Service not available, closing connection" {
			t.Fatalf("got %q", l)
		}
		if code := e.wait(); code != 1 {
			t.Fatalf("exit %d, want false's 1", code)
		}
	})
	t.Run("missing-prog", func(t *testing.T) {
		r := run(t, baseEnv(), "", bin("ucspi-starttls"), "smtp", "/nonexistent/prog")
		if r.Code != 127 || !strings.Contains(r.Stderr, "ucspi-starttls: fatal: unable to run /nonexistent/prog") {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("usage", func(t *testing.T) {
		r := run(t, baseEnv(), "", bin("ucspi-starttls"), "-c", "smtp", "x")
		if r.Code != 100 || !strings.Contains(r.Stderr, "client mode -c is not implemented yet") {
			t.Fatalf("%+v", r)
		}
		r = run(t, baseEnv("UCSPITLS=!"), "", bin("ucspi-starttls"), "smtp", "/bin/cat")
		if r.Code != 100 || !strings.Contains(r.Stderr, "SSLCTLFD not set") {
			t.Fatalf("mandatory without SSLCTLFD: %+v", r)
		}
		r = run(t, baseEnv(), "", bin("ucspi-starttls"), "-h")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "usage: ucspi-starttls ") {
			t.Fatalf("-h: %+v", r)
		}
	})
}

// TestStarttlsPOP3: CAPA rewriting, CAPA answered for an app without it
// (popa3d's -ERR), STLS, mandatory refusals.
func TestStarttlsPOP3(t *testing.T) {
	e := startDouble(t, false, []string{"UCSPITLS="}, "pop3", testdata("pop3.sh"))
	e.line()
	e.send("CAPA\r\n")
	if got := capa(e); strings.Join(got, ",") != "+OK,USER,SASL PLAIN,UIDL,STLS,." {
		t.Fatalf("CAPA: %q", got)
	}
	e.send("STLS\r\n")
	if l := e.line(); l != "+OK Begin TLS negotiation" {
		t.Fatalf("STLS: %q", l)
	}
	<-e.cmdByte
	e.send("CAPA\r\n")
	if got := capa(e); strings.Join(got, ",") != "+OK,USER,SASL PLAIN,UIDL,." {
		t.Fatalf("CAPA after TLS: %q", got)
	}
	e.send("STLS\r\nXENV\r\nQUIT\r\n")
	if l := e.line(); l != "-ERR TLS already active" {
		t.Fatalf("second STLS: %q", l)
	}
	if l := e.line(); l != "+OK SSL_PROTOCOL=TLSv1.3" {
		t.Fatalf("XENV: %q", l)
	}
	e.line()
	e.wait()

	e = startDouble(t, false, []string{"UCSPITLS=!", "NOCAPA=1"}, "pop3", testdata("pop3.sh"))
	e.line()
	e.send("CAPA\r\n")
	if got := capa(e); strings.Join(got, ",") != "+OK Capability list follows,STLS,." {
		t.Fatalf("synthesised CAPA, mandatory: %q", got)
	}
	for _, c := range []string{"USER a", "PASS b", "APOP a b", "AUTH PLAIN"} {
		e.send(c + "\r\n")
		if l := e.line(); l != "-ERR Must issue a STLS command first" {
			t.Fatalf("%s: %q", c, l)
		}
	}
	e.send("QUIT\r\n")
	e.line()
	e.wait()
}

func capa(e *engineDouble) []string {
	var ls []string
	for i := 0; i < 50; i++ {
		l := e.line()
		ls = append(ls, l)
		if l == "." || strings.HasPrefix(l, "-ERR") {
			break
		}
	}
	return ls
}

// TestStarttlsIMAP: capabilities in the greeting code and in * CAPABILITY,
// STARTTLS, no greeting after TLS, mandatory LOGINDISABLED, PREAUTH.
func TestStarttlsIMAP(t *testing.T) {
	e := startDouble(t, false, []string{"UCSPITLS="}, "imap", testdata("imap.sh"))
	if l := e.line(); l != "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] test ready" {
		t.Fatalf("greeting %q", l)
	}
	e.send("a CAPABILITY\r\n")
	if l := e.line(); l != "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE STARTTLS" {
		t.Fatalf("capability %q", l)
	}
	e.line()
	e.send("b STARTTLS\r\n")
	if l := e.line(); l != "b OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS %q", l)
	}
	<-e.cmdByte
	e.send("c CAPABILITY\r\n")
	if l := e.line(); l != "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE" {
		t.Fatalf("capability after TLS %q", l)
	}
	e.line()
	e.send("d STARTTLS\r\ne XENV\r\nf LOGOUT\r\n")
	for _, want := range []string{"d BAD TLS already active", "* XENV SSL_PROTOCOL=TLSv1.3", "e OK done", "* BYE bye", "f OK done"} {
		if l := e.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	e.wait()

	e = startDouble(t, false, []string{"UCSPITLS=!"}, "imap", testdata("imap.sh"))
	if l := e.line(); l != "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] test ready" {
		t.Fatalf("mandatory greeting %q", l)
	}
	e.send("a LOGIN user pass\r\nb AUTHENTICATE PLAIN\r\nc SELECT inbox\r\nd NOOP\r\n")
	for _, want := range []string{
		"a NO [PRIVACYREQUIRED] Must issue a STARTTLS command first",
		"b NO [PRIVACYREQUIRED] Must issue a STARTTLS command first",
		"c NO [PRIVACYREQUIRED] Must issue a STARTTLS command first",
		"d OK NOOP-ANSWERED"} {
		if l := e.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	e.send("e LOGIN {4+}\r\nuser pass\r\nf NOOP\r\n")
	for _, want := range []string{"e NO [PRIVACYREQUIRED] Must issue a STARTTLS command first", "f OK NOOP-ANSWERED"} {
		if l := e.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	e.client.Close()
	e.wait()

	e = startDouble(t, false, []string{"UCSPITLS=!", "PREAUTH=1"}, "imap", testdata("imap.sh"))
	if out := e.rest(); out != "* BYE TLS required, but the server greeted with PREAUTH\r\n" {
		t.Fatalf("PREAUTH in mandatory mode: %q", out)
	}
	if code := e.wait(); code != 1 {
		t.Fatalf("exit %d", code)
	}
}

// TestStarttlsMailfront runs the real mailfront (smtpfront-echo with the
// accept plugin) behind ucspi-starttls, through a whole mail transaction
// after the switch.
func TestStarttlsMailfront(t *testing.T) {
	need(t, "/usr/sbin/mailfront")
	e := startDouble(t, false, []string{"UCSPITLS=", "TCPLOCALHOST=mx.test"}, "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")
	if r := e.reply(); !strings.HasPrefix(r[0], "220 mx.test mailfront ESMTP") {
		t.Fatalf("greeting %q", r)
	}
	e.send("EHLO client.test\r\n")
	if kw := checkEHLO(t, e.reply()); count(kw, "STARTTLS") != 1 {
		t.Fatalf("mailfront EHLO: %q", kw)
	}
	e.send("STARTTLS\r\n")
	e.reply()
	<-e.cmdByte
	e.send("EHLO client.test\r\n")
	if kw := checkEHLO(t, e.reply()); count(kw, "STARTTLS") != 0 {
		t.Fatalf("mailfront EHLO after TLS: %q", kw)
	}
	e.send("MAIL FROM:<a@b.test>\r\n")
	if r := e.reply(); !strings.HasPrefix(r[0], "250") {
		t.Fatalf("MAIL: %q; stderr %s", r, e.stderr)
	}
	e.send("RCPT TO:<c@d.test>\r\nDATA\r\n")
	e.reply()
	if r := e.reply(); !strings.HasPrefix(r[0], "354") {
		t.Fatalf("DATA: %q", r)
	}
	e.send("Subject: t\r\n\r\nhello\r\n.\r\nQUIT\r\n")
	if r := e.reply(); !strings.HasPrefix(r[0], "250") {
		t.Fatalf("end of data: %q", r)
	}
	e.reply()
	if code := e.wait(); code != 0 {
		t.Fatalf("exit %d; stderr %s", code, e.stderr)
	}
}

// TestStarttlsPopa3d: popa3d answers CAPA with -ERR; ucspi-starttls
// answers it with STLS and USER, and STLS leads to a working session.
func TestStarttlsPopa3d(t *testing.T) {
	needRoot(t)
	need(t, "/usr/sbin/popa3d")
	e := startDouble(t, false, []string{"UCSPITLS="}, "pop3", "/usr/sbin/popa3d")
	if l := e.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("greeting %q", l)
	}
	e.send("CAPA\r\n")
	if got := capa(e); strings.Join(got, ",") != "+OK Capability list follows,USER,STLS,." {
		t.Fatalf("CAPA for popa3d: %q", got)
	}
	e.send("STLS\r\n")
	e.line()
	<-e.cmdByte
	e.send("USER nobody-here\r\nQUIT\r\n")
	if l := e.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("USER after TLS: %q", l)
	}
	e.rest()
	e.wait()
}

// TestStarttlsImapfront: mailfront's imapfront-auth behind ucspi-starttls.
func TestStarttlsImapfront(t *testing.T) {
	need(t, "/usr/sbin/imapfront-auth")
	e := startDouble(t, false, []string{"UCSPITLS=", "CVM_SASL_PLAIN=/bin/false"}, "imap", "/usr/sbin/imapfront-auth", "/bin/true")
	if l := e.line(); !strings.HasPrefix(l, "* OK") {
		t.Fatalf("greeting %q", l)
	}
	e.send("a CAPABILITY\r\n")
	if l := e.line(); !strings.HasPrefix(l, "* CAPABILITY IMAP4rev1") || !strings.HasSuffix(l, " STARTTLS") {
		t.Fatalf("capability %q", l)
	}
	e.line()
	e.send("b STARTTLS\r\n")
	e.line()
	<-e.cmdByte
	e.send("c CAPABILITY\r\nd LOGOUT\r\n")
	if l := e.line(); strings.Contains(l, "STARTTLS") || !strings.HasPrefix(l, "* CAPABILITY") {
		t.Fatalf("capability after TLS %q", l)
	}
	e.client.Close()
	e.wait()
}

// TestStarttlsDataThroughput measures a 16 MiB message through
// ucspi-starttls after the switch (line-wise relay of DATA).
func TestStarttlsDataThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	app := filepath.Join(t.TempDir(), "sink.sh")
	os.WriteFile(app, []byte("#!/bin/sh\nprintf '220 sink\\r\\n'\nread l; printf '250 ok\\r\\n'\nread l; printf '354 go\\r\\n'\ncat >/dev/null\n"), 0o755)
	e := startDouble(t, false, []string{"UCSPITLS="}, "smtp", app)
	e.line()
	e.send("STARTTLS\r\n")
	e.line()
	<-e.cmdByte
	e.send("NOOP\r\nDATA\r\n")
	e.line()
	e.line()
	line := strings.Repeat("x", 78) + "\r\n"
	block := []byte(strings.Repeat(line, 1<<16/len(line)))
	total := 0
	start := time.Now()
	for total < 16<<20 {
		n, err := e.client.Write(block)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	e.client.(*net.UnixConn).CloseWrite()
	e.rest()
	e.wait()
	d := time.Since(start)
	t.Logf("DATA through ucspi-starttls: %d bytes in %v = %.0f MB/s", total, d, float64(total)/d.Seconds()/1e6)
}

// TestStarttlsDoc: the doc's synopsis is the usage line, and every option
// -h prints is documented.
func TestStarttlsDoc(t *testing.T) {
	r := run(t, baseEnv(), "", bin("ucspi-starttls"), "-h")
	doc, err := os.ReadFile("../doc/ucspi-starttls.md")
	if err != nil {
		t.Fatal(err)
	}
	usage := strings.TrimPrefix(lines(r.Stdout)[0], "usage: ")
	if !strings.Contains(string(doc), "\n    "+usage+"\n") {
		t.Fatalf("doc synopsis is not %q", usage)
	}
	for _, l := range lines(r.Stdout)[1:] {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "-") {
			if !strings.Contains(string(doc), "- `"+f[0]) {
				t.Errorf("option %s not in doc/ucspi-starttls.md", f[0])
			}
		}
	}
}
