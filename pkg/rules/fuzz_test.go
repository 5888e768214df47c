package rules

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tlschain/tlschain/pkg/cdb"
)

// FuzzParseRule: whatever parses prints back to a line that parses to an
// equal rule with the same keys and data.
func FuzzParseRule(f *testing.F) {
	for _, tc := range ruleTests {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		r, err := ParseRule(line)
		if err != nil {
			return
		}
		r2, err := ParseRule(r.String())
		if err != nil || !r.Equal(r2) {
			t.Fatalf("%q: round trip gave %q, %v", line, r2.String(), err)
		}
		k1, _ := r.Keys()
		k2, _ := r2.Keys()
		if len(k1) != len(k2) || len(k1) > 256 || string(r.Data()) != string(r2.Data()) {
			t.Fatalf("%q: keys or data differ after the round trip", line)
		}
	})
}

// FuzzLookup: a lookup in any bytes never panics and never allows on a
// read error.
func FuzzLookup(f *testing.F) {
	good := func(recs ...string) []byte {
		path := filepath.Join(f.TempDir(), "x.cdb")
		fh, _ := os.Create(path)
		w := cdb.NewWriter(fh)
		for i := 0; i+1 < len(recs); i += 2 {
			w.Add([]byte(recs[i]), []byte(recs[i+1]))
		}
		w.Close()
		fh.Close()
		b, _ := os.ReadFile(path)
		return b
	}
	f.Add(good("1.2.3.4", "D\x00", "", "+X=1\x00"), "1.2.3.4", "h.test", "joe")
	f.Add(good("=.test", "+A=b\x00", "joe@=h.test", "D"), "9.9.9.9", "h.test", "joe")
	f.Add([]byte("short"), "::1", "", "")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, db []byte, ip, host, info string) {
		path := filepath.Join(dir, "f.cdb")
		if err := os.WriteFile(path, db, 0o644); err != nil {
			t.Skip(err)
		}
		d, err := Open(path)
		if err != nil {
			return
		}
		defer d.Close()
		r, err := d.Lookup(Query{IP: ip, Host: host, Info: info})
		if err != nil && (r.Found || r.Env != nil) {
			t.Fatalf("error %v with a result %+v", err, r)
		}
	})
}
