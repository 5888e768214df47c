package listener

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

const servicesText = `# comment
smtp		25/tcp		mail
domain		53/udp
submission	587/tcp				# submission
pop3s		995/tcp		pop-3s	# POP-3 over SSL
bad		x/tcp
odd		70000/tcp
udponly		9/udp		discard
`

func TestLookupService(t *testing.T) {
	for _, tc := range []struct {
		name string
		port int
		ok   bool
	}{
		{"smtp", 25, true}, {"mail", 25, true}, {"submission", 587, true}, {"pop-3s", 995, true},
		{"domain", 0, false}, {"udponly", 0, false}, {"discard", 0, false}, {"bad", 0, false},
		{"odd", 0, false}, {"", 0, false}, {"#", 0, false}, {"comment", 0, false}, {"tcp", 0, false},
	} {
		n, ok := lookupService([]byte(servicesText), tc.name)
		if n != tc.port || ok != tc.ok {
			t.Errorf("%q: got %d %v, want %d %v", tc.name, n, ok, tc.port, tc.ok)
		}
	}
}

func TestResolvePort(t *testing.T) {
	dir := t.TempDir()
	old := servicesFile
	servicesFile = filepath.Join(dir, "services")
	defer func() { servicesFile = old }()
	os.WriteFile(servicesFile, []byte(servicesText), 0o644)
	for _, tc := range []struct {
		in   string
		port int
		ok   bool
	}{
		{"0", 0, true}, {"25", 25, true}, {"65535", 65535, true}, {"smtp", 25, true},
		{"65536", 0, false}, {"-1", 0, false}, {"2x", 0, false}, {"nosuch", 0, false}, {"", 0, false},
		{"99999999999999999999999", 0, false},
	} {
		n, err := resolvePort(tc.in)
		if n != tc.port || (err == nil) != tc.ok {
			t.Errorf("%q: got %d %v", tc.in, n, err)
		}
	}
}

func TestResolveHost(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "0.0.0.0"}, {"0", "0.0.0.0"}, {"127.0.0.1", "127.0.0.1"}, {"::", "::"},
		{"::1", "::1"}, {"::ffff:127.0.0.1", "127.0.0.1"}, {"localhost", ""},
	} {
		a, err := resolveHost(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if tc.want != "" && a != netip.MustParseAddr(tc.want) {
			t.Errorf("%q: got %v, want %s", tc.in, a, tc.want)
		}
	}
	for _, bad := range []string{"a b", "1.2.3.4/8", "no-such-host.invalid"} {
		if _, err := resolveHost(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
