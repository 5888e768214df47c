package pop3

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/linetest"
)

// FuzzPOP3: no panic, bounded output, and after TLS the reply to CAPA
// lists no STLS.
func FuzzPOP3(f *testing.F) {
	for _, tc := range sessionTests {
		var c, a string
		for _, s := range tc.steps {
			c += s.Client
			a += s.App
		}
		f.Add([]byte(c), []byte(a), tc.cfg.Mandatory)
	}
	f.Fuzz(func(t *testing.T, client, app []byte, mandatory bool) {
		cfg := lineproto.Config{TLS: true, Mandatory: mandatory}
		r := linetest.Run(New(cfg), []linetest.Step{{App: "+OK\r\n"}, {Client: string(client)}, {App: string(app)}})
		// Each client line earns at most one local reply of < 128 bytes.
		if len(r.ToClient)+len(r.AfterTLS) > 128*(bytes.Count(client, []byte("\n"))+1)+2*len(app)+4096 {
			t.Fatalf("output %d bytes for %d input", len(r.ToClient)+len(r.AfterTLS), len(client)+len(app))
		}
		r = linetest.Run(New(cfg), []linetest.Step{{App: "+OK\r\n"}, {Client: "STLS\r\n"}, {App: "+OK\r\n"}, {Client: "CAPA\r\n"}, {App: "+OK\r\n" + string(app) + "\r\n.\r\n"}})
		if !r.TLS {
			t.Fatal("no TLS")
		}
		for _, l := range strings.Split(r.AfterTLS, "\r\n") {
			if l == "." {
				break // the end of the CAPA list; what follows is unsolicited
			}
			if strings.EqualFold(strings.TrimSpace(l), "STLS") || strings.HasPrefix(strings.ToUpper(l), "STLS ") {
				t.Fatalf("STLS after TLS: %q", r.AfterTLS)
			}
		}
	})
}
