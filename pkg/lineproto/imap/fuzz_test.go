package imap

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/linetest"
)

// FuzzIMAP: no panic, bounded output, and after TLS a CAPABILITY response
// never lists STARTTLS.
func FuzzIMAP(f *testing.F) {
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
		r := linetest.Run(New(cfg), []linetest.Step{{App: "* OK hi\r\n"}, {Client: string(client)}, {App: string(app)}})
		if len(r.ToClient)+len(r.AfterTLS) > 128*(bytes.Count(client, []byte("\n"))+1)+2*len(app)+4096 {
			t.Fatalf("output %d bytes for %d input", len(r.ToClient)+len(r.AfterTLS), len(client)+len(app))
		}
		caps := strings.Map(func(r rune) rune {
			if r < 0x20 || r == '[' || r == ']' || r == '{' {
				return ' '
			}
			return r
		}, string(app))
		r = linetest.Run(New(cfg), []linetest.Step{{App: "* OK hi\r\n"}, {Client: "a STARTTLS\r\n"}, {App: "* OK hi\r\n"}, {Client: "b CAPABILITY\r\n"}, {App: "* CAPABILITY " + caps + "\r\nb OK [CAPABILITY " + caps + "] x\r\n"}})
		if !r.TLS {
			t.Fatal("no TLS")
		}
		for _, w := range strings.Fields(r.AfterTLS) {
			if strings.EqualFold(strings.Trim(w, "[]"), "STARTTLS") {
				t.Fatalf("STARTTLS after TLS: %q", r.AfterTLS)
			}
		}
	})
}
