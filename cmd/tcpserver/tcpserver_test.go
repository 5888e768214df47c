package main

import (
	"strings"
	"testing"
)

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{{"tcpserver"}, {"tcpserver", "-z"}, {"tcpserver", "0"}, {"tcpserver", "-c", "0", "0", "1", "p"}, {"tcpserver", "--exec-tlsd", "0", "1", "p"}} {
		if code := run(args, nil); code != 100 {
			t.Errorf("%q: exit %d, want 100", args, code)
		}
	}
}

func TestHelpListsEveryOption(t *testing.T) {
	for _, c := range "1UXoDNhHpPqQvROcCbxBdlugGt" {
		if !strings.Contains(help, "  -"+string(c)+" ") {
			t.Errorf("--help does not describe -%c", c)
		}
	}
	if !strings.HasPrefix(usage, name+" ") {
		t.Errorf("usage does not start with %q", name)
	}
}
