package main

import (
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

// TestParseArgs: the lines tlsspawn starts the key holder with (its
// TestKeyHolderArgs) parse into the configuration they came from.
func TestParseArgs(t *testing.T) {
	cf, err := parseArgs(strings.Fields("--server --sni-level 2 --request-client-cert --ocsp=/o.der --as=4321:4322 -K 500 -- 42"))
	s, ok := cf.h.(*tlsspawn.ServerConfig)
	if err != nil || !ok || cf.enginePID != 42 || s.SNILevel != 2 || !s.RequestClientCert || s.RequireClientCert || s.OCSPFile != "/o.der" || s.HandshakeMS != 500 ||
		cf.as == nil || cf.as.UID != 4321 || cf.as.GID != 4322 {
		t.Errorf("server: %+v %v", cf, err)
	}
	cf, err = parseArgs(strings.Fields("--client --server-name=mx.example --send-client-cert -K 30000 -- 7"))
	c, ok := cf.h.(*tlsspawn.ClientConfig)
	if err != nil || !ok || cf.enginePID != 7 || c.ServerName != "mx.example" || !c.SendClientCert || c.NoVerify || c.HandshakeMS != 30000 || cf.as != nil {
		t.Errorf("client: %+v %v", cf, err)
	}
	cf, err = parseArgs(strings.Fields("--client --no-verify-cert 7"))
	if c, ok := cf.h.(*tlsspawn.ClientConfig); err != nil || !ok || !c.NoVerify {
		t.Errorf("client --no-verify-cert: %+v %v", cf, err)
	}
	for args, want := range map[string]string{
		"":                                  "one of --server and --client",
		"--server":                          "need the engine's pid",
		"--server 1 2":                      "need the engine's pid",
		"--server 0":                        "bad engine pid",
		"--server x":                        "bad engine pid",
		"--server --client 1":               "exclude each other",
		"--server --server-name=x 1":        "not for the --server side",
		"--client --ocsp=/o 1":              "not for the --client side",
		"--client --sni-level 1 1":          "not for the --client side",
		"--server --sni-level 3 1":          "from 0 to 2",
		"--client --server-name=-x 1":       "host name or an IP",
		"--server -n 1":                     "unknown option -n",
		"--server --key-holder=1 1":         "unknown option --key-holder",
		"--server --any-client-cert 1":      "unknown option --any-client-cert",
		"--client --verify-report 1":        "unknown option --verify-report",
		"--server --require-client-cert -K": "needs an argument",
		"--server --as=0:5 1":               "bad --as",
		"--server --as=5 1":                 "bad --as",
		"--server --as=nobody:nogroup 1":    "bad --as",
	} {
		if _, err := parseArgs(strings.Fields(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", args, err, want)
		}
	}
	if _, err := parseArgs([]string{"--help"}); err != getopt.ErrHelp {
		t.Errorf("--help: %v", err)
	}
}

func TestHelpListsOptions(t *testing.T) {
	for _, l := range long {
		if !strings.Contains(help, "--"+strings.TrimSuffix(l, "=")) {
			t.Errorf("help lacks --%s", l)
		}
	}
}

func TestMainUsage(t *testing.T) {
	if code := run([]string{"tlskeyholder", "--server"}, nil); code != 100 {
		t.Errorf("no pid: exit %d", code)
	}
	if code := run([]string{"tlskeyholder", "--server", "1"}, []string{"PATH=/bin"}); code != 100 {
		t.Errorf("no CERTFILE: exit %d", code)
	}
}
