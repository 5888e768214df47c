package main

import (
	"testing"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{
		{"privdrop"},
		{"privdrop", "-u"},
		{"privdrop", "-x", "true"},
		{"privdrop", "-c", "", "true"},
		{"privdrop", "-u", "a:b", "true"},
	} {
		if code := run(args, nil); code != exitcode.Usage {
			t.Errorf("run(%q) = %d, want 100", args, code)
		}
	}
	if code := run([]string{"privdrop", "-U", "true"}, nil); code != exitcode.Usage {
		t.Errorf("run(-U) without UID = %d, want 100", code)
	}
}
