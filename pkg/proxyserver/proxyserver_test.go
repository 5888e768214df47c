package proxyserver

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
		{"prog", "", config{versions: proxyproto.Both, timeout: 5000, verbose: 1}},
		{"-1 -t 0 prog -2", "", config{versions: proxyproto.V1, timeout: 0, verbose: 1}},
		{"--only-v2 -osv --after-tlsd prog", "conflict", config{}},
		{"-2qs -t100 --after-tlsd prog", "", config{versions: proxyproto.V2, timeout: 100, sslVars: true, position: afterTLSD, verbose: 0}},
		{"-o --before-tlsd prog", "", config{versions: proxyproto.Both, timeout: 5000, optional: true, position: beforeTLSD, verbose: 1}},
		{"-s --before-tlsd prog", "conflict", config{}},
		{"-t -1 prog", "needs a number", config{}},
		{"-t 86400001 prog", "needs a number", config{}},
		{"-t", "needs", config{}},
		{"-x prog", "-x", config{}},
		{"-1", "no program", config{}},
		{"--later-tlsd prog", "later-tlsd", config{}},
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
		a.sslVars == b.sslVars && a.position == b.position && a.verbose == b.verbose
}

func TestApplyHeader(t *testing.T) {
	base := []string{"PROTO=TCP", "TCPREMOTEIP=10.0.0.1", "TCPREMOTEPORT=40000", "TCPLOCALIP=10.0.0.2",
		"TCPLOCALPORT=25", "TCPREMOTEHOST=proxy.example", "TCPREMOTEINFO=x", "PROXYREMOTEIP=stale",
		"SSL_PROTOCOL=stale", "SSL_PEER_CERT_HASH=stale", "KEEP=1"}
	ssl := &proxyproto.SSL{Client: proxyproto.ClientSSL | proxyproto.ClientCertConn, Version: "TLSv1.3",
		Cipher: "TLS_AES_256_GCM_SHA384", CN: "alice"}
	proxied := &proxyproto.Header{Version: 2, Command: proxyproto.CmdProxy, Family: proxyproto.FamInet6,
		Src: netip.MustParseAddrPort("[::ffff:192.0.2.7]:5000"), Dst: netip.MustParseAddrPort("[2001:db8::1]:587"),
		Authority: "mx.example", ALPN: "smtp", SSL: ssl}
	for _, tc := range []struct {
		name string
		h    *proxyproto.Header
		ssl  bool
		want []string
	}{
		{"proxied", proxied, false, []string{"PROTO=TCP", "TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=5000",
			"TCPLOCALIP=2001:db8::1", "TCPLOCALPORT=587", "SSL_PROTOCOL=stale", "SSL_PEER_CERT_HASH=stale", "KEEP=1",
			"PROXYREMOTEIP=10.0.0.1", "PROXYREMOTEPORT=40000"}},
		{"proxied -s", proxied, true, []string{"PROTO=TCP", "TCPREMOTEIP=192.0.2.7", "TCPREMOTEPORT=5000",
			"TCPLOCALIP=2001:db8::1", "TCPLOCALPORT=587", "KEEP=1", "PROXYREMOTEIP=10.0.0.1", "PROXYREMOTEPORT=40000",
			"SSL_PROTOCOL=TLSv1.3", "SSL_CIPHER=TLS_AES_256_GCM_SHA384", "SSL_CLIENT_S_DN_CN=alice",
			"SSL_TLS_SNI_SERVERNAME=mx.example", "SSL_ALPN=smtp", "SSL_CLIENT_VERIFY=SUCCESS"}},
		{"local -s", &proxyproto.Header{Version: 2, Command: proxyproto.CmdLocal}, true, []string{"PROTO=TCP",
			"TCPREMOTEIP=10.0.0.1", "TCPREMOTEPORT=40000", "TCPLOCALIP=10.0.0.2", "TCPLOCALPORT=25",
			"TCPREMOTEHOST=proxy.example", "TCPREMOTEINFO=x", "KEEP=1"}},
	} {
		e := ucspi.NewEnv(slices.Clone(base))
		applyHeader(e, tc.h, tc.ssl)
		got := slices.Clone(e.Environ())
		slices.Sort(got)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, want)
		}
	}
}
