package listener

import (
	"net/netip"
	"reflect"
	"testing"

	"github.com/tlschain/tlschain/pkg/logline"
)

func TestEnv(t *testing.T) {
	o := &Options{level: logline.Normal}
	base := baseEnv([]string{"PATH=/bin", "TCPREMOTEHOST=stale", "TCPREMOTEINFO=x", "PROTO=SSL",
		"LISTEN_FDS=1", "LISTEN_PID=9", "KEEP=1", "TCP6REMOTEIP=::1"}, o)
	if want := []string{"PATH=/bin", "KEEP=1", "PROTO=TCP"}; !reflect.DeepEqual(base, want) {
		t.Fatalf("base %q, want %q", base, want)
	}
	c := &Conn{
		local:  netip.MustParseAddrPort("127.0.0.1:25"),
		remote: netip.MustParseAddrPort("127.0.0.2:4000"),
		others: 2,
	}
	env := connEnv(base, c, []string{"TCPREMOTEIP=10.0.0.1", "KEEP=2", "NEW=", "bad", "=x"})
	want := []string{"PATH=/bin", "KEEP=2", "PROTO=TCP", "TCPLOCALIP=127.0.0.1", "TCPLOCALPORT=25",
		"TCPREMOTEIP=10.0.0.1", "TCPREMOTEPORT=4000", "TCPCONNNUM=2", "NEW="}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env %q, want %q", env, want)
	}
	if base[1] != "KEEP=1" {
		t.Fatal("connEnv changed the base")
	}
	c.remoteHost = "h.example"
	o.localHost, o.hasLocalHost = "me", true
	env = connEnv(baseEnv(nil, o), c, nil)
	want = []string{"PROTO=TCP", "TCPLOCALHOST=me", "TCPLOCALIP=127.0.0.1", "TCPLOCALPORT=25",
		"TCPREMOTEIP=127.0.0.2", "TCPREMOTEPORT=4000", "TCPCONNNUM=2", "TCPREMOTEHOST=h.example"}
	if !reflect.DeepEqual(env, want) {
		t.Fatalf("env %q, want %q", env, want)
	}
}

func TestLimits(t *testing.T) {
	l := newLimits(3, 2)
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, want := range []struct {
		ip     netip.Addr
		others int
		ok     bool
	}{{a, 0, true}, {a, 1, true}, {a, 2, false}, {b, 0, true}} {
		others, ok := l.take(want.ip)
		if others != want.others || ok != want.ok {
			t.Fatalf("take %d: %d %v", i, others, ok)
		}
	}
	if !l.full() {
		t.Fatal("3 of 3 live, not full")
	}
	if live := l.release(a); live != 2 || l.full() {
		t.Fatalf("after release: live %d", live)
	}
	l.release(a)
	l.release(b)
	if len(l.perIP) != 0 || l.live != 0 {
		t.Fatalf("leftovers %v %d", l.perIP, l.live)
	}
	u := newLimits(1, 0)
	for i := 0; i < 5; i++ {
		if _, ok := u.take(a); !ok {
			t.Fatal("-C 0 limited")
		}
	}
}
