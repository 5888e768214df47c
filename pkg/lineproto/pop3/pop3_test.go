package pop3

import (
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/linetest"
)

const (
	greet = "+OK ready\r\n"
	capa  = "+OK\r\nUSER\r\nSTLS\r\nSASL PLAIN\r\nUIDL\r\n.\r\n"
)

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
		name:   "CAPA rewritten",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "CAPA\r\n"}, {App: capa}},
		client: greet + "+OK\r\nUSER\r\nSASL PLAIN\r\nUIDL\r\nSTLS\r\n.\r\n",
		app:    "CAPA\r\n",
	},
	{
		name:   "CAPA answered for popa3d",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: "+OK\r\n"}, {Client: "CAPA\r\n"}, {App: "-ERR unknown\r\n"}},
		client: "+OK\r\n" + capaHead + "\r\nUSER\r\nSTLS\r\n.\r\n",
		app:    "CAPA\r\n",
	},
	{
		name:   "mandatory hides USER and SASL",
		cfg:    lineproto.Config{TLS: true, Mandatory: true},
		steps:  []linetest.Step{{App: greet}, {Client: "USER a\r\nCAPA\r\n"}, {App: capa}},
		client: greet + ReplyMandatory + "\r\n+OK\r\nUIDL\r\nSTLS\r\n.\r\n",
		app:    "CAPA\r\n",
	},
	{
		name:     "switch",
		cfg:      lineproto.Config{TLS: true},
		steps:    []linetest.Step{{App: greet}, {Client: "STLS\r\n"}, {App: greet}, {Client: "CAPA\r\n"}, {App: capa}, {Client: "STLS\r\n"}},
		client:   greet + ReplyReady + "\r\n",
		afterTLS: "+OK\r\nUSER\r\nSASL PLAIN\r\nUIDL\r\n.\r\n" + ReplyActive + "\r\n",
		app:      "CAPA\r\n",
		tls:      true,
	},
	{
		name:   "injection (§5.4)",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "STLS\r\nCAPA\r\n"}},
		client: greet + ReplyPipelined + "\r\n",
		refd:   true,
	},
	{
		name:   "multi-line body is not parsed",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "RETR 1\r\n"}, {App: "+OK\r\nSTLS\r\n..\r\n.\r\n"}, {Client: "NOOP\r\n"}, {App: "+OK\r\n"}},
		client: greet + "+OK\r\nSTLS\r\n..\r\n.\r\n+OK\r\n",
		app:    "RETR 1\r\nNOOP\r\n",
	},
	{
		name:   "STLS after login refused",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "USER a\r\n"}, {App: "+OK\r\n"}, {Client: "PASS b\r\n"}, {App: "+OK\r\n"}, {Client: "STLS\r\n"}},
		client: greet + "+OK\r\n+OK\r\n" + ReplyState + "\r\n",
		app:    "USER a\r\nPASS b\r\n",
	},
	{
		name:   "STLS with argument, long line",
		cfg:    lineproto.Config{TLS: true},
		steps:  []linetest.Step{{App: greet}, {Client: "STLS x\r\n"}, {Client: string(make([]byte, 600)) + "\r\n"}},
		client: greet + ReplyArgs + "\r\n" + ReplyTooLong + "\r\n",
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
