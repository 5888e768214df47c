package smtp

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/linetest"
)

// FuzzSMTP feeds arbitrary client and app bytes to a session. Properties:
// no panic; output bounded by the input; after TLS the reply to an EHLO
// is one valid multi-line reply without STARTTLS.
func FuzzSMTP(f *testing.F) {
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
		// 1. Anything, in two interleavings.
		steps := []linetest.Step{{App: "220 x\r\n"}, {Client: string(client)}, {App: string(app)}}
		r := linetest.Run(New(cfg), steps)
		// Each client line earns at most one local reply of < 128 bytes.
		if len(r.ToClient)+len(r.AfterTLS) > 128*(bytes.Count(client, []byte("\n"))+1)+2*len(app)+4096 {
			t.Fatalf("output %d bytes for %d input", len(r.ToClient)+len(r.AfterTLS), len(client)+len(app))
		}
		// 2. After TLS, the app's EHLO reply made of fuzzed lines.
		var reply bytes.Buffer
		ls := bytes.Split(app, []byte("\n"))
		for i, l := range ls {
			l = bytes.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, l)
			sep := "-"
			if i == len(ls)-1 {
				sep = " "
			}
			reply.WriteString("250" + sep + string(l) + "\r\n")
		}
		r = linetest.Run(New(cfg), []linetest.Step{{App: "220 x\r\n"}, {Client: "STARTTLS\r\n"}, {App: "220 y\r\n"}, {Client: "EHLO c\r\n"}, {App: reply.String()}})
		if !r.TLS {
			t.Fatalf("no TLS: %+v", r)
		}
		out := strings.Split(strings.TrimSuffix(r.AfterTLS, "\r\n"), "\r\n")
		if len(out) > maxEHLOLines+1 {
			t.Fatalf("EHLO reply of %d lines", len(out))
		}
		for i, l := range out {
			_, final, ok := ParseReply([]byte(l))
			if !ok || final != (i == len(out)-1) {
				t.Fatalf("line %d %q of %q: not a valid multi-line reply", i, l, out)
			}
			if i > 0 {
				kw := strings.ToUpper(strings.TrimSpace(l[4:]))
				if kw == "STARTTLS" || strings.HasPrefix(kw, "STARTTLS ") || strings.HasPrefix(kw, "STARTTLS=") {
					t.Fatalf("STARTTLS after TLS: %q", out)
				}
			}
		}
	})
}
