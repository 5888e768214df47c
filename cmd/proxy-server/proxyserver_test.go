package main

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/proxyproto"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

func TestParseArgs(t *testing.T) {
	for _, tc := range []struct {
		args string
		err  string // substring; "" = ok
		want config
	}{
		{"-p ::1 prog", "", config{versions: proxyproto.Both, timeout: 5000, verbose: 1}},
		{"-p ::1 -1 -t 0 prog -2", "", config{versions: proxyproto.V1, timeout: 0, verbose: 1}},
		{"-p ::1 --only-v2 -osv --after-tlsd prog", "conflict", config{}},
		{"-p ::1 -2qs -t100 --after-tlsd prog", "", config{versions: proxyproto.V2, timeout: 100, sslVars: true, position: afterTLSD, verbose: 0}},
		{"-p ::1 -c prog", "", config{versions: proxyproto.Both, timeout: 5000, sslVars: true, certClaims: true, verbose: 1}},
		{"-p ::1 -o --before-tlsd prog", "", config{versions: proxyproto.Both, timeout: 5000, optional: true, position: beforeTLSD, verbose: 1}},
		{"-p ::1 -s --before-tlsd prog", "conflict", config{}},
		{"-p ::1 -c --before-tlsd prog", "conflict", config{}},
		{"-p ::1 -t -1 prog", "needs a number", config{}},
		{"-p ::1 -t 86400001 prog", "needs a number", config{}},
		{"-p ::1 -t", "needs", config{}},
		{"-p ::1 -x prog", "-x", config{}},
		{"-p ::1 -1", "no program", config{}},
		{"-p ::1 --later-tlsd prog", "later-tlsd", config{}},
		{"prog", "no trusted proxies", config{}},
		{"-s -t 10 prog", "no trusted proxies", config{}},
		{"-p 10.0.0.1/8 prog", "host bits", config{}},
		{"-p", "needs an argument", config{}},
	} {
		cfg, err := parseArgs(strings.Fields(tc.args))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want one with %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.args, err)
			continue
		}
		tc.want.prog = cfg.prog
		if cfg.prog[0] != "prog" || !equalConfig(cfg, tc.want) {
			t.Errorf("%q: got %+v, want %+v", tc.args, cfg, tc.want)
		}
	}
}

func equalConfig(a, b config) bool {
	return a.versions == b.versions && a.timeout == b.timeout && a.optional == b.optional &&
		a.sslVars == b.sslVars && a.certClaims == b.certClaims && a.position == b.position && a.verbose == b.verbose
}

func TestApplyHeader(t *testing.T) {
	base := []string{"PROTO=TCP", "TCPREMOTEIP=10.0.0.1", "TCPREMOTEPORT=40000", "TCPLOCALIP=10.0.0.2",
		"TCPLOCALPORT=25", "TCPREMOTEHOST=proxy.example", "TCPREMOTEINFO=x", "PROXYREMOTEIP=stale",
		"SSL_PROTOCOL=stale", "SSL_PEER_CERT_HASH=stale", "SSL_CLIENT_VERIFY=stale", "SSL_CLIENT_S_DN_CN=stale", "KEEP=1"}
	ssl := &proxyproto.SSL{Client: proxyproto.ClientSSL | proxyproto.ClientCertConn, Version: "TLSv1.3",
		Cipher: "TLS_AES_256_GCM_SHA384", CN: "alice"}
	proxied := &proxyproto.Header{Version: 2, Command: proxyproto.CmdProxy, Family: proxyproto.FamInet6,
		Src: netip.MustParseAddrPort("[::ffff:192.0.2.7]:5000"), Dst: netip.MustParseAddrPort("[2001:db8::1]:587"),
		Authority: "mx.example", ALPN: "smtp", SSL: ssl}
	for _, tc := range []struct {
		name  string
		h     *proxyproto.Header
		ssl   bool
		certs bool
		want  []string
	}{
		{"proxied", proxied, false, false, []string{"PROTO=TCP", "TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=5000",
			"TCPLOCALIP=2001:db8::1", "TCPLOCALPORT=587", "SSL_PROTOCOL=stale", "SSL_PEER_CERT_HASH=stale",
			"SSL_CLIENT_VERIFY=stale", "SSL_CLIENT_S_DN_CN=stale", "KEEP=1",
			"PROXYREMOTEIP=10.0.0.1", "PROXYREMOTEPORT=40000"}},
		// Without -c the certificate claims are not set, and stale ones go.
		{"proxied -s", proxied, true, false, []string{"PROTO=TCP", "TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=5000",
			"TCPLOCALIP=2001:db8::1", "TCPLOCALPORT=587", "KEEP=1", "PROXYREMOTEIP=10.0.0.1", "PROXYREMOTEPORT=40000",
			"SSL_PROTOCOL=TLSv1.3", "SSL_CIPHER=TLS_AES_256_GCM_SHA384",
			"SSL_TLS_SNI_SERVERNAME=mx.example", "SSL_ALPN=smtp"}},
		{"proxied -c", proxied, true, true, []string{"PROTO=TCP", "TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=5000",
			"TCPLOCALIP=2001:db8::1", "TCPLOCALPORT=587", "KEEP=1", "PROXYREMOTEIP=10.0.0.1", "PROXYREMOTEPORT=40000",
			"SSL_PROTOCOL=TLSv1.3", "SSL_CIPHER=TLS_AES_256_GCM_SHA384", "SSL_CLIENT_S_DN_CN=alice",
			"SSL_TLS_SNI_SERVERNAME=mx.example", "SSL_ALPN=smtp", "SSL_CLIENT_VERIFY=SUCCESS"}},
		{"local -s", &proxyproto.Header{Version: 2, Command: proxyproto.CmdLocal}, true, false, []string{"PROTO=TCP",
			"TCPREMOTEIP=10.0.0.1", "TCPREMOTEPORT=40000", "TCPLOCALIP=10.0.0.2", "TCPLOCALPORT=25",
			"TCPREMOTEHOST=proxy.example", "TCPREMOTEINFO=x", "KEEP=1"}},
	} {
		e := ucspi.NewEnv(slices.Clone(base))
		applyHeader(e, tc.h, tc.ssl, tc.certs)
		got := slices.Clone(e.Environ())
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, want)
		}
	}
}

// trustTests are -p arguments; want is the list as netip writes it, ""
// for a refused one. Shared with FuzzParseTrusted as seeds.
var trustTests = []struct{ arg, want string }{
	{"127.0.0.1", "127.0.0.1/32"},
	{"127.0.0.1,10.0.0.0/8,::1", "127.0.0.1/32,10.0.0.0/8,::1/128"},
	{"2001:db8::/32", "2001:db8::/32"},
	{"0.0.0.0/0,::/0", "0.0.0.0/0,::/0"},
	{"", ""},
	{",", ""},
	{"127.0.0.1,", ""},
	{"127.0.0.1, ::1", ""},
	{"10.0.0.1/8", ""},
	{"10.0.0.0/33", ""},
	{"10.0.0.0/", ""},
	{"::ffff:10.0.0.1", ""},
	{"::ffff:10.0.0.0/104", ""},
	{"fe80::1%eth0", ""},
	{"fe80::%eth0/64", ""},
	{"localhost", ""},
	{"010.0.0.1", ""},
	{"10.0.0.0/8\x00", ""},
}

func TestParseTrusted(t *testing.T) {
	for _, tc := range trustTests {
		list, err := parseTrusted(tc.arg)
		if tc.want == "" {
			if err == nil || !strings.HasPrefix(err.Error(), "option -p: ") {
				t.Errorf("%q: got %v, %v; want an error", tc.arg, list, err)
			}
			continue
		}
		if err != nil || formatTrusted(list) != tc.want {
			t.Errorf("%q: got %v, %v; want %s", tc.arg, list, err, tc.want)
		}
	}
}

func formatTrusted(list []netip.Prefix) string {
	s := make([]string, len(list))
	for i, p := range list {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func TestTrusted(t *testing.T) {
	list, err := parseTrusted("127.0.0.1,10.0.0.0/8,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"127.0.0.1", true},
		{"127.0.0.2", false},
		{"10.255.0.7", true},
		{"11.0.0.1", false},
		{"::ffff:10.0.0.7", true}, // an unmapped peer is still the IPv4 peer
		{"2001:db8::7", true},
		{"2001:db8::7%eth0", true},
		{"2001:db9::7", false},
		{"::1", false},
		{"", false}, // TCPREMOTEIP unset: not under tcpserver
		{"203.0.113.7 ", false},
		{"not-an-ip", false},
	} {
		if got := trusted(list, tc.ip); got != tc.want {
			t.Errorf("%q: trusted %v, want %v", tc.ip, got, tc.want)
		}
	}
}
