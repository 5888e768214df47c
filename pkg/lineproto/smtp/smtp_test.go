package smtp

import (
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/linetest"
)

const (
	greet = "220-mx.test ESMTP\r\n220 ready\r\n"
	ehlo  = "250-mx.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
)

var sessionTests = []struct {
	name      string
	cfg       lineproto.Config
	steps     []linetest.Step
	client    string // want: written to the client before TLS
	afterTLS  string // want: after
	app       string // want: what the app(s) received
	tls, refd bool
}{
	{
		name:   "advertise",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "EHLO c\r\n"}, {App: ehlo}},
		client: greet + "250-mx.test\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250-8BITMIME\r\n250 STARTTLS\r\n",
		app:    "EHLO c\r\n",
	},
	{
		name:   "not offered",
		cfg:    lineproto.Config{},
		steps:  []linetest.Step{{App: greet}, {Client: "EHLO c\r\n"}, {App: ehlo}, {Client: "STARTTLS\r\n"}},
		client: greet + "250-mx.test\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n" + ReplyNoTLS + "\r\n",
		app:    "EHLO c\r\n",
	},
	{
		name:     "switch, greeting swallowed, no STARTTLS after",
		cfg:      lineproto.Config{TLS: true},
		steps:    []linetest.Step{{App: greet}, {Client: "STARTTLS\r\n"}, {App: greet}, {Client: "EHLO c\r\n"}, {App: ehlo}, {Client: "STARTTLS\r\n"}},
		client:   greet + ReplyReady + "\r\n",
		afterTLS: "250-mx.test\r\n250-PIPELINING\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n" + ReplyActive + "\r\n",
		app:      "EHLO c\r\n",
		tls:      true,
	},
	{
		name:   "injection RSET (§5.4)",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "STARTTLS\r\nRSET\r\n"}},
		client: greet + ReplyPipelined + "\r\n",
		refd:   true,
	},
	{
		name:   "injection EHLO (§5.4)",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "STARTTLS\r\nEHLO commandinjectiontester\r\n"}},
		client: greet + ReplyPipelined + "\r\n",
		refd:   true,
	},
	{
		name:   "STARTTLS with parameters",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "STARTTLS x\r\n"}},
		client: greet + ReplyArgs + "\r\n",
	},
	{
		name:   "mandatory",
		cfg:    lineproto.Config{TLS: true, Mandatory: true},
		steps:  []linetest.Step{{App: greet}, {Client: "HELO c\r\nMAIL FROM:<a@b>\r\nAUTH PLAIN x\r\nNOOP\r\n"}, {App: "250 ok\r\n"}, {Client: "EHLO c\r\n"}, {App: ehlo}},
		client: greet + strings.Repeat(ReplyMandatory+"\r\n", 3) + "250 ok\r\n250-mx.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 STARTTLS\r\n",
		app:    "NOOP\r\nEHLO c\r\n",
	},
	{
		name:   "long line, NUL, bare CR, bare LF",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: strings.Repeat("x", 600) + "\r\nNO\x00OP\r\nNO\rOP\r\nNOOP\n"}, {App: "250 ok\r\n"}},
		client: greet + ReplyTooLong + "\r\n" + ReplySyntax + "\r\n" + ReplySyntax + "\r\n250 ok\r\n",
		app:    "NOOP\n",
	},
	{
		name:   "DATA text is not commands",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "DATA\r\n"}, {App: "354 go\r\n"}, {Client: "STARTTLS\r\n.x\r\n.\r\n"}, {App: "250 got\r\n"}},
		client: greet + "354 go\r\n250 got\r\n",
		app:    "DATA\r\nSTARTTLS\r\n.x\r\n.\r\n",
	},
	{
		name:   "DATA end and a pipelined command in one flight",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "DATA\r\n"}, {App: "354 go\r\n"}, {Client: "a\r\n\r\n.\r\nQUIT\r\n"}, {App: "250 got\r\n221 bye\r\n"}},
		client: greet + "354 go\r\n250 got\r\n221 bye\r\n",
		app:    "DATA\r\na\r\n\r\n.\r\nQUIT\r\n",
	},
	{
		name:   "BDAT chunk passed raw",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "BDAT 12 LAST\r\nSTARTTLS\r\nab"}, {App: "250 got\r\n"}},
		client: greet + "250 got\r\n",
		app:    "BDAT 12 LAST\r\nSTARTTLS\r\nab",
	},
	{
		name:   "app's own STARTTLS as last line",
		cfg:    lineproto.Config{},
		steps:  []linetest.Step{{App: greet}, {Client: "EHLO c\r\n"}, {App: "250-mx\r\n250 STARTTLS\r\n"}},
		client: greet + "250 mx\r\n",
		app:    "EHLO c\r\n",
	},
}

func TestSession(t *testing.T) {
	for _, tc := range sessionTests {
		t.Run(tc.name, func(t *testing.T) {
			r := linetest.Run(New(tc.cfg), tc.steps)
			if r.ToClient != tc.client || r.AfterTLS != tc.afterTLS || r.ToApp != tc.app || r.TLS != tc.tls || r.Refused != tc.refd {
				t.Fatalf("got  client %q\n     after %q\n     app %q tls %v refused %v\nwant client %q\n     after %q\n     app %q tls %v refused %v",
					r.ToClient, r.AfterTLS, r.ToApp, r.TLS, r.Refused, tc.client, tc.afterTLS, tc.app, tc.tls, tc.refd)
			}
		})
	}
}

func TestParseReply(t *testing.T) {
	for _, tc := range []struct {
		in        string
		code      int
		final, ok bool
	}{
		{"250 ok", 250, true, true}, {"250-x", 250, false, true}, {"250", 250, true, true},
		{"25", 0, true, false}, {"abc def", 0, true, false}, {"250x", 250, true, false},
	} {
		c, f, ok := ParseReply([]byte(tc.in))
		if c != tc.code || f != tc.final || ok != tc.ok {
			t.Errorf("%q: %d %v %v", tc.in, c, f, ok)
		}
	}
}

// validEHLO checks the property the fuzz target relies on: one valid
// multi-line reply without STARTTLS when not offered.
func validEHLO(t *testing.T, out []string, offer bool) {
	t.Helper()
	n := 0
	for i, l := range out {
		_, final, ok := ParseReply([]byte(l))
		if !ok || final != (i == len(out)-1) {
			t.Fatalf("line %d %q of %q: bad separator", i, l, out)
		}
		if i > 0 && strings.EqualFold(strings.Fields(l[3:] + " x")[0], "STARTTLS") {
			n++
		}
	}
	if offer && n != 1 || !offer && n != 0 {
		t.Fatalf("%q: STARTTLS %d times, offer %v", out, n, offer)
	}
}

func TestRewriteEHLO(t *testing.T) {
	for _, in := range [][]string{
		{"250 mx"}, {"250-mx", "250 STARTTLS"}, {"250-mx", "250-starttls", "250-AUTH=LOGIN", "250 SIZE 10"},
		{"250-mx", "250-AUTH PLAIN", "250 AUTH=PLAIN"},
	} {
		for _, offer := range []bool{false, true} {
			out := RewriteEHLO(in, offer, true)
			validEHLO(t, out, offer)
			for _, l := range out[1:] {
				if strings.HasPrefix(strings.ToUpper(l[4:]), "AUTH") {
					t.Fatalf("%q: AUTH not hidden", out)
				}
			}
		}
	}
}

// HeloName is the last EHLO/HELO name before TLS; one given after TLS
// does not change it.
func TestHeloName(t *testing.T) {
	s := New(lineproto.Config{TLS: true})
	linetest.Run(s, []linetest.Step{{App: greet}, {Client: "HELO first.test\r\n"}, {App: "250 ok\r\n"},
		{Client: "EHLO  Mx.Client.test extra\r\n"}, {App: ehlo}, {Client: "STARTTLS\r\n"},
		{App: greet}, {Client: "EHLO after.test\r\n"}, {App: ehlo}})
	if got := s.HeloName(); got != "Mx.Client.test" {
		t.Fatalf("HeloName %q", got)
	}
	if got := New(lineproto.Config{}).HeloName(); got != "" {
		t.Fatalf("no EHLO: %q", got)
	}
}

// DegradeMail: MAIL before TLS gets the 451 and never reaches the app;
// the same MAIL after STARTTLS passes. Other commands are untouched.
func TestDegradeMail(t *testing.T) {
	s := New(lineproto.Config{TLS: true})
	s.DegradeMail = true
	n := 0
	s.OnDegrade = func() { n++ }
	r := linetest.Run(s, []linetest.Step{{App: greet}, {Client: "EHLO c\r\n"}, {App: ehlo},
		{Client: "MAIL FROM:<a@b>\r\n"}, {Client: "mail from:<a@b>\r\n"}, {Client: "NOOP\r\n"}, {App: "250 ok\r\n"},
		{Client: "STARTTLS\r\n"}, {App: greet}, {Client: "EHLO c\r\n"}, {App: ehlo}, {Client: "MAIL FROM:<a@b>\r\n"}, {App: "250 ok\r\n"}})
	if want := ReplyDegrade + "\r\n" + ReplyDegrade + "\r\n250 ok\r\n"; !strings.Contains(r.ToClient, want) {
		t.Errorf("before TLS: %q", r.ToClient)
	}
	if strings.Count(r.ToApp, "MAIL FROM") != 1 || strings.Contains(r.ToApp, "mail from") || !strings.HasSuffix(r.AfterTLS, "250 ok\r\n") || strings.Contains(r.AfterTLS, "451") {
		t.Errorf("app got %q; after TLS %q", r.ToApp, r.AfterTLS)
	}
	if n != 2 || !r.TLS {
		t.Errorf("OnDegrade called %d times, tls %v", n, r.TLS)
	}
}
