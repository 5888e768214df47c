package main

import (
	"strings"
	"testing"
)

// FuzzOptions: the option parser never panics, and an accepted command
// line names exactly one side.
func FuzzOptions(f *testing.F) {
	for _, tc := range optionTests {
		f.Add(strings.Join(tc.args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseOptions(strings.Split(s, "\x00"))
		if err != nil {
			return
		}
		if o.server && (o.serverName != "" || o.noVerify) {
			t.Fatalf("%q: client options on a server", s)
		}
		if !o.server && o.serverName == "" && !o.noVerify {
			t.Fatalf("%q: client without --server-name or --no-verify-cert", s)
		}
	})
}

// FuzzSanitize: no control byte survives, the length is capped.
func FuzzSanitize(f *testing.F) {
	f.Add("CN=x\n\x00\x7f")
	f.Fuzz(func(t *testing.T, s string) {
		got := sanitize(s, 64)
		if len(got) > 64 {
			t.Fatal("too long")
		}
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] == 0x7f {
				t.Fatalf("%q kept byte %#x", s, got[i])
			}
		}
	})
}
