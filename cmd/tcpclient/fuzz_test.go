package main

import (
	"strings"
	"testing"
	"time"
)

// FuzzParseArgs: no panic; an accepted command line has a host, a port
// other than 0, a program, timeouts in range and a consistent family.
func FuzzParseArgs(f *testing.F) {
	for _, tc := range argTests {
		f.Add(tc.args)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, " ")
		c, err := parseArgs(args)
		if err != nil {
			return
		}
		if c.remotePort == 0 || len(c.prog) == 0 {
			t.Fatalf("%q: accepted without port or prog: %+v", line, c)
		}
		if c.first <= 0 || c.first > maxTimeout || c.second < 0 || c.second > maxTimeout {
			t.Fatalf("%q: timeouts %v+%v", line, c.first, c.second)
		}
		if c.localIP.IsValid() && (c.localIP.Is4() != (c.family == family4)) {
			t.Fatalf("%q: -i %v with family %d", line, c.localIP, c.family)
		}
	})
}

// FuzzParseTimeout: accepted values round-trip through their seconds form.
func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"2+58", "1", "0.5+0", "0+1", "1.", ".5", "1+", "+1", "3600.999+0.001", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		x, y, err := parseTimeout(s, time.Minute)
		if err != nil {
			return
		}
		if x <= 0 || y < 0 || x > maxTimeout || y > maxTimeout || x%time.Millisecond != 0 || y%time.Millisecond != 0 {
			t.Fatalf("%q: %v+%v", s, x, y)
		}
	})
}
