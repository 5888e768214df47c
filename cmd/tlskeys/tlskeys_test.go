package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestMain_(t *testing.T) {
	f := filepath.Join(t.TempDir(), "k")
	cases := []struct {
		args []string
		code int
		size int64
	}{
		{[]string{"tlskeys", "new", f}, 0, 32},
		{[]string{"tlskeys", "rotate", f}, 0, 64},
		{[]string{"tlskeys", "rotate", f}, 0, 96},
		{[]string{"tlskeys", "rotate", f}, 0, 96},
		{[]string{"tlskeys", "rotate", f, "1"}, 0, 32},
		{[]string{"tlskeys", "rotate", f, "9"}, 100, 32},
		{[]string{"tlskeys", "rotate"}, 100, 32},
		{[]string{"tlskeys", "bogus", f}, 100, 32},
		{[]string{"tlskeys", "new", "/nonexistent/dir/k"}, 111, 32},
	}
	for _, tc := range cases {
		if code := run(tc.args, nil); code != tc.code {
			t.Fatalf("%q: exit %d, want %d", tc.args, code, tc.code)
		}
		if st, err := os.Stat(f); err != nil || st.Size() != tc.size {
			t.Fatalf("%q: size %v", tc.args, st.Size())
		}
	}
}
