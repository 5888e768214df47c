package main

import (
	"path/filepath"
	"testing"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/rules"
)

func TestMainUsage(t *testing.T) {
	for _, argv := range [][]string{
		{name},
		{name, "a", "b", "c", "d"},
		{name, "-z", "a"},
	} {
		if code := run(argv, nil); code != exitcode.Usage {
			t.Errorf("%q: exit %d, want 100", argv, code)
		}
	}
	if code := run([]string{name, filepath.Join(t.TempDir(), "none")}, nil); code != exitcode.Temporary {
		t.Errorf("missing file: exit %d", code)
	}
}

func TestCheckMissing(t *testing.T) {
	_, err := Check(filepath.Join(t.TempDir(), "none"), rules.Query{IP: "1.2.3.4"})
	if exitcode.Code(err) != exitcode.Temporary {
		t.Fatalf("got %v", err)
	}
}
