package main

import (
	"strings"
	"testing"
)

var parseTests = []struct {
	name string
	args []string
	err  string // substring; "" = ok
}{
	{"plain", []string{"cat"}, ""},
	{"all flags", []string{"-qvYSsJjZzU", "-k", "2", "-K", "100", "-I", "5", "-m", "1.3", "-a", "smtp", "-O", "/o", "prog", "-k", "x"}, ""},
	{"require", []string{"-y", "prog"}, ""},
	{"long", []string{"--sni-level=0", "--ocsp", "/o", "--close-notify", "--engine-uids=10", "prog"}, ""},
	{"no prog", []string{"-y"}, "no program"},
	{"bad sni level", []string{"-k", "3", "prog"}, "from 0 to 2"},
	{"sni level word", []string{"-k", "localhost", "prog"}, "from 0 to 2"},
	{"unknown", []string{"-x", "prog"}, "unknown option -x"},
	{"tlsc's option", []string{"--no-verify-cert", "prog"}, "unknown option"},
	{"the key holder is tlskeyholder", []string{"--key-holder=1", "prog"}, "unknown option --key-holder"},
	{"missing arg", []string{"-K"}, "needs an argument"},
	{"empty ocsp", []string{"-O", "", "prog"}, "needs a file"},
	{"help", []string{"-h"}, "help"},
}

func TestParseArgs(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.name, func(t *testing.T) {
			c, prog, err := parseArgs(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(prog) == 0 {
				t.Fatalf("config %+v prog %q", c, prog)
			}
		})
	}
	c, prog, _ := parseArgs([]string{"-Y", "-y", "-k0", "prog", "-k", "2"})
	if !c.RequireClientCert || c.RequestClientCert || c.SNILevel != 0 || strings.Join(prog, " ") != "prog -k 2" {
		t.Errorf("last of -y/-Y wins, options stop at prog: %+v %q", c, prog)
	}
}

func TestMainUsage(t *testing.T) {
	if code := run([]string{"tlsd"}, nil); code != 100 {
		t.Errorf("no prog: exit %d", code)
	}
	if code := run([]string{"tlsd", "true"}, []string{"PATH=/bin"}); code != 100 {
		t.Errorf("no CERTFILE: exit %d", code)
	}
}
