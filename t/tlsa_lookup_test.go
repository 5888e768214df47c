package t

import (
	"net"
	"strings"
	"testing"
)

// spoofDNS is a resolver on 127.0.0.1 that answers each TLSA query with
// the datagrams replies makes of the query (its id, flags and question,
// up to the question's end), in order.
func spoofDNS(t *testing.T, replies func(q []byte) [][]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			end := 12
			for end < n && q[end] != 0 {
				end += int(q[end]) + 1
			}
			end += 5
			if end > n {
				continue
			}
			for _, r := range replies(append([]byte(nil), q[:end]...)) {
				pc.WriteTo(r, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// dnsReply turns question q into a NOERROR reply with the AD bit and one
// TLSA record "3 1 1" + digest owned by owner (wire form; nil: a pointer
// to the question), or no record when digest is nil.
func dnsReply(q []byte, owner []byte, digest []byte) []byte {
	b := append([]byte(nil), q...)
	b[2], b[3] = 0x81, 0xa0 // QR RD, RA AD
	if digest == nil {
		return b
	}
	if owner == nil {
		owner = []byte{0xc0, 12}
	}
	b[7] = 1
	rd := append([]byte{3, 1, 1}, digest...)
	b = append(b, owner...)
	return append(append(b, 0, 52, 0, 1, 0, 0, 1, 0, 0, byte(len(rd))), rd...)
}

// TestTLSALookupSpoofed: a datagram that is not the resolver's reply to
// tlsa-lookup's query — another query id, another question, or a TLSA
// record of another name — is ignored, even with the AD bit, and the real
// reply that follows it is used; when nothing but such datagrams comes,
// the lookup fails (111) instead of taking one. An off-path attacker who
// cannot see the query thus cannot turn DANE off (a forged "no records")
// or put their own key in TLSA.
func TestTLSALookupSpoofed(t *testing.T) {
	real := make([]byte, 32)
	evil := []byte(strings.Repeat("\xee", 32))
	show := []string{"sh", "-c", `echo "TLSA=${TLSA-unset}"`}
	otherID := func(q []byte) []byte { q = append([]byte(nil), q...); q[0] ^= 0xff; return q }
	otherName := func(q []byte) []byte { q = append([]byte(nil), q...); q[22] = 'n'; return q } // _25._tcp.nx.example
	evilOwner := []byte("\x03_25\x04_tcp\x04evil\x07example\x00")
	for _, tc := range []struct {
		name   string
		forged func(q []byte) []byte
		ignore string // the reason in the timeout message
	}{
		{"other id, no records", func(q []byte) []byte { return dnsReply(otherID(q), nil, nil) }, "DNS reply for another query"},
		{"other id, evil key", func(q []byte) []byte { return dnsReply(otherID(q), nil, evil) }, "DNS reply for another query"},
		{"other question", func(q []byte) []byte { return dnsReply(otherName(q), nil, evil) }, "DNS reply for another question"},
		{"other owner", func(q []byte) []byte { return dnsReply(q, evilOwner, evil) }, "DNS answer off the query's name and CNAME chain"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := spoofDNS(t, func(q []byte) [][]byte { return [][]byte{tc.forged(q), dnsReply(q, nil, real)} })
			r := run(t, baseEnv(), "", bin("tlsa-lookup"), append([]string{"-r", addr, "-t", "5", "mx.example"}, show...)...)
			if want := "TLSA=3 1 1 " + strings.Repeat("00", 32) + "\n"; r.Code != 0 || r.Stdout != want {
				t.Errorf("forged then real: exit %d stdout %q, want %q; stderr %s", r.Code, r.Stdout, want, r.Stderr)
			}
			addr = spoofDNS(t, func(q []byte) [][]byte { return [][]byte{tc.forged(q)} })
			r = run(t, baseEnv(), "", bin("tlsa-lookup"), append([]string{"-r", addr, "-t", "1", "mx.example"}, show...)...)
			want := fatalLine("tlsa-lookup", 111, "unable to look up TLSA _25._tcp.mx.example at "+addr+": timed out, ignored a datagram: "+tc.ignore)
			if r.Code != 111 || r.Stdout != "" || r.Stderr != want {
				t.Errorf("forged only: exit %d stdout %q stderr %q, want 111 and %q", r.Code, r.Stdout, r.Stderr, want)
			}
		})
	}
}
