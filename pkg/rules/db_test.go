package rules

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/tlschain/tlschain/pkg/cdb"
	"github.com/tlschain/tlschain/pkg/exitcode"
)

// writeDB writes records (key, data pairs) as a cdb and opens it.
func writeDB(t testing.TB, recs ...string) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "rules.cdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := cdb.NewWriter(f)
	for i := 0; i+1 < len(recs); i += 2 {
		if err := w.Add([]byte(recs[i]), []byte(recs[i+1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

func TestLookupOrder(t *testing.T) {
	db, _ := writeDB(t,
		"joe@1.2.3.4", "+WHO=info-ip\x00",
		"joe@=h.example.com", "+WHO=info-host\x00",
		"1.2.3.4", "+WHO=ip\x00",
		"=h.example.com", "+WHO=host\x00",
		"1.2.3.", "+WHO=p3\x00",
		"1.2.", "D\x00",
		"1.", "+WHO=p1\x00",
		"=.example.com", "+WHO=dom\x00",
		"=.com", "+WHO=tld\x00",
		"=", "+WHO=anyhost\x00",
		"2001:db8:", "+WHO=v6p\x00",
		"::1", "+A=1\x00+B=\x00",
		"", "+WHO=default\x00",
	)
	for _, tc := range []struct {
		q    Query
		key  string
		deny bool
		env  []string
	}{
		{Query{"1.2.3.4", "h.example.com", "joe"}, "joe@1.2.3.4", false, []string{"WHO=info-ip"}},
		{Query{"1.2.3.5", "h.example.com", "joe"}, "joe@=h.example.com", false, []string{"WHO=info-host"}},
		{Query{"1.2.3.4", "h.example.com", "ann"}, "1.2.3.4", false, []string{"WHO=ip"}},
		{Query{"1.2.3.4", "", "joe"}, "joe@1.2.3.4", false, []string{"WHO=info-ip"}},
		{Query{"1.2.3.5", "", "joe"}, "1.2.3.", false, []string{"WHO=p3"}},
		{Query{"1.2.3.5", "h.example.com", ""}, "=h.example.com", false, []string{"WHO=host"}},
		{Query{"1.2.4.5", "", ""}, "1.2.", true, nil},
		{Query{"1.9.4.5", "", ""}, "1.", false, []string{"WHO=p1"}},
		{Query{"9.9.9.9", "x.example.com", ""}, "=.example.com", false, []string{"WHO=dom"}},
		{Query{"9.9.9.9", "x.other.com", ""}, "=.com", false, []string{"WHO=tld"}},
		{Query{"9.9.9.9", "localhost", ""}, "=", false, []string{"WHO=anyhost"}},
		{Query{"9.9.9.9", "", ""}, "", false, []string{"WHO=default"}},
		{Query{"2001:db8::1", "", ""}, "2001:db8:", false, []string{"WHO=v6p"}},
		{Query{"::1", "", ""}, "::1", false, []string{"A=1", "B="}},
		{Query{"::2", "", ""}, "", false, []string{"WHO=default"}},
	} {
		r, err := db.Lookup(tc.q)
		if err != nil {
			t.Fatalf("%+v: %v", tc.q, err)
		}
		if !r.Found || r.Key != tc.key || r.Deny != tc.deny || !slices.Equal(r.Env, tc.env) {
			t.Errorf("%+v: got %+v, want key %q deny %v env %q", tc.q, r, tc.key, tc.deny, tc.env)
		}
	}
}

func TestLookupNoMatch(t *testing.T) {
	db, _ := writeDB(t, "1.2.3.4", "D\x00")
	r, err := db.Lookup(Query{IP: "5.6.7.8"})
	if err != nil || r.Found || r.Deny || r.Env != nil || r.Key != "" {
		t.Fatalf("got %+v, %v; want the default allow", r, err)
	}
}

func TestLookupData(t *testing.T) {
	// tcpserver's reading: "D" denies, "+N=v" sets, the rest is ignored;
	// tcprulescheck stops at the deny.
	db, _ := writeDB(t,
		"a", "+X=1\x00D\x00+Y=2\x00",
		"b", "+NOEQ\x00\x00xjunk\x00+Z=3\x00+TAIL=unterminated",
		"c", "",
		"d", "Deny\x00")
	for _, tc := range []struct {
		ip   string
		deny bool
		env  []string
	}{
		{"a", true, []string{"X=1"}},
		{"b", false, []string{"Z=3"}},
		{"c", false, nil},
		{"d", true, nil},
	} {
		r, err := db.Lookup(Query{IP: tc.ip})
		if err != nil || !r.Found || r.Deny != tc.deny || !slices.Equal(r.Env, tc.env) {
			t.Errorf("%s: got %+v, %v", tc.ip, r, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(filepath.Join(dir, "missing.cdb"))
	if exitcode.Code(err) != exitcode.Temporary || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v (code %d)", err, exitcode.Code(err))
	}
	short := filepath.Join(dir, "short.cdb")
	os.WriteFile(short, []byte("not a cdb"), 0o644)
	if _, err := Open(short); exitcode.Code(err) != exitcode.Temporary {
		t.Errorf("short file: %v", err)
	}
}

func TestLookupTruncated(t *testing.T) {
	_, path := writeDB(t, "1.2.3.4", "D\x00", "", "+X=1\x00")
	b, _ := os.ReadFile(path)
	// Cut inside the hash tables: the header still points past the end.
	for _, n := range []int{len(b) - 1, len(b) - 8, 2048 + 10, 2048} {
		p := filepath.Join(t.TempDir(), "cut.cdb")
		os.WriteFile(p, b[:n], 0o644)
		db, err := Open(p)
		if err != nil {
			continue
		}
		r, err := db.Lookup(Query{IP: "1.2.3.4"})
		if err == nil {
			t.Errorf("cut at %d: got %+v and no error", n, r)
		} else if exitcode.Code(err) != exitcode.Temporary {
			t.Errorf("cut at %d: code %d", n, exitcode.Code(err))
		}
		db.Close()
	}
}

func TestLookupBigFilePread(t *testing.T) {
	// Bigger than memLimit: read through the fd.
	recs := []string{"1.2.3.4", "+X=1\x00", "pad", string(make([]byte, memLimit+1))}
	db, path := writeDB(t, recs...)
	if db.f == nil {
		t.Fatal("big database read into memory")
	}
	// Replace the file by rename: the open DB still reads the old one.
	os.Rename(path, path+".old")
	os.WriteFile(path, nil, 0o644)
	r, err := db.Lookup(Query{IP: "1.2.3.4"})
	if err != nil || !slices.Equal(r.Env, []string{"X=1"}) {
		t.Fatalf("got %+v, %v", r, err)
	}
}

// BenchmarkLookup is tcpserver's per-connection cost: a miss on every key
// down to the default, in a database of 10,000 rules.
func BenchmarkLookup(b *testing.B) {
	var recs []string
	for i := range 10000 {
		recs = append(recs, "10."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)+".1", "+N=1\x00")
	}
	recs = append(recs, "", "+DEFAULT=1\x00")
	db, _ := writeDB(b, recs...)
	q := Query{IP: "192.0.2.77"}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := db.Lookup(q); err != nil || r.Key != "" {
			b.Fatal(r, err)
		}
	}
}
