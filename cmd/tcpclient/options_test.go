package main

import (
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

var argTests = []struct {
	name  string
	args  string // space-separated
	ok    bool
	check func(c config) bool
}{
	{"minimal", "h 25 prog", true, func(c config) bool {
		return c.host == "h" && c.remotePort == 25 && len(c.prog) == 1 && c.first == 2*time.Second && c.second == 58*time.Second &&
			!c.delay && !c.lookup && c.verbosity == normal && c.family == familyAny
	}},
	{"prog args", "h 25 prog -x y", true, func(c config) bool { return strings.Join(c.prog, " ") == "prog -x y" }},
	{"ucspi-tcp style", "-RHl0 mx 25 qmail-remote", true, func(c config) bool { return c.localHostOK && c.localHost == "0" && !c.lookup }},
	{"-h then -H", "-hH h 25 p", true, func(c config) bool { return !c.lookup }},
	{"-h", "-h h 25 p", true, func(c config) bool { return c.lookup }},
	{"-h alone is help", "-h", false, nil},
	{"-d", "-d h 25 p", true, func(c config) bool { return c.delay }},
	{"-dD", "-dD h 25 p", true, func(c config) bool { return !c.delay }},
	{"-4", "-4 h 25 p", true, func(c config) bool { return c.family == family4 }},
	{"-6", "-6 h 25 p", true, func(c config) bool { return c.family == family6 }},
	{"-i sets family", "-i ::1 h 25 p", true, func(c config) bool { return c.family == family6 && c.localIP == netip.IPv6Loopback() }},
	{"-i mapped", "-i ::ffff:127.0.0.1 h 25 p", true, func(c config) bool { return c.family == family4 }},
	{"-i vs -6", "-6 -i 127.0.0.1 h 25 p", false, nil},
	{"-i bad", "-i localhost h 25 p", false, nil},
	{"-p", "-p 25 h 25 p", true, func(c config) bool { return c.localPort == 25 }},
	{"-p 0", "-p 0 h 25 p", true, func(c config) bool { return c.localPort == 0 }},
	{"-p big", "-p 65536 h 25 p", false, nil},
	{"-T x", "-T 5 h 25 p", true, func(c config) bool { return c.first == 5*time.Second && c.second == 58*time.Second }},
	{"-T x+y", "-T 1+0 h 25 p", true, func(c config) bool { return c.first == time.Second && c.second == 0 }},
	{"-T ms", "-T 0.25+1.5 h 25 p", true, func(c config) bool { return c.first == 250*time.Millisecond && c.second == 1500*time.Millisecond }},
	{"-T 0", "-T 0 h 25 p", false, nil},
	{"-T neg", "-T -1 h 25 p", false, nil},
	{"-T junk", "-T 1+x h 25 p", false, nil},
	{"-T 4 decimals", "-T 0.0001 h 25 p", false, nil},
	{"-T huge", "-T 999999 h 25 p", false, nil},
	{"-q", "-q h 25 p", true, func(c config) bool { return c.verbosity == quiet }},
	{"-v", "-v h 25 p", true, func(c config) bool { return c.verbosity == verbose }},
	{"-u", "-u nobody h 25 p", true, func(c config) bool { return c.ids.User == "nobody" }},
	{"-U -G", "-U -G 1,2 h 25 p", true, func(c config) bool { return c.ids.FromEnv && c.ids.Groups == "1,2" }},
	{"bad user syntax", "-u a:b h 25 p", false, nil},
	{"service name", "h smtp p", true, func(c config) bool { return c.remotePort == 25 }},
	{"port 0", "h 0 p", false, nil},
	{"port big", "h 65536 p", false, nil},
	{"bad service", "h no/such p", false, nil},
	{"unknown service", "h nosuchservicename p", false, nil},
	{"no prog", "h 25", false, nil},
	{"nothing", "", false, nil},
	{"unknown option", "-z h 25 p", false, nil},
	{"-r unsupported", "-r h 25 p", false, nil},
	{"missing arg", "-T", false, nil},
	{"dashdash", "-- -h 25 p", true, func(c config) bool { return c.host == "-h" && !c.lookup }},
}

func TestParseArgs(t *testing.T) {
	for _, tc := range argTests {
		c, err := parseArgs(strings.Fields(tc.args))
		if (err == nil) != tc.ok {
			t.Errorf("%s: %q: err %v", tc.name, tc.args, err)
			continue
		}
		if err == nil && !tc.check(c) {
			t.Errorf("%s: %q: got %+v", tc.name, tc.args, c)
		}
	}
}

func TestResolveNumeric(t *testing.T) {
	for _, tc := range []struct {
		host   string
		family int
		want   string
		code   int
	}{
		{"0", familyAny, "127.0.0.1", 0},
		{"", familyAny, "127.0.0.1", 0},
		{"0", family6, "::1", 0},
		{"192.0.2.7", familyAny, "192.0.2.7", 0},
		{"::ffff:192.0.2.7", familyAny, "192.0.2.7", 0},
		{"2001:db8::1", familyAny, "2001:db8::1", 0},
		{"2001:db8::1", family4, "", exitcode.Usage},
		{"192.0.2.7", family6, "", exitcode.Usage},
	} {
		ips, err := resolve(tc.host, tc.family)
		if exitcode.Code(err) != tc.code {
			t.Errorf("resolve(%q, %d): %v", tc.host, tc.family, err)
			continue
		}
		if err == nil && (len(ips) != 1 || ips[0].String() != tc.want) {
			t.Errorf("resolve(%q, %d) = %v, want %s", tc.host, tc.family, ips, tc.want)
		}
	}
}

func TestEnviron(t *testing.T) {
	cfg, err := parseArgs([]string{"-U", "-l", "me.example", "h", "25", "p"})
	if err != nil {
		t.Fatal(err)
	}
	in := []string{"PATH=/bin", "TCPREMOTEINFO=stale", "TCPREMOTEHOST=stale", "TCPCONNNUM=3", "TCP6REMOTEIP=::1", "UID=1", "GID=1", "GIDLIST=", "PROTO=SSL", "CONNPID=1"}
	local := netip.MustParseAddrPort("127.0.0.1:40000")
	remote := netip.MustParseAddrPort("[::1]:25")
	got := strings.Join(environ(&cfg, in, local, remote), " ")
	want := "PATH=/bin PROTO=TCP TCPLOCALIP=127.0.0.1 TCPLOCALPORT=40000 TCPREMOTEIP=::1 TCPREMOTEPORT=25 CONNPID=" + strconv.Itoa(os.Getpid()) + " TCPLOCALHOST=me.example"
	if got != want {
		t.Errorf("environ:\n got %s\nwant %s", got, want)
	}
}

func TestMainUsage(t *testing.T) {
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	for _, args := range [][]string{
		{"tcpclient"},
		{"tcpclient", "h", "25"},
		{"tcpclient", "-z", "h", "25", "p"},
		{"tcpclient", "-T", "x", "h", "25", "p"},
	} {
		if code := run(args, nil); code != exitcode.Usage {
			t.Errorf("run(%q) = %d, want 100", args, code)
		}
	}
}
