package main

import (
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
)

// filterStep is one exchange: bytes from prog or from the server, and
// what must come out on each side afterwards.
type filterStep struct {
	prog, srv     string
	toSrv, toProg string
	refused       bool
}

// feedProg passes in to f as the relay does: fragments of the size the
// session asks for, while it asks.
func feedProg(f *clearFilter, in string) (refused bool) {
	rd := lineproto.NewReader(strings.NewReader(in), 0)
	for n := 0; n < 10000; n++ {
		want, max := f.p.WantClient()
		if !want {
			return refused
		}
		b, complete, err := rd.Read(max)
		if len(b) > 0 && err != lineproto.ErrTruncated && f.fromProg(b, complete) {
			refused = true
		}
		if err != nil {
			return refused
		}
	}
	return refused
}

func feedServer(f *clearFilter, in string) {
	rd := lineproto.NewReader(strings.NewReader(in), 0)
	for n := 0; n < 10000; n++ {
		b, complete, err := rd.Fragment(0)
		if len(b) > 0 {
			f.fromServer(b, complete)
		}
		if err != nil {
			return
		}
	}
}

// TestClearFilter: in the cleartext relay of client mode, prog is never
// told of STARTTLS/STLS, its STARTTLS/STLS is answered locally and never
// reaches the server, and message text passes byte for byte.
func TestClearFilter(t *testing.T) {
	tests := []struct {
		name, proto, greeting, greetOut string
		steps                           []filterStep
	}{
		{"smtp ehlo middle", "smtp", "220 mx ESMTP\r\n", "220 mx ESMTP\r\n", []filterStep{
			{prog: "EHLO me\r\n", toSrv: "EHLO me\r\n"},
			{srv: "250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n", toProg: "250-mx\r\n250 8BITMIME\r\n"},
		}},
		{"smtp ehlo last lower case", "smtp", "220-mx\r\n220 ESMTP\r\n", "220-mx\r\n220 ESMTP\r\n", []filterStep{
			{prog: "ehlo me\r\n", toSrv: "ehlo me\r\n"},
			{srv: "250-mx\r\n250-PIPELINING\r\n250 starttls\r\n", toProg: "250-mx\r\n250 PIPELINING\r\n"},
		}},
		{"smtp ehlo only domain and starttls", "smtp", "220 mx\r\n", "220 mx\r\n", []filterStep{
			{prog: "EHLO me\r\n", toSrv: "EHLO me\r\n"},
			{srv: "250-mx\r\n250 STARTTLS\r\n", toProg: "250 mx\r\n"},
		}},
		{"smtp starttls refused", "smtp", "220 mx\r\n", "220 mx\r\n", []filterStep{
			{prog: "STARTTLS\r\n", toProg: "454 4.7.0 TLS not available\r\n", refused: true},
			{prog: "starttls x\r\n", toProg: "454 4.7.0 TLS not available\r\n", refused: true},
			{prog: "NOOP\r\n", toSrv: "NOOP\r\n"},
			{srv: "250 ok\r\n", toProg: "250 ok\r\n"},
		}},
		{"smtp data", "smtp", "220 mx\r\n", "220 mx\r\n", []filterStep{
			{prog: "DATA\r\n", toSrv: "DATA\r\n"},
			{srv: "354 go\r\n", toProg: "354 go\r\n"},
			{prog: "x\r\nSTARTTLS\r\n250-STARTTLS\r\n..\r\nSTLS\r\n.\r\n",
				toSrv: "x\r\nSTARTTLS\r\n250-STARTTLS\r\n..\r\nSTLS\r\n.\r\n"},
			{srv: "250 queued\r\n", toProg: "250 queued\r\n"},
			{prog: "STARTTLS\r\n", toProg: "454 4.7.0 TLS not available\r\n", refused: true},
		}},
		{"smtp bdat", "smtp", "220 mx\r\n", "220 mx\r\n", []filterStep{
			{prog: "BDAT 10 LAST\r\nSTARTTLS\r\n", toSrv: "BDAT 10 LAST\r\nSTARTTLS\r\n"},
			{srv: "250 ok\r\n", toProg: "250 ok\r\n"},
			{prog: "STARTTLS\r\n", toProg: "454 4.7.0 TLS not available\r\n", refused: true},
		}},
		{"pop3 capa", "pop3", "+OK hi\r\n", "+OK hi\r\n", []filterStep{
			{prog: "CAPA\r\n", toSrv: "CAPA\r\n"},
			{srv: "+OK list\r\nUSER\r\nSTLS\r\nstls\r\nUIDL\r\n.\r\n", toProg: "+OK list\r\nUSER\r\nUIDL\r\n.\r\n"},
			{prog: "STLS\r\n", toProg: "-ERR TLS not available\r\n", refused: true},
		}},
		{"pop3 no capa", "pop3", "+OK hi\r\n", "+OK hi\r\n", []filterStep{
			{prog: "CAPA\r\n", toSrv: "CAPA\r\n"},
			{srv: "-ERR what\r\n", toProg: "-ERR what\r\n"},
			{prog: "USER x\r\n", toSrv: "USER x\r\n"},
			{srv: "+OK\r\n", toProg: "+OK\r\n"},
		}},
		{"imap", "imap", "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n",
			"* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n", []filterStep{
				{prog: "a CAPABILITY\r\n", toSrv: "a CAPABILITY\r\n"},
				{srv: "* CAPABILITY IMAP4rev1 starttls LOGINDISABLED\r\na OK done\r\n",
					toProg: "* CAPABILITY IMAP4rev1 LOGINDISABLED\r\na OK done\r\n"},
				{prog: "b STARTTLS\r\n", toProg: "b NO TLS not available\r\n", refused: true},
				{prog: "c APPEND x {10+}\r\nb STARTTLS\r\n", toSrv: "c APPEND x {10+}\r\nb STARTTLS\r\n"},
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newClearFilter(tc.proto, clearMaxLine(tc.proto, 0))
			f.greet([]byte(tc.greeting))
			if got := string(f.p.TakeClient()); got != tc.greetOut {
				t.Fatalf("greeting: %q, want %q", got, tc.greetOut)
			}
			for i, st := range tc.steps {
				var refused bool
				if st.prog != "" {
					refused = feedProg(f, st.prog)
				} else {
					feedServer(f, st.srv)
				}
				toSrv, toProg := string(f.p.TakeApp()), string(f.p.TakeClient())
				if toSrv != st.toSrv || toProg != st.toProg || refused != st.refused {
					t.Fatalf("step %d: to server %q, to prog %q, refused %v; want %q, %q, %v",
						i, toSrv, toProg, refused, st.toSrv, st.toProg, st.refused)
				}
			}
		})
	}
}

func TestClearMaxLine(t *testing.T) {
	for _, tc := range []struct {
		proto string
		l     int
		want  int
	}{{"smtp", 0, 2048}, {"pop3", 0, 2048}, {"imap", 0, 8192}, {"smtp", 100, 100}, {"imap", 100, 100}} {
		if got := clearMaxLine(tc.proto, tc.l); got != tc.want {
			t.Errorf("%s -l %d: %d, want %d", tc.proto, tc.l, got, tc.want)
		}
	}
}
