package tlsspawn

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzSplitPEM: the chunks put together are the input, and each fits.
func FuzzSplitPEM(f *testing.F) {
	block := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	f.Add(strings.Repeat(block, 5), 100)
	f.Add("-----END CERTIFICATE-----\r\n\r\nx", 30)
	f.Add("", 10)
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 1 || max > 1<<16 {
			return
		}
		var out []byte
		b := []byte(s)
		for i := 0; len(b) > 0; i++ {
			if i > len(s) {
				t.Fatal("no progress")
			}
			c, rest, err := splitPEM(b, max)
			if err != nil {
				return
			}
			if len(c) > max || len(c) == 0 {
				t.Fatalf("chunk of %d bytes, max %d", len(c), max)
			}
			out = append(out, c...)
			b = rest
		}
		if !bytes.Equal(out, []byte(s)) {
			t.Fatalf("chunks differ from the input")
		}
	})
}

// FuzzNames: SNI pair names and ALPN lists that pass the checks carry no
// byte an engine argument or a log line could be confused by.
func FuzzNames(f *testing.F) {
	for _, s := range []string{"a.example", "*.example.com", "h2,http/1.1", "", "a..b", "x\x00y", "-k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if checkSNIName(s) == nil && strings.ContainsAny(s, "\x00\n ,=/") {
			t.Fatalf("SNI name %q accepted", s)
		}
		if checkALPN(s) == nil && strings.ContainsAny(s, "\x00\n ") {
			t.Fatalf("ALPN list %q accepted", s)
		}
	})
}
