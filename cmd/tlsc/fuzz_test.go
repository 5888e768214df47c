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
		if len(prog) == 0 || c.NetRead == c.NetWrite || c.ServerName == "" && !c.NoVerify {
			t.Fatalf("%q: accepted %+v %q", args, c, prog)
		}
	})
}
