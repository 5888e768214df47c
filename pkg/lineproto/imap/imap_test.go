package imap

import (
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/linetest"
)

const greet = "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n"

var sessionTests = []struct {
	name      string
	cfg       lineproto.Config
	steps     []linetest.Step
	client    string
	afterTLS  string
	app       string
	tls, refd bool
}{
	{
		name:   "greeting and CAPABILITY",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "a CAPABILITY\r\n"}, {App: "* CAPABILITY IMAP4rev1 IDLE\r\na OK done\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\n* CAPABILITY IMAP4rev1 IDLE STARTTLS\r\na OK done\r\n",
		app:    "a CAPABILITY\r\n",
	},
	{
		name:   "mandatory",
		cfg:    lineproto.Config{TLS: true, Mandatory: true},
		steps:  []linetest.Step{{App: greet}, {Client: "a LOGIN u p\r\nb NOOP\r\n"}, {App: "b OK done\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\na " + TextMandatory + "\r\nb OK done\r\n",
		app:    "b NOOP\r\n",
	},
	{
		name:   "mandatory, literal+ skipped",
		cfg:    lineproto.Config{TLS: true, Mandatory: true},
		steps:  []linetest.Step{{App: greet}, {Client: "a LOGIN {11+}\r\nb LOGIN u p\r\nc NOOP\r\n"}, {App: "c OK done\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready\r\na " + TextMandatory + "\r\nc OK done\r\n",
		app:    "c NOOP\r\n",
	},
	{
		name:   "PREAUTH in mandatory mode",
		cfg:    lineproto.Config{TLS: true, Mandatory: true},
		steps:  []linetest.Step{{App: "* PREAUTH hi\r\n"}, {Client: "a NOOP\r\n"}},
		client: ReplyPreauth + "\r\n",
	},
	{
		name:     "switch",
		cfg:      lineproto.Config{TLS: true},
		steps:    []linetest.Step{{App: greet}, {Client: "a STARTTLS\r\n"}, {App: greet}, {Client: "b CAPABILITY\r\n"}, {App: "* CAPABILITY IMAP4rev1 STARTTLS\r\nb OK done\r\n"}, {Client: "c STARTTLS\r\n"}},
		client:   "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\na " + TextReady + "\r\n",
		afterTLS: "* CAPABILITY IMAP4rev1\r\nb OK done\r\nc " + TextActive + "\r\n",
		app:      "b CAPABILITY\r\n",
		tls:      true,
	},
	{
		name:   "injection (§5.4)",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "A STARTTLS\r\nXYZAB NOOP\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\n" + ReplyPipelined + "\r\nA " + TextPipelined + "\r\n",
		refd:   true,
	},
	{
		name:   "STARTTLS waits for commands in flight",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "a NOOP\r\n"}, {Client: "b STARTTLS\r\n"}, {App: "a OK done\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\na OK done\r\nb " + TextReady + "\r\n",
		app:    "a NOOP\r\n",
		tls:    true,
	},
	{
		name:   "server literal not parsed",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "a FETCH 1 BODY[]\r\n"}, {App: "* 1 FETCH (BODY[] {25}\r\n* CAPABILITY STARTTLS\r\n)\r\na OK done\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\n* 1 FETCH (BODY[] {25}\r\n* CAPABILITY STARTTLS\r\n)\r\na OK done\r\n",
		app:    "a FETCH 1 BODY[]\r\n",
	},
	{
		name:   "client literal waits for +",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "a LOGIN {1}\r\n"}, {App: "+ go\r\n"}, {Client: "u p\r\n"}, {App: "a OK [CAPABILITY IMAP4rev1 STARTTLS] in\r\n"}, {Client: "b STARTTLS\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\n+ go\r\na OK [CAPABILITY IMAP4rev1] in\r\nb " + TextAuthed + "\r\n",
		app:    "a LOGIN {1}\r\nu p\r\n",
	},
	{
		name:   "STARTTLS with argument, untagged garbage",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "a STARTTLS x\r\n\x00\r\n"}},
		client: "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN STARTTLS] ready\r\na " + TextArgs + "\r\n" + ReplySyntax + "\r\n",
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

func TestLiteral(t *testing.T) {
	for _, tc := range []struct {
		in       string
		n        int
		sync, ok bool
	}{
		{"a LOGIN {5}", 5, true, true}, {"{12+}", 12, false, true}, {"x {}", 0, false, false},
		{"x {99999999999999}", 0, false, false}, {"x }", 0, false, false}, {"x {3", 0, false, false},
	} {
		n, s, ok := Literal([]byte(tc.in))
		if n != tc.n || s != tc.sync || ok != tc.ok {
			t.Errorf("%q: %d %v %v", tc.in, n, s, ok)
		}
	}
}
