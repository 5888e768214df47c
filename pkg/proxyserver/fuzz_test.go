package proxyserver

import (
	"strings"
	"testing"
)

// FuzzParseArgs: any command line (operands split at NUL) gives a config
// or an error, never a panic; an accepted one has a program, a timeout in
// range and no conflicting options. Seeds: TestParseArgs's command lines.
func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"prog", "-1 -t 0 prog -2", "--only-v2 -osv --after-tlsd prog",
		"-2qs -t100 --after-tlsd prog", "-o --before-tlsd prog", "-s --before-tlsd prog",
		"-t -1 prog", "-t 86400001 prog", "-t", "-x prog", "-1", "--later-tlsd prog", "-h", "-- -1",
	} {
		f.Add(strings.ReplaceAll(s, " ", "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		cfg, err := parseArgs(strings.Split(line, "\x00"))
		if err != nil {
			return
		}
		if len(cfg.prog) == 0 || cfg.timeout < 0 || cfg.timeout > 86400000 ||
			cfg.sslVars && cfg.position == beforeTLSD || cfg.optional && cfg.position == afterTLSD {
			t.Fatalf("%q: accepted %+v", line, cfg)
		}
	})
}
