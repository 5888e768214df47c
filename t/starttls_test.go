package t

// Black-box tests of ucspi-starttls (server mode) in the real chain:
//
//	tcpserver -1 127.0.0.1 0 tlsd -n [tlsd options] ucspi-starttls [-m] proto prog...
//
// tlsd -n spawns the real engine (tlswrap) and a key holder and execs
// ucspi-starttls with SSLCTLFD/SSLREADFD/SSLWRITEFD. The clients are real
// ones (openssl s_client, gnutls-cli, swaks) or Go code doing the
// STARTTLS dialogue by hand, byte for byte, and then a real TLS handshake
// with crypto/tls. Every case waits for tcpserver's end line of its
// connection (ucspi-starttls's exit code) and then checks /proc: no
// process of that connection (app, engine, key holder — found by their
// TCPREMOTEPORT) is left.
//
// One case keeps a stand-in for the engine (TestStarttlsBadReport): a
// malformed report is something the real engine never writes.

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stServe runs tcpserver -1 -c 100 127.0.0.1 0 tlsd args... with the test
// PKI's server pair and env; args start with tlsd's own options and -n.
func stServe(t *testing.T, env []string, args ...string) (*server, string) {
	t.Helper()
	dir := certDir(t)
	return serve(t, tlsdEnv(dir, env...), append([]string{"-c", "100", "127.0.0.1", "0", "tlsd"}, args...)...), dir
}

// stClient is one connection to the chain: cleartext first, TLS after
// startTLS.
type stClient struct {
	t    *testing.T
	s    *server
	raw  *net.TCPConn
	conn net.Conn // raw, then the *tls.Conn
	rd   *bufio.Reader
	port int // our local port: the chain's TCPREMOTEPORT
}

func stDial(t *testing.T, s *server) *stClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", s.Addr, err)
	}
	t.Cleanup(func() { c.Close() })
	raw := c.(*net.TCPConn)
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	return &stClient{t: t, s: s, raw: raw, conn: raw, rd: bufio.NewReader(raw),
		port: raw.LocalAddr().(*net.TCPAddr).Port}
}

func (c *stClient) send(s string) {
	c.t.Helper()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		c.t.Fatalf("write %.60q: %v", s, err)
	}
}

// line reads one CRLF line (returned without it).
func (c *stClient) line() string {
	c.t.Helper()
	l, err := c.rd.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q) local %v remote %v; log:\n%s", err, l, c.raw.LocalAddr(), c.raw.RemoteAddr(), c.s.Stderr)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("line %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

// reply reads one SMTP reply: all its lines.
func (c *stClient) reply() []string {
	c.t.Helper()
	var ls []string
	for i := 0; i < 100; i++ {
		l := c.line()
		ls = append(ls, l)
		if len(l) < 4 || l[3] == ' ' {
			return ls
		}
	}
	c.t.Fatal("reply too long")
	return nil
}

// rest reads until EOF and returns what came; a reset counts as the end.
func (c *stClient) rest() string {
	c.t.Helper()
	b, err := io.ReadAll(c.rd)
	if err != nil && !isReset(err) {
		c.t.Fatalf("read to EOF: %v (got %q)", err, b)
	}
	return string(b)
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}

// startTLS is the client's side of the switch, right after the ready
// reply: nothing may have come after that reply (a queued cleartext line
// would be read as TLS data or, worse, as the first TLS reply), and the
// ClientHello goes out at once.
func (c *stClient) startTLS(cfg *tls.Config) tls.ConnectionState {
	c.t.Helper()
	if n := c.rd.Buffered(); n > 0 {
		b, _ := c.rd.Peek(n)
		c.t.Fatalf("%d cleartext bytes after the ready reply: %q", n, b)
	}
	tc := tls.Client(c.raw, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v; log:\n%s", err, c.s.Stderr)
	}
	c.conn, c.rd = tc, bufio.NewReader(tc)
	return tc.ConnectionState()
}

// pid is the pid tcpserver logged for this connection: ucspi-starttls's
// (tlsd execs it).
func (c *stClient) pid() string {
	c.t.Helper()
	m := waitLog(c.t, c.s, `accept conn=\d+ ip=127\.0\.0\.1 port=`+strconv.Itoa(c.port)+` `)
	return strings.TrimPrefix(strings.Fields(m)[1], "conn=")
}

// end closes our side, waits for tcpserver's end line of this connection
// and returns the exit code; then no process of the connection may be
// left.
func (c *stClient) end() int {
	c.t.Helper()
	pid := c.pid()
	c.raw.Close()
	m := waitLog(c.t, c.s, `tcpserver: info: end conn=`+pid+` ip=\S+ port=\d+ status=\d+`)
	code, _ := strconv.Atoi(m[strings.LastIndexByte(m, '=')+1:])
	noLeftovers(c.t, c.port)
	return code
}

// noLeftovers waits (at most 8 s: the engine may wait 5 s for a peer's
// close) until no process has TCPREMOTEPORT=port in its environment:
// ucspi-starttls, both apps, the engine and the key holder all carry it.
func noLeftovers(t *testing.T, port int) {
	t.Helper()
	mark := []byte("\x00TCPREMOTEPORT=" + strconv.Itoa(port) + "\x00")
	left := func() []string {
		var l []string
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			if _, err := strconv.Atoi(d.Name()); err != nil {
				continue
			}
			env, err := os.ReadFile("/proc/" + d.Name() + "/environ")
			if err != nil || !bytes.Contains(append([]byte{0}, env...), mark) {
				continue
			}
			comm, _ := os.ReadFile("/proc/" + d.Name() + "/comm")
			l = append(l, d.Name()+":"+strings.TrimSpace(string(comm)))
		}
		return l
	}
	if !waitFor(hangLimit, func() bool { return len(left()) == 0 }) {
		t.Errorf("processes of the connection from port %d still running: %v", port, left())
	}
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

// TestStarttlsSMTPSwitch: the whole opportunistic dialogue through the
// real engine. STARTTLS is advertised once (the app's own is stripped);
// the ClientHello, sent the moment the 220 arrives, reaches the engine;
// the fresh app's multi-line greeting is swallowed; the report's SSL_*
// variables reach it and UCSPITLS and the UCSPI-TLS fds do not; STARTTLS
// is neither advertised nor accepted inside TLS; the cleartext app ran
// once and the TLS app once.
func TestStarttlsSMTPSwitch(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
	c := stDial(t, s)
	g := c.reply()
	if len(g) != 2 || !strings.HasPrefix(g[0], "220-test.example") {
		t.Fatalf("greeting %q", g)
	}
	c.send("EHLO client.example\r\n")
	r := c.reply()
	kw := checkEHLO(t, r)
	if r[0] != "250-test.example hello cleartext" || count(kw, "STARTTLS") != 1 || count(kw, "AUTH") != 1 {
		t.Fatalf("EHLO before TLS %q", r)
	}
	c.send("XENV\r\n")
	if r := c.reply(); r[0] != "250 SSL_PROTOCOL=unset SSL_CIPHER=unset SSL_TLS_SNI_SERVERNAME=unset UCSPITLS= SSLCTLFD=unset" {
		t.Fatalf("cleartext app env: %q", r)
	}
	c.send("STARTTLS\r\n")
	if l := c.line(); l != "220 2.0.0 Ready to start TLS" {
		t.Fatalf("STARTTLS reply %q", l)
	}
	st := c.startTLS(localhostTLS(t))
	// Inside TLS: the client's EHLO is the first thing the fresh app
	// answers; no greeting comes first.
	c.send("EHLO client.example\r\n")
	r = c.reply()
	kw = checkEHLO(t, r)
	if r[0] != "250-test.example hello TLSv1.3" || count(kw, "STARTTLS") != 0 || count(kw, "AUTH") != 1 {
		t.Fatalf("EHLO reply after TLS %q", r)
	}
	c.send("XENV\r\n")
	want := "250 SSL_PROTOCOL=TLSv1.3 SSL_CIPHER=" + tls.CipherSuiteName(st.CipherSuite) +
		" SSL_TLS_SNI_SERVERNAME=localhost UCSPITLS=unset SSLCTLFD=unset"
	if r := c.reply(); r[0] != want {
		t.Fatalf("fresh app env: %q, want %q", r, want)
	}
	c.send("STARTTLS\r\n")
	if r := c.reply(); r[0] != "554 5.5.1 Error: TLS already active" {
		t.Fatalf("second STARTTLS: %q", r)
	}
	c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
	c.reply()
	c.reply()
	if r := c.reply(); r[0] != "354 go ahead" {
		t.Fatalf("DATA: %q", r)
	}
	c.send("Subject: x\r\n\r\nSTARTTLS\r\n..dot\r\n.\r\n")
	if r := c.reply(); r[0] != "250 2.0.0 got 4 lines" {
		t.Fatalf("end of data: %q", r)
	}
	c.send("QUIT\r\n")
	if r := c.reply(); r[0] != "221 2.0.0 bye" {
		t.Fatalf("QUIT: %q", r)
	}
	if out := c.rest(); out != "" {
		t.Fatalf("after QUIT: %q", out)
	}
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, s.Stderr)
	}
	log := s.Stderr.String()
	if !regexp.MustCompile(`ucspi-starttls: info: starttls conn=\d+ ip=127\.0\.0\.1 port=\d+ proto=smtp result=tls\n`).MatchString(log) ||
		strings.Count(log, "smtp.sh: start cleartext\n") != 1 || strings.Count(log, "smtp.sh: start TLSv1.3\n") != 1 {
		t.Fatalf("log:\n%s", log)
	}
}

// TestStarttlsHelloRace: a client whose ClientHello follows the 220 at
// once always gets TLS — 20 connections at the same time.
func TestStarttlsHelloRace(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
	errs := make(chan string, 20)
	for i := 0; i < 20; i++ {
		go func() {
			c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			// Byte by byte, so that nothing beyond a line is consumed
			// before the ClientHello goes out.
			readTo := func(end string) error {
				var got []byte
				b := make([]byte, 1)
				for !bytes.HasSuffix(got, []byte(end)) {
					if _, err := c.Read(b); err != nil || len(got) > 200 {
						return errors.New("cleartext: " + strconv.Quote(string(got)))
					}
					got = append(got, b[0])
				}
				return nil
			}
			if err := readTo("\r\n220 pid "); err != nil {
				errs <- err.Error()
				return
			}
			if err := readTo("\r\n"); err != nil {
				errs <- err.Error()
				return
			}
			c.Write([]byte("STARTTLS\r\n"))
			if err := readTo("220 2.0.0 Ready to start TLS\r\n"); err != nil {
				errs <- err.Error()
				return
			}
			tc := tls.Client(c, localhostTLS(t))
			if err := tc.Handshake(); err != nil {
				errs <- "handshake: " + err.Error()
				return
			}
			tc.Write([]byte("QUIT\r\n"))
			out, _ := io.ReadAll(tc)
			if string(out) != "221 2.0.0 bye\r\n" {
				errs <- "after TLS: " + strconv.Quote(string(out))
				return
			}
			errs <- ""
		}()
	}
	for i := 0; i < 20; i++ {
		if e := <-errs; e != "" {
			t.Errorf("connection: %s", e)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s", s.Stderr)
	}
}

// clientHello returns the bytes of a Go TLS ClientHello for localhost.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go tls.Client(a, &tls.Config{ServerName: "localhost", RootCAs: caPool(t)}).Handshake()
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1<<16)
	n, err := b.Read(buf)
	if err != nil || n < 5 || buf[0] != 0x16 {
		t.Fatalf("no ClientHello: %v %q", err, buf[:n])
	}
	return buf[:n]
}

// TestStarttlsInjection: the command-injection vectors of doc/design.md
// §5.4, each sent as one write, and a ClientHello sent in the same write as the
// STARTTLS line (the same case: bytes the server had not asked for yet).
// ucspi-starttls refuses STARTTLS in cleartext and ends; the injected
// command is never answered, no 'Y' reaches the engine (it never touches
// the connection, so no TLS byte comes back), exit 1, a warning with the
// peer, no process left.
func TestStarttlsInjection(t *testing.T) {
	hello := string(clientHello(t))
	cases := []struct {
		name, proto, prog, vector, want, marker string
	}{
		{"smtp-rset", "smtp", "smtp.sh", "STARTTLS\r\nRSET\r\n",
			"554 5.5.1 Error: commands pipelined after STARTTLS, closing connection\r\n", "RSET-ANSWERED"},
		{"smtp-ehlo", "smtp", "smtp.sh", "STARTTLS\r\nEHLO commandinjectiontester\r\n",
			"554 5.5.1 Error: commands pipelined after STARTTLS, closing connection\r\n", "250"},
		{"smtp-clienthello", "smtp", "smtp.sh", "STARTTLS\r\n" + hello,
			"554 5.5.1 Error: commands pipelined after STARTTLS, closing connection\r\n", "220 2.0.0"},
		{"imap", "imap", "imap.sh", "A STARTTLS\r\nXYZAB NOOP\r\n",
			"* BYE Commands pipelined after STARTTLS, closing connection\r\nA NO STARTTLS refused\r\n", "XYZAB"},
		{"imap-clienthello", "imap", "imap.sh", "A STARTTLS\r\n" + hello,
			"* BYE Commands pipelined after STARTTLS, closing connection\r\nA NO STARTTLS refused\r\n", "Begin TLS"},
		{"pop3", "pop3", "pop3.sh", "STLS\r\nCAPA\r\n",
			"-ERR Commands pipelined after STLS, closing connection\r\n", "UIDL"},
		{"pop3-clienthello", "pop3", "pop3.sh", "STLS\r\n" + hello,
			"-ERR Commands pipelined after STLS, closing connection\r\n", "Begin TLS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", tc.proto, testdata(tc.prog))
			c := stDial(t, s)
			c.line()
			if tc.proto == "smtp" {
				c.line()
			}
			c.send(tc.vector)
			out := c.rest()
			if out != tc.want || strings.Contains(out, tc.marker) {
				t.Fatalf("got %q, want %q (log:\n%s)", out, tc.want, s.Stderr)
			}
			if code := c.end(); code != 1 {
				t.Fatalf("exit %d, want 1", code)
			}
			if !regexp.MustCompile(`ucspi-starttls: warning: refuse conn=\d+ ip=127\.0\.0\.1 port=\d+ err="starttls refused: commands pipelined after it"\n`).MatchString(s.Stderr.String()) {
				t.Fatalf("log:\n%s", s.Stderr)
			}
			if strings.Contains(s.Stderr.String(), "tlswrap") {
				t.Fatalf("the engine did something:\n%s", s.Stderr)
			}
		})
	}
}

// TestStarttlsInjectionInsideTLS: the injection vectors sent inside TLS
// (where STARTTLS is refused anyway) are answered in order, as ordinary
// pipelined commands: nothing is lost or reordered by the refusal.
func TestStarttlsInjectionInsideTLS(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
	c := stDial(t, s)
	c.reply()
	c.send("STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("STARTTLS\r\nRSET\r\nQUIT\r\n")
	for _, want := range []string{"554 5.5.1 Error: TLS already active", "250 2.0.0 RSET-ANSWERED", "221 2.0.0 bye"} {
		if l := c.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestStarttlsNoBytesCross: a reply the cleartext app writes at the moment
// of the switch never reaches the client (response injection): nothing
// follows the 220 in cleartext, and the first TLS reply is the fresh app's
// answer to the client's first TLS command. The app writes its reply
// after the client has had the 220 and before it starts the handshake,
// told so through a FIFO, so the reply is at the proxy during the switch
// on every run; it writes one more when its input ends.
func TestStarttlsNoBytesCross(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(dir+"/go", 0o600); err != nil {
		t.Fatal(err)
	}
	s, _ := stServe(t, []string{"UCSPITLS=", "LATE_DIR=" + dir}, "-n", "ucspi-starttls", "smtp", testdata("late.sh"))
	for i := 0; i < 3; i++ {
		os.Remove(dir + "/written")
		c := stDial(t, s)
		c.line()
		c.send("NOOP\r\n")
		if l := c.line(); l != "250 ok" {
			t.Fatalf("NOOP: %q", l)
		}
		c.send("STARTTLS\r\n")
		if l := c.line(); l != "220 2.0.0 Ready to start TLS" {
			t.Fatalf("STARTTLS: %q", l)
		}
		lateWrite(t, dir)
		c.startTLS(localhostTLS(t))
		c.send("EHLO x\r\n")
		if r := c.reply(); len(r) != 1 || r[0] != "250 fresh TLSv1.3" {
			t.Fatalf("first reply inside TLS: %q", r)
		}
		c.send("QUIT\r\n")
		if out := c.line() + c.rest(); out != "221 bye" {
			t.Fatalf("QUIT: %q", out)
		}
		if code := c.end(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
	if strings.Contains(s.Stderr.String(), "INJECTED") {
		t.Fatalf("log:\n%s", s.Stderr)
	}
}

// lateWrite tells late.sh to write its reply now, through the FIFO
// dir/go, and waits until the reply is in the app's pipe.
func lateWrite(t *testing.T, dir string) {
	t.Helper()
	var f *os.File
	var err error
	// The app may not have opened the FIFO yet: open for writing fails
	// (ENXIO) until a reader has it open.
	waitFor(5*time.Second, func() bool {
		f, err = os.OpenFile(dir+"/go", os.O_WRONLY|syscall.O_NONBLOCK, 0)
		return err == nil
	})
	if err != nil {
		t.Fatalf("the app never opened its FIFO: %v", err)
	}
	f.WriteString("go\n")
	f.Close()
	if !waitFor(hangLimit, func() bool { return fileExists(dir + "/written") }) {
		t.Fatal("the app did not write its late reply")
	}
}

// TestStarttlsMandatory: -m and UCSPITLS=!: 530 to all but NOOP, EHLO,
// STARTTLS, QUIT; AUTH hidden in EHLO until TLS; everything open after.
func TestStarttlsMandatory(t *testing.T) {
	for _, mode := range []struct {
		env  string
		args []string
	}{{"UCSPITLS=!", nil}, {"UCSPITLS=", []string{"-m"}}, {"X=1", []string{"-m"}}} {
		t.Run(mode.env+strings.Join(mode.args, ""), func(t *testing.T) {
			s, _ := stServe(t, []string{mode.env}, append(append([]string{"-n", "ucspi-starttls"}, mode.args...), "smtp", testdata("smtp.sh"))...)
			c := stDial(t, s)
			c.reply()
			for _, cmd := range []string{"HELO x", "MAIL FROM:<a@b.test>", "AUTH PLAIN AGFAYg==", "RSET", "VRFY x", "XENV", "DATA"} {
				c.send(cmd + "\r\n")
				if r := c.reply(); r[0] != "530 5.7.0 Must issue a STARTTLS command first" {
					t.Fatalf("%s: %q", cmd, r)
				}
			}
			c.send("NOOP\r\n")
			if r := c.reply(); r[0] != "250 2.0.0 ok" {
				t.Fatalf("NOOP: %q", r)
			}
			c.send("EHLO x\r\n")
			kw := checkEHLO(t, c.reply())
			if count(kw, "AUTH") != 0 || count(kw, "STARTTLS") != 1 {
				t.Fatalf("EHLO keywords in mandatory mode: %q", kw)
			}
			c.send("STARTTLS\r\n")
			c.line()
			c.startTLS(localhostTLS(t))
			c.send("EHLO x\r\nAUTH PLAIN AGFAYg==\r\nQUIT\r\n")
			kw = checkEHLO(t, c.reply())
			if count(kw, "AUTH") != 1 || count(kw, "STARTTLS") != 0 {
				t.Fatalf("EHLO keywords after TLS: %q", kw)
			}
			if r := c.reply(); r[0] != "235 2.7.0 authenticated" {
				t.Fatalf("AUTH after TLS: %q", r)
			}
			c.reply()
			if code := c.end(); code != 0 {
				t.Fatalf("exit %d", code)
			}
		})
	}
}

// cvmEnv is the environment of mailfront's cvm-authenticate plugin (and
// pop3front-auth, imapfront-auth) with cvm-pwfile over a one-user
// password file: alice, password "secret".
func cvmEnv(t *testing.T) []string {
	t.Helper()
	need(t, "/usr/bin/cvm-pwfile")
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("alice:secret:65534:65534:Alice:/:/bin/false\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"CVM_SASL_PLAIN=/usr/bin/cvm-pwfile", "CVM_SASL_LOGIN=/usr/bin/cvm-pwfile", "CVM_PWFILE_PATH=" + pw}
}

// TestStarttlsSubmissionCVM: submission with -m in front of mailfront with
// real authentication (cvm-authenticate + cvm-pwfile). Before TLS: MAIL
// and AUTH get 530 and AUTH is not in EHLO; after TLS AUTH is listed and
// swaks authenticates and sends; a wrong password is refused.
func TestStarttlsSubmissionCVM(t *testing.T) {
	need(t, "swaks", "/usr/sbin/mailfront")
	s, dir := stServe(t, cvmEnv(t), "-n", "ucspi-starttls", "-m", "smtp",
		"/usr/sbin/mailfront", "smtp", "echo", "cvm-authenticate", "accept")
	c := stDial(t, s)
	if r := c.reply(); !strings.HasPrefix(r[0], "220 ") || !strings.HasSuffix(r[0], " mailfront ESMTP") {
		t.Fatalf("greeting %q", r)
	}
	c.send("EHLO client.test\r\n")
	if kw := checkEHLO(t, c.reply()); count(kw, "AUTH") != 0 || count(kw, "STARTTLS") != 1 {
		t.Fatalf("cleartext EHLO keywords %q", kw)
	}
	for _, cmd := range []string{"MAIL FROM:<a@b.test>", "AUTH PLAIN AGFsaWNlAHNlY3JldA=="} {
		c.send(cmd + "\r\n")
		if r := c.reply(); r[0] != "530 5.7.0 Must issue a STARTTLS command first" {
			t.Fatalf("%s: %q", cmd, r)
		}
	}
	c.send("STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("EHLO client.test\r\n")
	kw := checkEHLO(t, c.reply())
	if count(kw, "AUTH") != 1 || count(kw, "STARTTLS") != 0 {
		t.Fatalf("EHLO keywords after TLS %q", kw)
	}
	c.send("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n")
	if r := c.reply(); !strings.HasPrefix(r[0], "235 ") {
		t.Fatalf("AUTH after TLS: %q; log:\n%s", r, s.Stderr)
	}
	c.send("QUIT\r\n")
	c.reply()
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	swaks := func(pass string) result {
		return run(t, os.Environ(), "", "swaks", "--server", s.Addr, "--tls", "--tls-verify", "--tls-ca-path", dir+"/ca.crt",
			"--ehlo", "localhost", "-a", "PLAIN", "-au", "alice", "-ap", pass, "--to", "c@d.test", "--from", "a@b.test")
	}
	r := swaks("secret")
	if r.Code != 0 || !strings.Contains(r.Stdout, "<~  235 ") || !strings.Contains(r.Stdout, "<~  250 Received ") {
		t.Fatalf("swaks exit %d:\n%s%s\nlog:\n%s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
	if !strings.Contains(s.Stderr.String(), "SASL AUTH PLAIN username=alice") {
		t.Fatalf("mailfront did not log the login:\n%s", s.Stderr)
	}
	if r := swaks("wrong"); r.Code != 28 {
		t.Fatalf("wrong password: swaks exit %d, want 28:\n%s", r.Code, r.Stdout)
	}
}

// TestStarttlsBadInput: over-long lines (600 bytes, 2 MB), NUL, bare CR,
// bare LF, STARTTLS with an argument, binary, and EOF in the middle of a
// command, through the real chain.
func TestStarttlsBadInput(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
	c := stDial(t, s)
	c.reply()
	steps := []struct{ in, want string }{
		{strings.Repeat("A", 600) + "\r\n", "500 5.5.2 Line too long"},
		{strings.Repeat("B", 2<<20) + "\r\n", "500 5.5.2 Line too long"},
		{"NOOP\x00\r\n", "500 5.5.2 Syntax error: NUL or bare CR in command"},
		{"NO\rOP\r\n", "500 5.5.2 Syntax error: NUL or bare CR in command"},
		{"STARTTLS now\r\n", "501 5.5.4 Syntax error: STARTTLS takes no parameters"},
		{"\xff\xfe binary\r\n", "502 5.5.1 unknown \xff\xfe"},
		{"NOOP\n", "250 2.0.0 ok"},
		{"\n", "502 5.5.1 unknown "},
	}
	for _, st := range steps {
		c.send(st.in)
		if r := c.reply(); r[0] != st.want {
			t.Fatalf("%.40q: got %q, want %q", st.in, r, st.want)
		}
	}
	// EOF in the middle of a command: the app gets EOF, exits, is reaped.
	c.send("NOO")
	c.raw.CloseWrite()
	if out := c.rest(); out != "" {
		t.Fatalf("after EOF: %q", out)
	}
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, s.Stderr)
	}

	// The same inside TLS.
	c = stDial(t, s)
	c.reply()
	c.send("STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	for _, st := range steps {
		if strings.HasPrefix(st.in, "STARTTLS") {
			st.want = "554 5.5.1 Error: TLS already active"
		}
		c.send(st.in)
		if r := c.reply(); r[0] != st.want {
			t.Fatalf("TLS %.40q: got %q, want %q", st.in, r, st.want)
		}
	}
	c.send("NOO")
	c.conn.(*tls.Conn).CloseWrite()
	if out := c.rest(); out != "" {
		t.Fatalf("after EOF: %q", out)
	}
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d; log:\n%s", code, s.Stderr)
	}
}

// TestStarttlsNotOffered: without UCSPITLS (or with "-") STARTTLS is not
// offered and is answered 454; the engine and the key holder are told at
// once (SSLCTLFD closed) and do not wait for the session to end.
func TestStarttlsNotOffered(t *testing.T) {
	for _, env := range []string{"X=1", "UCSPITLS=-"} {
		s, _ := stServe(t, []string{env}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
		c := stDial(t, s)
		c.reply()
		c.send("EHLO x\r\n")
		if kw := checkEHLO(t, c.reply()); count(kw, "STARTTLS") != 0 {
			t.Fatalf("%s: offered: %q", env, kw)
		}
		c.send("STARTTLS\r\n")
		if r := c.reply(); r[0] != "454 4.7.0 TLS not available" {
			t.Fatalf("%s: STARTTLS: %q", env, r)
		}
		// Only ucspi-starttls and the app are left while the session runs.
		var comms []string
		waitFor(5*time.Second, func() bool {
			comms = connProcs(c.port)
			return len(comms) == 2
		})
		if len(comms) != 2 || strings.Contains(strings.Join(comms, " "), "tlswrap") {
			t.Fatalf("%s: processes during the session: %q", env, comms)
		}
		c.send("QUIT\r\n")
		c.reply()
		if code := c.end(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	}
}

// connProcs lists the comm of each live process of the connection from
// port (TCPREMOTEPORT in its environment).
func connProcs(port int) []string {
	mark := []byte("\x00TCPREMOTEPORT=" + strconv.Itoa(port) + "\x00")
	var l []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		env, err := os.ReadFile("/proc/" + d.Name() + "/environ")
		if err != nil || !bytes.Contains(append([]byte{0}, env...), mark) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + d.Name() + "/comm")
		l = append(l, strings.TrimSpace(string(comm)))
	}
	return l
}

// TestStarttlsFailures: the ways a session can fail around the switch,
// each with its reply, exit code, log line and no process left.
func TestStarttlsFailures(t *testing.T) {
	t.Run("handshake-garbage", func(t *testing.T) {
		// Not TLS after the 220: the engine fails the handshake and
		// closes SSLCTLFD with no report; the app is not restarted.
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
		c := stDial(t, s)
		c.reply()
		c.send("STARTTLS\r\n")
		c.line()
		c.send("GARBAGE GARBAGE GARBAGE\r\n")
		c.rest()
		if code := c.end(); code != 98 {
			t.Fatalf("exit %d, want 98; log:\n%s", code, s.Stderr)
		}
		log := s.Stderr.String()
		if !regexp.MustCompile(`ucspi-starttls: warning: handshake conn=\d+ ip=127\.0\.0\.1 port=\d+ err="tls handshake failed: no report from the engine"\n`).MatchString(log) ||
			strings.Contains(log, "smtp.sh: start TLS") || strings.Count(log, "smtp.sh: start") != 1 {
			t.Fatalf("log:\n%s", log)
		}
	})
	t.Run("handshake-deadline", func(t *testing.T) {
		// A client that never sends its ClientHello, tlsd -K 300.
		s, _ := stServe(t, []string{"UCSPITLS="}, "-K", "300", "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
		c := stDial(t, s)
		c.reply()
		c.send("STARTTLS\r\n")
		c.line()
		c.rest() // fails at stDial's deadline when -K does not end it
		if code := c.end(); code != 98 {
			t.Fatalf("exit %d, want 98; log:\n%s", code, s.Stderr)
		}
		if !strings.Contains(s.Stderr.String(), `ip=127.0.0.1 port=`+strconv.Itoa(c.port)+` err="tls handshake failed: no report from the engine"`) {
			t.Fatalf("log:\n%s", s.Stderr)
		}
	})
	t.Run("report-timeout", func(t *testing.T) {
		// No -K: ucspi-starttls's own -t ends the wait for the report, and
		// the engine, still waiting for a ClientHello, must go too.
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "-t", "1", "smtp", testdata("smtp.sh"))
		c := stDial(t, s)
		c.reply()
		c.send("STARTTLS\r\n")
		c.line()
		c.rest()
		if code := c.end(); code != 98 {
			t.Fatalf("exit %d, want 98; log:\n%s", code, s.Stderr)
		}
		if !strings.Contains(s.Stderr.String(), `ip=127.0.0.1 port=`+strconv.Itoa(c.port)+` err="tls handshake failed: timed out waiting for the handshake report"`) {
			t.Fatalf("log:\n%s", s.Stderr)
		}
	})
	t.Run("silent-client", func(t *testing.T) {
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "-t", "1", "smtp", testdata("smtp.sh"))
		c := stDial(t, s)
		c.reply()
		if out := c.rest(); out != "421 4.4.2 Timeout, closing connection\r\n" {
			t.Fatalf("got %q", out)
		}
		if code := c.end(); code != 1 {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(s.Stderr.String(), `ip=127.0.0.1 port=`+strconv.Itoa(c.port)+` err="timeout in the cleartext phase"`) {
			t.Fatalf("log:\n%s", s.Stderr)
		}
	})
	t.Run("idle-after-command", func(t *testing.T) {
		// The deadline restarts with each command and closes a client
		// that goes idle later in the cleartext phase too.
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "-t", "1", "smtp", testdata("smtp.sh"))
		c := stDial(t, s)
		c.reply()
		c.send("EHLO client.test\r\n")
		c.reply()
		c.send("NOOP\r\n")
		c.reply()
		if out := c.rest(); out != "421 4.4.2 Timeout, closing connection\r\n" {
			t.Fatalf("got %q", out)
		}
		if code := c.end(); code != 1 {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(s.Stderr.String(), `ip=127.0.0.1 port=`+strconv.Itoa(c.port)+` err="timeout in the cleartext phase"`) {
			t.Fatalf("log:\n%s", s.Stderr)
		}
	})
	t.Run("silent-prog", func(t *testing.T) {
		app := filepath.Join(t.TempDir(), "silent.sh")
		os.WriteFile(app, []byte("#!/bin/sh\nexec sleep 60\n"), 0o755)
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "-t", "1", "smtp", app)
		c := stDial(t, s)
		if out := c.rest(); out != "421 4.4.2 Timeout, closing connection\r\n" {
			t.Fatalf("got %q", out)
		}
		if code := c.end(); code != 1 {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("silent-prog-after-tls", func(t *testing.T) {
		// The restarted app never greets: the timeout ends it inside TLS.
		// (The cleartext one waits with "read l": an app that closes its
		// output, as "cat >/dev/null" would, ends the session.)
		app := filepath.Join(t.TempDir(), "silent.sh")
		os.WriteFile(app, []byte("#!/bin/sh\n[ -n \"$SSL_PROTOCOL\" ] && exec sleep 60\nprintf '220 x\\r\\n'\nread l\n"), 0o755)
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "-t", "1", "smtp", app)
		c := stDial(t, s)
		c.line()
		c.send("STARTTLS\r\n")
		c.line()
		c.startTLS(localhostTLS(t))
		if out := c.rest(); out != "421 4.4.2 Timeout, closing connection\r\n" {
			t.Fatalf("got %q", out)
		}
		if code := c.end(); code != 1 {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("dying-prog", func(t *testing.T) {
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", "/bin/false")
		c := stDial(t, s)
		if out := c.rest(); out != "421 4.3.0 Service not available, closing connection\r\n" {
			t.Fatalf("got %q", out)
		}
		if code := c.end(); code != 1 {
			t.Fatalf("exit %d, want false's 1", code)
		}
		if !strings.Contains(s.Stderr.String(), `ip=127.0.0.1 port=`+strconv.Itoa(c.port)+` err="prog ended before its greeting"`) {
			t.Fatalf("log:\n%s", s.Stderr)
		}
	})
	t.Run("prog-dies-in-tls", func(t *testing.T) {
		app := filepath.Join(t.TempDir(), "die.sh")
		os.WriteFile(app, []byte("#!/bin/sh\nprintf '220 x\\r\\n'\n[ -n \"$SSL_PROTOCOL\" ] && exit 3\nread l\n"), 0o755)
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", app)
		c := stDial(t, s)
		c.line()
		c.send("STARTTLS\r\n")
		c.line()
		c.startTLS(localhostTLS(t))
		if out := c.rest(); out != "" {
			t.Fatalf("got %q", out)
		}
		if code := c.end(); code != 3 {
			t.Fatalf("exit %d, want the app's 3", code)
		}
	})
	t.Run("client-gone-in-tls", func(t *testing.T) {
		s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
		c := stDial(t, s)
		c.reply()
		c.send("STARTTLS\r\n")
		c.line()
		c.startTLS(localhostTLS(t))
		c.send("NOOP\r\n")
		c.reply()
		if code := c.end(); code != 0 {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("missing-prog", func(t *testing.T) {
		r := run(t, baseEnv(), "", bin("ucspi-starttls"), "smtp", "/nonexistent/prog")
		if r.Code != 127 || !strings.Contains(r.Stderr, fatalErr(127, "unable to run /nonexistent/prog")) {
			t.Fatalf("%+v", r)
		}
	})
	t.Run("usage", func(t *testing.T) {
		r := run(t, baseEnv("UCSPITLS=!"), "", bin("ucspi-starttls"), "smtp", "/bin/cat")
		if r.Code != 100 || !strings.Contains(r.Stderr, "SSLCTLFD not set") {
			t.Fatalf("mandatory without SSLCTLFD: %+v", r)
		}
		r = run(t, baseEnv(), "", bin("ucspi-starttls"), "-h")
		if r.Code != 0 || !strings.HasPrefix(r.Stdout, "usage: ucspi-starttls ") {
			t.Fatalf("-h: %+v", r)
		}
	})
}

// TestStarttlsBadReport keeps a stand-in for the engine: the real engine
// always writes a well-formed report or nothing, so a bad one can only
// come from a double (or an engine that no longer runs the suite's code).
// A report cut short by EOF, one naming a variable no engine sets, one
// with a control character in a value: each is a failed switch (98),
// with a warning that names the engine as the cause, the client's
// connection shut down and the TLS app never started.
func TestStarttlsBadReport(t *testing.T) {
	for _, tc := range []struct{ name, report, why string }{
		{"truncated", "SSL_PROTOCOL=TLSv1.3\x00garbage", "handshake report truncated"},
		{"name", "SSL_PROTOCOL=TLSv1.3\x00PATH=/tmp/evil\x00\x00", "handshake report names a variable no engine sets"},
		{"value", "SSL_PROTOCOL=TLSv1.3\x00SSL_CIPHER=X\nRELAYCLIENT=\x00\x00", "handshake report value too long or with a control character"},
	} {
		t.Run(tc.name, func(t *testing.T) { badReport(t, tc.report, tc.why) })
	}
}

func badReport(t *testing.T, report, why string) {
	cl, srv := socketpair(t)
	ctlMine, ctlTheirs := socketpair(t)
	inR, inW, _ := os.Pipe()
	outR, outW, _ := os.Pipe()
	defer func() {
		for _, f := range []*os.File{cl, ctlMine, inR, inW, outR, outW} {
			f.Close()
		}
	}()
	stderr := &syncBuffer{}
	cmd := exec.Command(bin("ucspi-starttls"), "smtp", testdata("smtp.sh"))
	cmd.Env = baseEnv("UCSPITLS=", "TCPREMOTEIP=127.0.0.9", "SSLCTLFD=3", "SSLREADFD=4", "SSLWRITEFD=5")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = srv, srv, stderr
	cmd.ExtraFiles = []*os.File{ctlTheirs, inR, outW}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Only ucspi-starttls and its apps hold the connection now: its
	// shutdown reaches the client.
	srv.Close()
	ctlTheirs.Close()
	done := make(chan int, 1)
	go func() {
		cmd.Wait()
		done <- cmd.ProcessState.ExitCode()
	}()
	cl.SetDeadline(time.Now().Add(10 * time.Second))
	rd := bufio.NewReader(cl)
	for i := 0; i < 2; i++ {
		rd.ReadString('\n')
	}
	cl.Write([]byte("STARTTLS\r\n"))
	if l, _ := rd.ReadString('\n'); l != "220 2.0.0 Ready to start TLS\r\n" {
		t.Fatalf("STARTTLS: %q", l)
	}
	b := make([]byte, 1)
	ctlMine.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := ctlMine.Read(b); err != nil || b[0] != 'Y' {
		t.Fatalf("control byte %q %v", b, err)
	}
	ctlMine.Write([]byte(report))
	ctlMine.Close()
	if rest, err := io.ReadAll(rd); err != nil || len(rest) != 0 {
		t.Errorf("after the report the client got %q, %v; want EOF", rest, err)
	}
	select {
	case code := <-done:
		if code != 98 {
			t.Fatalf("exit %d, want 98; stderr %s", code, stderr)
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("ucspi-starttls did not exit; stderr %s", stderr)
	}
	want := "ucspi-starttls: warning: handshake conn=" + strconv.Itoa(cmd.Process.Pid) + " ip=127.0.0.9 port=- err=" +
		strconv.Quote("the TLS engine sent a bad handshake report: "+why) + "\n"
	if !strings.Contains(stderr.String(), want) || strings.Contains(stderr.String(), "smtp.sh: start TLS") {
		t.Fatalf("stderr %s\nwant the line %q and no TLS app", stderr, want)
	}
}

func socketpair(t *testing.T) (*os.File, *os.File) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return os.NewFile(uintptr(fds[0]), "sp0"), os.NewFile(uintptr(fds[1]), "sp1")
}

// TestStarttlsPOP3: CAPA rewriting, STLS, the TLS app's environment, a
// second STLS refused, and CAPA answered for an app without it (popa3d's
// -ERR) in mandatory mode.
func TestStarttlsPOP3(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "pop3", testdata("pop3.sh"))
	c := stDial(t, s)
	c.line()
	c.send("CAPA\r\n")
	if got := capa(c); strings.Join(got, ",") != "+OK,USER,SASL PLAIN,UIDL,STLS,." {
		t.Fatalf("CAPA: %q", got)
	}
	c.send("STLS\r\n")
	if l := c.line(); l != "+OK Begin TLS negotiation" {
		t.Fatalf("STLS: %q", l)
	}
	c.startTLS(localhostTLS(t))
	c.send("CAPA\r\n")
	if got := capa(c); strings.Join(got, ",") != "+OK,USER,SASL PLAIN,UIDL,." {
		t.Fatalf("CAPA after TLS: %q", got)
	}
	c.send("STLS\r\nXENV\r\nQUIT\r\n")
	for _, want := range []string{"-ERR TLS already active", "+OK SSL_PROTOCOL=TLSv1.3", "+OK bye"} {
		if l := c.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	s, _ = stServe(t, []string{"UCSPITLS=!", "NOCAPA=1"}, "-n", "ucspi-starttls", "pop3", testdata("pop3.sh"))
	c = stDial(t, s)
	c.line()
	c.send("CAPA\r\n")
	if got := capa(c); strings.Join(got, ",") != "+OK Capability list follows,STLS,." {
		t.Fatalf("synthesised CAPA, mandatory: %q", got)
	}
	for _, cmd := range []string{"USER a", "PASS b", "APOP a b", "AUTH PLAIN"} {
		c.send(cmd + "\r\n")
		if l := c.line(); l != "-ERR Must issue a STLS command first" {
			t.Fatalf("%s: %q", cmd, l)
		}
	}
	c.send("STLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("USER a\r\nQUIT\r\n")
	if l := c.line(); l != "+OK" {
		t.Fatalf("USER after TLS: %q", l)
	}
	c.line()
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func capa(c *stClient) []string {
	var ls []string
	for i := 0; i < 50; i++ {
		l := c.line()
		ls = append(ls, l)
		if l == "." || strings.HasPrefix(l, "-ERR") {
			break
		}
	}
	return ls
}

// TestStarttlsIMAP: capabilities in the greeting code and in * CAPABILITY,
// STARTTLS, no greeting after TLS, a second STARTTLS refused (BAD),
// mandatory LOGINDISABLED, PREAUTH.
func TestStarttlsIMAP(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "imap", testdata("imap.sh"))
	c := stDial(t, s)
	if l := c.line(); l != "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] test ready" {
		t.Fatalf("greeting %q", l)
	}
	c.send("a CAPABILITY\r\n")
	if l := c.line(); l != "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE STARTTLS" {
		t.Fatalf("capability %q", l)
	}
	c.line()
	c.send("b STARTTLS\r\n")
	if l := c.line(); l != "b OK Begin TLS negotiation now" {
		t.Fatalf("STARTTLS %q", l)
	}
	c.startTLS(localhostTLS(t))
	c.send("c CAPABILITY\r\n")
	if l := c.line(); l != "* CAPABILITY IMAP4rev1 AUTH=PLAIN IDLE" {
		t.Fatalf("capability after TLS %q", l)
	}
	c.line()
	c.send("d STARTTLS\r\ne XENV\r\nf LOGOUT\r\n")
	for _, want := range []string{"d BAD TLS already active", "* XENV SSL_PROTOCOL=TLSv1.3", "e OK done", "* BYE bye", "f OK done"} {
		if l := c.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	s, _ = stServe(t, []string{"UCSPITLS=!"}, "-n", "ucspi-starttls", "imap", testdata("imap.sh"))
	c = stDial(t, s)
	if l := c.line(); l != "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] test ready" {
		t.Fatalf("mandatory greeting %q", l)
	}
	c.send("a LOGIN user pass\r\nb AUTHENTICATE PLAIN\r\nc SELECT inbox\r\nd NOOP\r\n")
	for _, want := range []string{
		"a NO [PRIVACYREQUIRED] Must issue a STARTTLS command first",
		"b NO [PRIVACYREQUIRED] Must issue a STARTTLS command first",
		"c NO [PRIVACYREQUIRED] Must issue a STARTTLS command first",
		"d OK NOOP-ANSWERED"} {
		if l := c.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	c.send("e LOGIN {4+}\r\nuser pass\r\nf NOOP\r\n")
	for _, want := range []string{"e NO [PRIVACYREQUIRED] Must issue a STARTTLS command first", "f OK NOOP-ANSWERED"} {
		if l := c.line(); l != want {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
	c.send("g STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("h LOGIN user pass\r\n")
	if l := c.line(); l != "h OK [CAPABILITY IMAP4rev1 IDLE] logged in" {
		t.Fatalf("LOGIN after TLS: %q", l)
	}
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}

	s, _ = stServe(t, []string{"UCSPITLS=!", "PREAUTH=1"}, "-n", "ucspi-starttls", "imap", testdata("imap.sh"))
	c = stDial(t, s)
	if out := c.rest(); out != "* BYE TLS required, but the server greeted with PREAUTH\r\n" {
		t.Fatalf("PREAUTH in mandatory mode: %q", out)
	}
	if code := c.end(); code != 1 {
		t.Fatalf("exit %d", code)
	}
}

// TestStarttlsOpenSSL: openssl s_client -starttls smtp|pop3|imap verifies
// the chain's certificate for localhost. (It prints a stale pre-TLS line
// after the handshake; only its exit code and its verification lines are
// read here.)
func TestStarttlsOpenSSL(t *testing.T) {
	need(t, "openssl", "/usr/sbin/mailfront", "/usr/sbin/imapfront-auth")
	progs := map[string][]string{
		"smtp": {"/usr/sbin/mailfront", "smtp", "echo", "accept"},
		"pop3": {testdata("pop3.sh")},
		"imap": {"/usr/sbin/imapfront-auth", "/bin/true"},
	}
	for _, proto := range []string{"smtp", "pop3", "imap"} {
		t.Run(proto, func(t *testing.T) {
			s, dir := stServe(t, append(cvmEnv(t), "UCSPITLS="), append([]string{"-n", "ucspi-starttls", proto}, progs[proto]...)...)
			r := run(t, os.Environ(), "", "openssl", "s_client", "-starttls", proto, "-connect", s.Addr, "-CAfile", dir+"/ca.crt",
				"-verify_return_error", "-verify_hostname", "localhost", "-brief")
			if r.Code != 0 || !strings.Contains(r.Stderr, "Verification: OK") || !strings.Contains(r.Stderr, "Verified peername: localhost") {
				t.Fatalf("openssl exit %d:\n%s%s\nlog:\n%s", r.Code, r.Stdout, r.Stderr, s.Stderr)
			}
			waitLog(t, s, `ucspi-starttls: info: starttls conn=\d+ ip=127\.0\.0\.1 port=\d+ proto=`+proto+` result=tls`)
			m := waitLog(t, s, `tcpserver: info: end conn=\d+ ip=\S+ port=\d+ status=\d+`)
			if !strings.HasSuffix(m, " status=0") {
				t.Fatalf("%s; log:\n%s", m, s.Stderr)
			}
			// A certificate that does not verify: openssl fails (rc 1)
			// and the session ends with the engine's 98.
			r = run(t, os.Environ(), "", "openssl", "s_client", "-starttls", proto, "-connect", s.Addr, "-CAfile", dir+"/rogue.crt",
				"-verify_return_error", "-verify_hostname", "localhost", "-brief")
			if r.Code != 1 {
				t.Fatalf("openssl with the wrong CA: exit %d", r.Code)
			}
		})
	}
}

// TestStarttlsGnuTLS: gnutls-cli --starttls-proto (the non-interactive
// form) for the three protocols, certificate verified.
func TestStarttlsGnuTLS(t *testing.T) {
	need(t, "gnutls-cli")
	for _, proto := range []string{"smtp", "pop3", "imap"} {
		t.Run(proto, func(t *testing.T) {
			s, dir := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", proto, testdata(proto+".sh"))
			r := run(t, os.Environ(), "", "gnutls-cli", "--starttls-proto="+proto, "--port="+strconv.Itoa(s.Port),
				"--x509cafile="+dir+"/ca.crt", "--verify-hostname=localhost", "127.0.0.1")
			if r.Code != 0 || !strings.Contains(r.Stderr+r.Stdout, "Handshake was completed") {
				t.Fatalf("gnutls-cli exit %d:\n%s%s\nlog:\n%s", r.Code, r.Stdout, r.Stderr, s.Stderr)
			}
			waitLog(t, s, `ucspi-starttls: info: starttls conn=\d+ ip=127\.0\.0\.1 port=\d+ proto=`+proto+` result=tls`)
		})
	}
}

// TestStarttlsSwaks: swaks --tls, certificate verified, a whole mail
// transaction to mailfront (smtp echo accept, no starttls-ucspi plugin:
// ucspi-starttls owns TLS) after the switch.
func TestStarttlsSwaks(t *testing.T) {
	need(t, "swaks", "/usr/sbin/mailfront")
	s, dir := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")
	r := run(t, os.Environ(), "", "swaks", "--server", s.Addr, "--tls", "--tls-verify", "--tls-ca-path", dir+"/ca.crt",
		"--ehlo", "localhost", "--to", "c@d.test", "--from", "a@b.test", "--body", "hello through ucspi-starttls")
	if r.Code != 0 || !strings.Contains(r.Stdout, "<-  250 STARTTLS") || !strings.Contains(r.Stdout, "<~  250 Received ") ||
		strings.Contains(r.Stdout, "<~  250-STARTTLS") || strings.Contains(r.Stdout, "<~  250 STARTTLS") {
		t.Fatalf("swaks exit %d:\n%s%s\nlog:\n%s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
	m := waitLog(t, s, `tcpserver: info: end conn=\d+ ip=\S+ port=\d+ status=\d+`)
	if !strings.HasSuffix(m, " status=0") || !regexp.MustCompile(`mailfront\[\d+\]: MAIL FROM:<a@b\.test>`).MatchString(s.Stderr.String()) {
		t.Fatalf("%s; log:\n%s", m, s.Stderr)
	}
}

// TestStarttlsPopa3d: popa3d answers CAPA with -ERR; ucspi-starttls
// answers it with USER and STLS; openssl s_client -starttls pop3 and a Go
// client get TLS, and popa3d answers inside it.
func TestStarttlsPopa3d(t *testing.T) {
	needRoot(t)
	need(t, "/usr/sbin/popa3d", "openssl")
	s, dir := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "pop3", "/usr/sbin/popa3d")
	c := stDial(t, s)
	if l := c.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("greeting %q", l)
	}
	c.send("CAPA\r\n")
	if got := capa(c); strings.Join(got, ",") != "+OK Capability list follows,USER,STLS,." {
		t.Fatalf("CAPA for popa3d: %q", got)
	}
	c.send("STLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("CAPA\r\n")
	if got := capa(c); strings.Join(got, ",") != "+OK Capability list follows,USER,." {
		t.Fatalf("CAPA after TLS: %q", got)
	}
	c.send("USER nobody-here\r\nQUIT\r\n")
	if l := c.line(); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("USER after TLS: %q", l)
	}
	c.rest()
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	r := run(t, os.Environ(), "", "openssl", "s_client", "-starttls", "pop3", "-connect", s.Addr, "-CAfile", dir+"/ca.crt",
		"-verify_return_error", "-verify_hostname", "localhost", "-brief")
	if r.Code != 0 || !strings.Contains(r.Stderr, "Verification: OK") {
		t.Fatalf("openssl exit %d:\n%s%s\nlog:\n%s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
}

// TestStarttlsPop3frontAuth: mailfront's pop3front-auth with cvm-pwfile,
// mandatory: USER hidden and refused before TLS, a real login after it,
// and the program it runs sees the SSL_* variables.
func TestStarttlsPop3frontAuth(t *testing.T) {
	need(t, "/usr/sbin/pop3front-auth")
	s, _ := stServe(t, cvmEnv(t), "-n", "ucspi-starttls", "-m", "pop3",
		"/usr/sbin/pop3front-auth", "/usr/bin/cvm-pwfile", "sh", "-c", `printf '+OK hello %s %s\r\n' "$USER" "$SSL_PROTOCOL"`)
	c := stDial(t, s)
	c.line()
	c.send("CAPA\r\n")
	if got := capa(c); strings.Join(got, ",") != "+OK ,PIPELINING,TOP,UIDL,STLS,." {
		t.Fatalf("CAPA before TLS: %q", got)
	}
	c.send("USER alice\r\n")
	if l := c.line(); l != "-ERR Must issue a STLS command first" {
		t.Fatalf("USER before TLS: %q", l)
	}
	c.send("STLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("CAPA\r\n")
	if got := capa(c); strings.Join(got, ",") != "+OK ,SASL LOGIN PLAIN,PIPELINING,TOP,UIDL,USER,." {
		t.Fatalf("CAPA after TLS: %q", got)
	}
	c.send("USER alice\r\nPASS wrong\r\n")
	c.line()
	if l := c.line(); l != "-ERR Authentication failed" {
		t.Fatalf("bad PASS: %q", l)
	}
	c.send("USER alice\r\nPASS secret\r\n")
	c.line()
	if l := c.line(); l != "+OK hello alice TLSv1.3" {
		t.Fatalf("PASS: %q", l)
	}
	c.rest()
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestStarttlsImapfront: mailfront's imapfront-auth with cvm-pwfile,
// mandatory: LOGINDISABLED and LOGIN refused before TLS, a real LOGIN
// after it reaches the program with the SSL_* variables.
func TestStarttlsImapfront(t *testing.T) {
	need(t, "/usr/sbin/imapfront-auth")
	s, _ := stServe(t, cvmEnv(t), "-n", "ucspi-starttls", "-m", "imap",
		"/usr/sbin/imapfront-auth", "sh", "-c", `printf '%s OK hello %s %s\r\n' "$IMAPLOGINTAG" "$USER" "$SSL_PROTOCOL"`)
	c := stDial(t, s)
	if l := c.line(); l != "* OK imapfront ready." {
		t.Fatalf("greeting %q", l)
	}
	c.send("a CAPABILITY\r\n")
	if l := c.line(); l != "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED" {
		t.Fatalf("capability %q", l)
	}
	c.line()
	c.send("b LOGIN alice secret\r\n")
	if l := c.line(); l != "b NO [PRIVACYREQUIRED] Must issue a STARTTLS command first" {
		t.Fatalf("LOGIN before TLS: %q", l)
	}
	c.send("c STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("d CAPABILITY\r\n")
	if l := c.line(); l != "* CAPABILITY IMAP4rev1" {
		t.Fatalf("capability after TLS %q", l)
	}
	c.line()
	c.send("e LOGIN alice wrong\r\n")
	if l := c.line(); l != "e NO LOGIN failed" {
		t.Fatalf("bad LOGIN: %q", l)
	}
	c.send("f LOGIN alice secret\r\n")
	if l := c.line(); l != "f OK hello alice TLSv1.3" {
		t.Fatalf("LOGIN: %q", l)
	}
	c.rest()
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// TestStarttlsBigMessage: 8 MiB of message text after the switch arrives
// whole at the app.
func TestStarttlsBigMessage(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("sink.sh"))
	c := stDial(t, s)
	c.line()
	c.send("STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("DATA\r\n")
	if l := c.line(); l != "354 go" {
		t.Fatalf("DATA: %q", l)
	}
	line := strings.Repeat("x", 78) + "\r\n"
	block := strings.Repeat(line, 1<<16/len(line))
	total := 0
	for total < 8<<20 {
		c.send(block)
		total += len(block)
	}
	c.conn.(*tls.Conn).CloseWrite()
	c.rest()
	if code := c.end(); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if want := "sink.sh: " + strconv.Itoa(total) + " bytes\n"; !strings.Contains(s.Stderr.String(), want) {
		t.Fatalf("want %q in log:\n%s", want, s.Stderr)
	}
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

// TestStarttlsTestssl: testssl's vulnerability (-U) and renegotiation
// (-R) checks over STARTTLS SMTP find nothing HIGH or CRITICAL (its exit
// status is a sum of per-check codes, so the JSON is read instead).
func TestStarttlsTestssl(t *testing.T) {
	if testing.Short() {
		t.Skip("short: testssl takes about 15 s")
	}
	need(t, "testssl", "/usr/sbin/mailfront")
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")
	out := filepath.Join(t.TempDir(), "testssl.json")
	r := runFor(t, testsslLimit, os.Environ(), "", "testssl", "--quiet", "--color", "0", "--warnings", "batch", "--starttls", "smtp",
		"-U", "-R", "--jsonfile", out, s.Addr)
	if r.Code >= 242 {
		t.Fatalf("testssl failed to scan (exit %d):\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var findings []struct{ ID, Severity, Finding string }
	if err := json.Unmarshal(b, &findings); err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, f := range findings {
		switch f.Severity {
		case "HIGH", "CRITICAL":
			t.Errorf("%s %s: %s", f.Severity, f.ID, f.Finding)
		case "OK":
			ok++
		}
	}
	if ok < 10 {
		t.Fatalf("only %d checks passed: %s", ok, b)
	}
}

// TestStarttlsThroughput (t/bench/starttls.sh, TLSCHAIN_BENCH=1): 50 MB
// of message text to mailfront (smtp echo accept) through the STARTTLS
// chain and through TLS on connect (tlsd without -n), same client, same
// app; prints MB/s of the DATA phase for both.
func TestStarttlsThroughput(t *testing.T) {
	if os.Getenv("TLSCHAIN_BENCH") == "" {
		t.Skip("TLSCHAIN_BENCH not set (t/bench/starttls.sh)")
	}
	need(t, "/usr/sbin/mailfront")
	// mailfront's echo backend logs the message on stderr: not into the
	// test's memory.
	app := []string{"sh", "-c", "exec /usr/sbin/mailfront smtp echo accept 2>/dev/null"}
	size := 50 << 20
	if v, err := strconv.Atoi(os.Getenv("STARTTLS_BENCH_MB")); err == nil && v > 0 {
		size = v << 20
	}
	line := strings.Repeat("x", 78) + "\r\n"
	block := []byte(strings.Repeat(line, 1<<16/len(line)))
	mail := func(c *stClient) float64 {
		c.send("EHLO localhost\r\n")
		c.reply()
		c.send("MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\nDATA\r\n")
		c.reply()
		c.reply()
		if r := c.reply(); !strings.HasPrefix(r[0], "354") {
			t.Fatalf("DATA: %q", r)
		}
		start := time.Now()
		total := 0
		for total < size {
			if _, err := c.conn.Write(block); err != nil {
				t.Fatal(err)
			}
			total += len(block)
		}
		c.send(".\r\n")
		r := c.reply()
		d := time.Since(start)
		if !strings.HasPrefix(r[0], "250 Received ") {
			t.Fatalf("end of data: %q", r)
		}
		c.send("QUIT\r\n")
		c.reply()
		return float64(total) / d.Seconds() / 1e6
	}
	s1, _ := stServe(t, []string{"UCSPITLS="}, append([]string{"-n", "ucspi-starttls", "smtp"}, app...)...)
	s2, _ := stServe(t, nil, app...)
	var a, b []float64
	for round := 0; round < 3; round++ {
		c := stDial(t, s1)
		c.reply()
		c.send("EHLO localhost\r\n")
		c.reply()
		c.send("STARTTLS\r\n")
		c.line()
		c.startTLS(localhostTLS(t))
		a = append(a, mail(c))
		c.raw.Close()

		c = stDial(t, s2)
		tc := tls.Client(c.raw, localhostTLS(t))
		c.conn, c.rd = tc, bufio.NewReader(tc)
		c.reply()
		b = append(b, mail(c))
		c.raw.Close()
	}
	best := func(v []float64) string {
		m := 0.0
		for _, x := range v {
			m = max(m, x)
		}
		return strconv.FormatFloat(m, 'f', 0, 64)
	}
	t.Logf("%d MB DATA to mailfront (best of 3, MB/s)", size>>20)
	t.Logf("  STARTTLS: tcpserver tlsd -n ucspi-starttls smtp mailfront   %s MB/s", best(a))
	t.Logf("  TLS on connect: tcpserver tlsd mailfront                    %s MB/s", best(b))
}
