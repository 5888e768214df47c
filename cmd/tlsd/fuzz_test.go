package main

import (
	"strings"
	"testing"
)

func FuzzParseArgs(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(strings.Join(tc.args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		args := strings.Split(s, "\x00")
		c, prog, err := parseArgs(args)
		if err != nil {
			return
		}
		if len(prog) == 0 || c.SNILevel < 0 || c.SNILevel > 2 || c.RequireClientCert && c.RequestClientCert {
			t.Fatalf("%q: accepted %+v %q", args, c, prog)
		}
		if c.MinVersion != "1.2" && c.MinVersion != "1.3" {
			t.Fatalf("%q: min version %q", args, c.MinVersion)
		}
	})
}
