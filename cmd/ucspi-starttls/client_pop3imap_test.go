package main

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

func TestPOP3Status(t *testing.T) {
	for in, want := range map[string]string{
		"+OK": "+OK", "+OK ": "+OK", "+OK ready": "+OK", "+ok hi": "+OK", "-ERR": "-ERR", "-ERR no": "-ERR",
		"+OKAY": "", "-ERROR": "", "": "", "OK": "", "+": "", "* OK": "",
	} {
		if got := pop3Status([]byte(in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestIMAPGreetingTagged(t *testing.T) {
	for in, want := range map[string]string{
		"* OK ready": "OK", "* ok": "OK", "* PREAUTH [CAPABILITY IMAP4rev1] hi": "PREAUTH", "* BYE busy": "BYE",
		"* NO": "", "a OK": "", "*": "", "": "", "+ go": "", "*OK": "",
	} {
		if got := imapGreeting([]byte(in)); got != want {
			t.Errorf("greeting %q: %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][2]string{
		"b OK begin": {"b", "OK"}, "b ok": {"b", "OK"}, "* CAPABILITY IMAP4rev1": {"*", "CAPABILITY"},
		"+ go": {"+", "GO"}, "b": {"b", ""}, "": {"", ""}, "  b   NO  x": {"b", "NO"},
	} {
		if tag, st := imapTagged([]byte(in)); tag != want[0] || st != want[1] {
			t.Errorf("tagged %q: %q %q, want %v", in, tag, st, want)
		}
	}
}

// scriptServer answers the client's commands on fd's peer: greeting at
// once, then for each command line the reply answer gives, in one write.
func scriptServer(t testing.TB, greeting string, answer func(cmd string) string) (fd int, done chan struct{}) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := os.NewFile(uintptr(fds[1]), "server")
	done = make(chan struct{})
	go func() {
		defer close(done)
		defer srv.Close()
		srv.Write([]byte(greeting))
		br := bufio.NewReader(srv)
		for n := 0; n < 20; n++ {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if r := answer(strings.TrimRight(l, "\r\n")); r != "" {
				srv.Write([]byte(r))
			}
		}
	}()
	return fds[0], done
}

// testClient is a client on fd with no engine: a handshake attempt
// fails with "handshake-failed", which marks "the switch was accepted".
func testClient(t testing.TB, proto, policy string, fd int) *client {
	pol, err := resolvePolicy(policy, "", false)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{
		cfg: &config{proto: proto, timeout: time.Second, prog: []string{"prog"}},
		log: logline.New(name), env: ucspi.NewEnv(nil), pol: pol, tls: &tlsFDs{ctl: -1, rd: -1, wr: -1},
		conn: &clientConn{rfd: fd, wfd: fd}, host: "-", verify: verifyCleartext,
	}
	c.rd = lineproto.NewReader(c.conn, 0)
	return c
}

// scripted answers POP3 CAPA/STLS and IMAP CAPABILITY/STARTTLS.
func scripted(capa, stls string) func(string) string {
	return func(cmd string) string {
		switch strings.ToUpper(cmd) {
		case "CAPA", "A CAPABILITY":
			return capa
		case "STLS", "B STARTTLS":
			return stls
		}
		return ""
	}
}

var negotiateTests = []struct {
	name, proto, policy, greeting, capa, stls string
	out                                       outcome
	reason                                    string
}{
	{"pop3 switch", "pop3", "may", "+OK hi\r\n", "+OK\r\nSTLS\r\n.\r\n", "+OK go\r\n", goDefer, "handshake-failed"},
	{"pop3 injection", "pop3", "may", "+OK hi\r\n", "+OK\r\nSTLS\r\n.\r\n", "+OK Begin TLS.\r\n+OK\r\nPLAIN\r\n.\r\n", goDefer, "response-injection"},
	{"pop3 no capa, mandatory tries", "pop3", "encrypt", "+OK\r\n", "-ERR no\r\n", "+OK go\r\n", goDefer, "handshake-failed"},
	{"pop3 no capa may", "pop3", "may", "+OK\r\n", "-ERR no\r\n", "+OK go\r\n", goCleartext, "starttls-not-offered"},
	{"pop3 refused", "pop3", "may", "+OK\r\n", "+OK\r\nSTLS\r\n.\r\n", "-ERR no\r\n", goCleartext, "starttls-refused-err"},
	{"pop3 none", "pop3", "none", "+OK\r\n", "", "", goCleartext, "policy-none"},
	{"pop3 -ERR greeting", "pop3", "encrypt", "-ERR busy\r\n", "", "", goGreeting, "greeting-err"},
	{"pop3 bad greeting", "pop3", "may", "HELLO\r\n", "", "", goDefer, "greeting-reply-syntax"},
	{"pop3 endless capa", "pop3", "may", "+OK\r\n", "+OK\r\n" + strings.Repeat("X\r\n", 200), "", goDefer, "capa-reply-too-many-lines"},
	{"pop3 capa NUL", "pop3", "may", "+OK\r\n", "+OK\r\nST\x00LS\r\n.\r\n", "", goDefer, "capa-reply-syntax"},
	{"pop3 silent", "pop3", "may", "+OK\r\n", "", "", goDefer, "capa-timeout"},
	{"imap switch", "imap", "verify", "* OK hi\r\n", "* CAPABILITY IMAP4rev1 STARTTLS\r\na OK\r\n", "b OK go\r\n", goDefer, "handshake-failed"},
	{"imap untagged first", "imap", "verify", "* OK hi\r\n", "* CAPABILITY IMAP4rev1 STARTTLS\r\na OK\r\n", "* 1 EXISTS\r\nb OK go\r\n", goDefer, "handshake-failed"},
	{"imap injection", "imap", "may", "* OK hi\r\n", "* CAPABILITY IMAP4rev1 STARTTLS\r\na OK\r\n", "b OK begin\r\n* CAPABILITY IMAP4REV1 AUTH=PLAIN\r\n", goDefer, "response-injection"},
	{"imap wrong tag", "imap", "may", "* OK hi\r\n", "* CAPABILITY STARTTLS\r\na OK\r\n", "a OK go\r\n", goDefer, "starttls-reply-syntax"},
	{"imap PREAUTH may", "imap", "may", "* PREAUTH hi\r\n", "", "", goCleartext, "preauth-greeting"},
	{"imap PREAUTH encrypt", "imap", "encrypt", "* PREAUTH hi\r\n", "", "", goDefer, "preauth-greeting"},
	{"imap not offered encrypt", "imap", "encrypt", "* OK\r\n", "* CAPABILITY IMAP4rev1\r\na OK\r\n", "", goDefer, "starttls-not-offered"},
	{"imap capability BAD", "imap", "may", "* OK\r\n", "a BAD no\r\n", "", goCleartext, "starttls-not-offered"},
	{"imap refused NO", "imap", "encrypt", "* OK\r\n", "* CAPABILITY STARTTLS\r\na OK\r\n", "b NO no\r\n", goDefer, "starttls-refused-no"},
	{"imap data after capability", "imap", "may", "* OK\r\n", "* CAPABILITY STARTTLS\r\na OK\r\nb OK early\r\n", "", goDefer, "unexpected-data-after-capability"},
	{"imap BYE", "imap", "encrypt", "* BYE off\r\n", "", "", goGreeting, "greeting-bye"},
	{"imap long line", "imap", "may", "* OK " + strings.Repeat("x", 5000) + "\r\n", "", "", goDefer, "greeting-reply-line-too-long"},
}

func TestNegotiatePOP3IMAP(t *testing.T) {
	for _, tc := range negotiateTests {
		t.Run(tc.name, func(t *testing.T) {
			fd, done := scriptServer(t, tc.greeting, scripted(tc.capa, tc.stls))
			c := testClient(t, tc.proto, tc.policy, fd)
			out, reason := c.negotiateProto()
			unix.Close(fd)
			<-done
			if out != tc.out || reason != tc.reason {
				t.Fatalf("got %d %q, want %d %q", out, reason, tc.out, tc.reason)
			}
			if out != goDefer && string(c.greeting) != tc.greeting {
				t.Errorf("greeting %q", c.greeting)
			}
		})
	}
}

func TestDeferReply(t *testing.T) {
	for proto, want := range map[string]string{
		"smtp": "421 4.7.0 TLS policy verify: x\r\n",
		"pop3": "-ERR [SYS/TEMP] TLS policy verify: x\r\n",
		"imap": "* BYE [UNAVAILABLE] TLS policy verify: x\r\n",
	} {
		c := &client{cfg: &config{proto: proto}, pol: &policy{name: "verify"}}
		if got := string(c.deferReply("x")); got != want {
			t.Errorf("%s: %q", proto, got)
		}
	}
}

// FuzzNegotiatePOP3IMAP: any server answers end the cleartext phase
// within the timeout without a panic; a switch is attempted only when the
// STLS/STARTTLS answer ended in the one acceptable line, with nothing
// after it (no response injection gets through).
func FuzzNegotiatePOP3IMAP(f *testing.F) {
	for _, tc := range negotiateTests {
		if !strings.Contains(tc.name, "silent") && !strings.Contains(tc.name, "long") {
			f.Add(tc.proto == "imap", tc.policy == "encrypt", tc.greeting, tc.capa, tc.stls)
		}
	}
	f.Fuzz(func(t *testing.T, imap, mandatory bool, greeting, capa, stls string) {
		proto, policy := "pop3", "may"
		if imap {
			proto = "imap"
		}
		if mandatory {
			policy = "encrypt"
		}
		fd, done := scriptServer(t, greeting, scripted(capa, stls))
		c := testClient(t, proto, policy, fd)
		c.cfg.timeout = 50 * time.Millisecond
		start := time.Now()
		out, reason := c.negotiateProto()
		unix.Close(fd)
		<-done
		if time.Since(start) > 2*time.Second {
			t.Fatalf("took %v", time.Since(start))
		}
		if out == goTLS || out == goDefer && reason == "" {
			t.Fatalf("%d %q", out, reason)
		}
		if reason == "handshake-failed" {
			// The switch was accepted: the answer's last line is the
			// acceptable one and it is the end of the answer.
			ls := strings.SplitAfter(stls, "\n")
			last := ls[len(ls)-1]
			if last == "" && len(ls) > 1 {
				last = ls[len(ls)-2]
			}
			want := "+OK"
			if imap {
				want = "b OK"
			}
			if !strings.HasPrefix(strings.ToUpper(strings.TrimLeft(last, " ")), strings.ToUpper(want)) || !strings.HasSuffix(stls, "\n") {
				t.Fatalf("switched on %q", stls)
			}
		}
	})
}
