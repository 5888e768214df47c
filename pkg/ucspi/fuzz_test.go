package ucspi

import (
	"bytes"
	"testing"
)

// FuzzParseReport: any input parses or fails cleanly; what parses
// re-encodes to the same bytes; ReportComplete agrees with the parser;
// only report names with clean values pass.
func FuzzParseReport(f *testing.F) {
	for _, tc := range reportTests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		vars, err := ParseReport(b)
		if err != nil {
			return
		}
		if enc := EncodeReport(vars); !bytes.Equal(enc, b) {
			t.Fatalf("round trip %q -> %q", b, enc)
		}
		if !ReportComplete(b) {
			t.Fatalf("parsed %q but ReportComplete is false", b)
		}
		for _, v := range vars {
			if !reportNames[v.Name] || !reportValue(v.Value) {
				t.Fatalf("parsed %q: %+v passed the filter", b, v)
			}
		}
	})
}
