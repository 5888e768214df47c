package cdb

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// memFile is an in-memory io.WriteSeeker.
type memFile struct {
	b   []byte
	off int
}

func (m *memFile) Write(p []byte) (int, error) {
	if need := m.off + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	copy(m.b[m.off:], p)
	m.off += len(p)
	return len(p), nil
}

func (m *memFile) Seek(off int64, whence int) (int64, error) {
	if whence != 0 {
		return 0, errors.New("memFile: only SeekStart")
	}
	m.off = int(off)
	return off, nil
}

type rec struct{ k, v string }

func build(t testing.TB, recs []rec) []byte {
	t.Helper()
	m := &memFile{}
	w := NewWriter(m)
	for _, r := range recs {
		if err := w.Add([]byte(r.k), []byte(r.v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return m.b
}

func TestHash(t *testing.T) {
	// Values from djb's definition, computed by hand for short keys.
	for _, tc := range []struct {
		key  string
		want uint32
	}{
		{"", 5381},
		{"a", 5381*33 ^ 'a'},
		{"ab", (5381*33^'a')*33 ^ 'b'},
	} {
		if got := Hash([]byte(tc.key)); got != tc.want {
			t.Errorf("Hash(%q) = %d, want %d", tc.key, got, tc.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	var many []rec
	for i := range 3000 {
		many = append(many, rec{"key" + strconv.Itoa(i), "value" + strconv.Itoa(i*7)})
	}
	for _, tc := range []struct {
		name string
		recs []rec
	}{
		{"empty", nil},
		{"one", []rec{{"a", "b"}}},
		{"empty key and data", []rec{{"", ""}}},
		{"duplicates keep order", []rec{{"k", "1"}, {"x", "y"}, {"k", "2"}, {"k", "3"}}},
		{"binary", []rec{{"\x00\xff", "\x00\x00"}, {"\n", "\r"}}},
		{"64 KiB key", []rec{{string(bytes.Repeat([]byte("k"), 64<<10)), "v"}}},
		{"many", many},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, tc.recs)
			r, err := New(b)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string][]string{}
			for _, x := range tc.recs {
				want[x.k] = append(want[x.k], x.v)
			}
			for k, vs := range want {
				d, ok, err := r.Find([]byte(k))
				if err != nil || !ok || string(d) != vs[0] {
					t.Fatalf("Find(%.20q) = %q, %v, %v; want %q", k, d, ok, err, vs[0])
				}
				all, err := r.FindAll([]byte(k))
				if err != nil || len(all) != len(vs) {
					t.Fatalf("FindAll(%.20q) = %d records, %v; want %d", k, len(all), err, len(vs))
				}
				for i := range all {
					if string(all[i]) != vs[i] {
						t.Fatalf("FindAll(%.20q)[%d] = %q, want %q", k, i, all[i], vs[i])
					}
				}
			}
			if _, ok, err := r.Find([]byte("absent key")); ok || err != nil {
				t.Fatalf("absent key: %v, %v", ok, err)
			}
			i := 0
			err = r.ForEach(func(k, v []byte) error {
				if i >= len(tc.recs) || string(k) != tc.recs[i].k || string(v) != tc.recs[i].v {
					t.Fatalf("ForEach record %d = %.20q %.20q", i, k, v)
				}
				i++
				return nil
			})
			if err != nil || i != len(tc.recs) {
				t.Fatalf("ForEach: %d records, %v", i, err)
			}
		})
	}
}

// TestDebianBytes compares the writer with a file written by Debian's
// tcprules (ucspi-tcp-ipv6 0.88-7) from testdata/debian.rules, and reads it.
func TestDebianBytes(t *testing.T) {
	want, err := os.ReadFile("testdata/debian.cdb")
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(want)
	if err != nil {
		t.Fatal(err)
	}
	var recs []rec
	if err := r.ForEach(func(k, v []byte) error {
		recs = append(recs, rec{string(k), string(v)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 7 || recs[0] != (rec{"1.2.3.4", "D\x00+X=y\x00"}) || recs[2] != (rec{"10.3.", "+X=a\"b\x00"}) {
		t.Fatalf("records %q", recs)
	}
	if d, ok, err := r.Find([]byte("1.2.3.4")); !ok || err != nil || string(d) != "D\x00+X=y\x00" {
		t.Fatalf("Find = %q %v %v", d, ok, err)
	}
	if got := build(t, recs); !bytes.Equal(got, want) {
		t.Fatalf("our writer differs from Debian's tcprules (%d vs %d bytes)", len(got), len(want))
	}
}

func TestCorrupt(t *testing.T) {
	good := build(t, []rec{{"a", "1"}, {"b", "2"}, {"c", "3"}})
	if _, err := New(good[:HeaderSize-1]); !errors.Is(err, ErrCorrupt) {
		t.Errorf("short header: %v", err)
	}
	// Every truncation is refused at New: the tables are at the end.
	for n := HeaderSize; n < len(good); n++ {
		if _, err := New(good[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("cut at %d: %v", n, err)
		}
	}
	// A record whose lengths run past the file: found by its slot, refused.
	long := bytes.Clone(good)
	put32(long[HeaderSize+4:], 0xffffff00) // record "a": data length
	r, err := New(long)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Find([]byte("a")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("data length past the end: %v", err)
	}
	if err := r.ForEach(func(k, v []byte) error { return nil }); !errors.Is(err, ErrCorrupt) {
		t.Errorf("ForEach, data length past the end: %v", err)
	}
	// A slot pointing into the header.
	slotted := bytes.Clone(good)
	h := Hash([]byte("b"))
	tpos, nslots := get32(slotted[8*(h&255):]), get32(slotted[8*(h&255)+4:])
	for s := uint32(0); s < nslots; s++ {
		put32(slotted[tpos+8*s+4:], 100)
	}
	r, _ = New(slotted)
	if _, _, err := r.Find([]byte("b")); !errors.Is(err, ErrCorrupt) {
		t.Errorf("slot into the header: %v", err)
	}
	// A header pointing far outside the file.
	bad := bytes.Clone(good)
	for i := 0; i < HeaderSize; i += 8 {
		put32(bad[i:], 0xfffffff0)
		put32(bad[i+4:], 0x7fffffff)
	}
	if _, err := New(bad); !errors.Is(err, ErrCorrupt) {
		t.Errorf("header out of range: %v", err)
	}
}

func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.cdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := NewWriter(f)
	w.Add([]byte("k"), []byte("v"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Replaced by rename: the open Reader keeps reading the old file.
	os.WriteFile(path+".new", build(t, []rec{{"k", "new"}}), 0o644)
	os.Rename(path+".new", path)
	if d, ok, err := r.Find([]byte("k")); string(d) != "v" || !ok || err != nil {
		t.Fatalf("Find = %q %v %v", d, ok, err)
	}
	if err := w.Add([]byte("late"), nil); err == nil {
		t.Error("Add after Close succeeded")
	}
	if _, err := Open(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("Open of a missing file succeeded")
	}
}
