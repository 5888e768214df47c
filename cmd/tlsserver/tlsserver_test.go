package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

// TestParseArgs: each letter goes where the options table of
// doc/tlsserver.md says: -u/-g/-G/-U to the app, -O to the listener's
// no-op, -q/-v to both, the TLS letters to tlsd's configuration.
func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		name, args string
		err        string
		check      func(*tlsspawn.Config) bool
	}{
		{"app identity", "-u 65534 -g 65534 -G 1,2 0 465 p", "", func(c *tlsspawn.Config) bool {
			return c.App.User == "65534" && c.App.Group == "65534" && c.App.Groups == "1,2"
		}},
		{"U", "-U 0 465 p", "", func(c *tlsspawn.Config) bool { return c.App.FromEnv }},
		{"O is ucspi-tcp's", "-O 0 465 p", "", func(c *tlsspawn.Config) bool { return c.OCSPFile == "" }},
		{"ocsp", "--ocsp f.der 0 465 p", "", func(c *tlsspawn.Config) bool { return c.OCSPFile == "f.der" }},
		{"quiet", "-q 0 465 p", "", func(c *tlsspawn.Config) bool { return c.Verbosity == logline.Quiet }},
		{"tls letters", "-Y -k 2 -K 5000 -I 9 -S -J -Z -m 1.3 -a h2,http/1.1 0 465 p", "", func(c *tlsspawn.Config) bool {
			return c.RequestCert && c.SNILevel == 2 && c.HandshakeMS == 5000 && c.IdleSecs == 9 && c.CloseNotify &&
				c.StrictTrunc && c.KeepVars && c.MinVersion == "1.3" && c.ALPN == "h2,http/1.1"
		}},
		{"close_notify by default", "0 465 p", "", func(c *tlsspawn.Config) bool { return c.CloseNotify }},
		{"half-close", "-s 0 465 p", "", func(c *tlsspawn.Config) bool { return !c.CloseNotify }},
		{"listener letters", "-1 -c 5 -C 2 -x r.cdb -h -l0 0 465 p", "", func(c *tlsspawn.Config) bool { return true }},
		{"check", "--check 0 465 p", "", func(c *tlsspawn.Config) bool { return c.CheckOnly }},
		{"delayed", "-n 0 465 p", "option -n (delayed mode) is not supported", nil},
		{"delayed long", "--delayed 0 465 p", "unknown option --delayed", nil},
		{"key holder", "--key-holder=1 0 465 p", "unknown option --key-holder", nil},
		{"exec-tlsd", "--exec-tlsd 0 465 p", "unknown option --exec-tlsd", nil},
		{"bad k", "-k 3 0 465 p", "option -k", nil},
		{"A and y", "-A -y 0 465 p", "option -A excludes -y and -Y", nil},
		{"no prog", "0 465", "no program", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, c, err := parseArgs(strings.Fields(tc.args), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(c) || !reflect.DeepEqual(o.Prog(), []string{"p"}) {
				t.Fatalf("got %+v, %v", c, err)
			}
		})
	}
}

func TestHelpListsEveryOption(t *testing.T) {
	for _, l := range "1UXoDNhHpPqQvROcCbxBdlugGtyYAkKIsSjJzZma" {
		if !strings.Contains(help, "  -"+string(l)+" ") {
			t.Errorf("--help does not describe -%c", l)
		}
	}
	for _, l := range long {
		if !strings.Contains(help, "--"+strings.TrimSuffix(l, "=")) {
			t.Errorf("--help does not describe --%s", l)
		}
	}
}

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{{"tlsserver"}, {"tlsserver", "-n", "0", "1", "p"}, {"tlsserver", "0"}} {
		if code := run(args, nil); code != 100 {
			t.Errorf("%q: exit %d, want 100", args, code)
		}
	}
}
