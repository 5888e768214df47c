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
	{"plain", []string{"-k", "localhost", "prog"}, ""},
	{"long", []string{"--server-name=localhost", "--send-client-cert", "prog"}, ""},
	{"tlsd's long option", []string{"-k", "x", "--sni-level=1", "prog"}, "unknown option --sni-level"},
	{"ip name", []string{"-k", "127.0.0.1", "prog"}, ""},
	{"ipv6 name", []string{"-k", "::1", "prog"}, ""},
	{"no verify", []string{"--no-verify-cert", "prog"}, ""},
	{"all flags", []string{"-qvySsJjZz", "-k", "mx.example", "-K", "1", "-I", "2", "-m", "1.3", "-a", "smtp", "-6", "3", "-7", "4", "prog"}, ""},
	{"no name", []string{"prog"}, "give -k name"},
	{"bad name", []string{"-k", "a b", "prog"}, "host name or an IP"},
	{"empty name", []string{"-k", "", "prog"}, "host name or an IP"},
	{"dash name", []string{"-k", "-x", "prog"}, "host name or an IP"},
	{"same fds", []string{"-k", "x", "-6", "3", "-7", "3", "prog"}, "two different fds"},
	{"bad fd", []string{"-k", "x", "-6", "-1", "prog"}, "needs a number"},
	{"tlsd's option", []string{"-k", "x", "-O", "f", "prog"}, "unknown option -O"},
	{"the key holder is tlskeyholder", []string{"--key-holder=1", "prog"}, "unknown option --key-holder"},
	{"no prog", []string{"-k", "x"}, "no program"},
	{"help", []string{"--help"}, "help"},
	{"verify report", []string{"-n", "-k", "mx.example", "--verify-report", "prog"}, ""},
	{"verify report without -n", []string{"-k", "mx.example", "--verify-report", "prog"}, "needs -n"},
	{"verify report and no verify", []string{"-n", "--no-verify-cert", "--verify-report", "prog"}, "exclude each other"},
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
	c, _, _ := parseArgs([]string{"-k", "x", "prog"})
	if c.NetRead != 6 || c.NetWrite != 7 || c.SendClientCert {
		t.Errorf("defaults: %+v", c)
	}
}

func TestMainUsage(t *testing.T) {
	if code := run([]string{"tlsc", "true"}, nil); code != 100 {
		t.Errorf("no -k: exit %d", code)
	}
}
