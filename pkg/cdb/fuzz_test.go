package cdb

import (
	"bytes"
	"testing"
)

// FuzzReader: any bytes as a database never panic or read out of range,
// and whatever Find returns, FindAll's first record agrees.
func FuzzReader(f *testing.F) {
	f.Add(build(f, nil), []byte("a"))
	f.Add(build(f, []rec{{"a", "1"}, {"b", "2"}, {"a", "3"}}), []byte("a"))
	f.Add(make([]byte, HeaderSize+16), []byte(""))
	f.Fuzz(func(t *testing.T, db, key []byte) {
		r, err := New(db)
		if err != nil {
			return
		}
		d, ok, err := r.Find(key)
		all, err2 := r.FindAll(key)
		if err == nil && err2 == nil && ok != (len(all) > 0) {
			t.Fatalf("Find found %v, FindAll %d records", ok, len(all))
		}
		if ok && err2 == nil && !bytes.Equal(all[0], d) {
			t.Fatalf("Find %q, FindAll[0] %q", d, all[0])
		}
		n := 0
		r.ForEach(func(k, v []byte) error {
			if n++; n > len(db) {
				t.Fatal("ForEach does not end")
			}
			return nil
		})
	})
}

// FuzzRoundTrip: records written by the Writer are found by the Reader.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), []byte("k2"), []byte(""))
	f.Add([]byte(""), []byte(""), []byte(""), []byte("x"))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte) {
		db := build(t, []rec{{string(k1), string(v1)}, {string(k2), string(v2)}})
		r, err := New(db)
		if err != nil {
			t.Fatal(err)
		}
		d, ok, err := r.Find(k1)
		if err != nil || !ok || !bytes.Equal(d, v1) {
			t.Fatalf("Find(k1) = %q %v %v", d, ok, err)
		}
		all, err := r.FindAll(k2)
		want := 1
		if bytes.Equal(k1, k2) {
			want = 2
		}
		if err != nil || len(all) != want || !bytes.Equal(all[want-1], v2) {
			t.Fatalf("FindAll(k2) = %q %v", all, err)
		}
	})
}
