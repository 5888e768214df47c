package main

import (
	"slices"
	"strings"
	"testing"
)

// FuzzParseArgs: any command line (operands split at NUL) gives a config
// or an error, never a panic; an accepted one has a program, a timeout in
// range and no conflicting options. Seeds: TestParseArgs's command lines.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"-p ::1 prog", "-p ::1 -1 -t 0 prog -2", "-p ::1 --only-v2 -osv --after-tlsd prog",
		"-p ::1 -2qs -t100 --after-tlsd prog", "-p ::1 -o --before-tlsd prog", "-p ::1 -s --before-tlsd prog",
		"-p 10.0.0.0/8,::1 -c prog", "-p 127.0.0.1 -p ::1 -c --before-tlsd prog", "-p 10.0.0.1/8 prog",
		"-p ::1 -t -1 prog", "-t 86400001 prog", "-t", "-x prog", "-1", "--later-tlsd prog", "-h", "-- -1", "prog",
	} {
		f.Add(strings.ReplaceAll(s, " ", "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		cfg, err := parseArgs(strings.Split(line, "\x00"))
		if err != nil {
			return
		}
		if len(cfg.prog) == 0 || len(cfg.trusted) == 0 || cfg.certClaims && !cfg.sslVars ||
			cfg.timeout < 0 || cfg.timeout > 86400000 ||
			cfg.sslVars && cfg.position == beforeTLSD || cfg.optional && cfg.position == afterTLSD {
			t.Fatalf("%q: accepted %+v", line, cfg)
		}
	})
}

// FuzzParseTrusted: any -p argument gives a list or an error, never a
// panic; an accepted list holds only masked, unzoned, unmapped prefixes,
// and writing it out and parsing it again gives the same list.
func FuzzParseTrusted(f *testing.F) {
	for _, tc := range trustTests {
		f.Add(tc.arg)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		list, err := parseTrusted(arg)
		if err != nil {
			return
		}
		if len(list) == 0 {
			t.Fatalf("%q: accepted an empty list", arg)
		}
		for _, p := range list {
			if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
				t.Fatalf("%q: accepted %v", arg, p)
			}
		}
		again, err := parseTrusted(formatTrusted(list))
		if err != nil || !slices.Equal(again, list) {
			t.Fatalf("%q: round trip gave %v, %v", arg, again, err)
		}
	})
}
