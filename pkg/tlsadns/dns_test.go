package tlsadns

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// rr is one answer record for build: owner in wire form (wire or ptr).
type rr struct {
	owner []byte
	typ   uint16
	rdata []byte
}

// ptr points at the question's name (offset 12).
var ptr = []byte{0xc0, 12}

// wire returns name in wire form, without compression.
func wire(name string) []byte {
	var b []byte
	for _, l := range strings.Split(name, ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// tlsa is a TLSA record for owner with a 32-byte digest.
func tlsa(owner []byte) rr {
	return rr{owner, typeTLSA, append([]byte{3, 1, 1}, make([]byte, 32)...)}
}

// build returns a reply to query q with flags and answers.
func build(q []byte, flags uint16, answers ...rr) []byte {
	b := append([]byte(nil), q...)
	binary.BigEndian.PutUint16(b[2:], 0x8000|flags)
	binary.BigEndian.PutUint16(b[6:], uint16(len(answers)))
	for _, a := range answers {
		b = append(b, a.owner...)
		b = binary.BigEndian.AppendUint16(b, a.typ)
		b = append(b, 0, classIN, 0, 0, 1, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(a.rdata)))
		b = append(b, a.rdata...)
	}
	return b
}

// edit returns a copy of msg changed by f.
func edit(msg []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), msg...)) }

func TestBuildQuery(t *testing.T) {
	q, err := buildQuery(0x1234, "_25._tcp.mx.example.")
	if err != nil {
		t.Fatal(err)
	}
	want := "\x124\x01\x20\x00\x01\x00\x00\x00\x00\x00\x00\x03_25\x04_tcp\x02mx\x07example\x00\x00\x34\x00\x01"
	if string(q) != want {
		t.Fatalf("query %q", q)
	}
	for _, bad := range []string{"", "a..b", "a b", string(make([]byte, 300))} {
		if _, err := buildQuery(1, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// replyTests are replies to the query for _25._tcp.mx.example with id
// 0x1234, and what parseReply must make of them.
var replyTests = func() []struct {
	name    string
	msg     []byte
	err     error // nil: taken
	records int
} {
	q, _ := buildQuery(0x1234, "_25._tcp.mx.example")
	qlen := len(q)
	t1, t2 := wire("t1.example"), wire("t2.example")
	return []struct {
		name    string
		msg     []byte
		err     error
		records int
	}{
		{"tlsa", build(q, flagAD, tlsa(ptr), rr{ptr, typeTLSA, []byte{1, 2}}), nil, 1},
		{"nxdomain", build(q, flagAD|3), nil, 0},
		{"owner in capitals", build(q, flagAD, tlsa(wire("_25._TCP.MX.Example"))), nil, 1},
		{"question in capitals (0x20)", edit(build(q, flagAD, tlsa(ptr)), func(b []byte) []byte {
			copy(b[17:], "_TCP")
			return b
		}), nil, 1},
		{"cname chain", build(q, flagAD, rr{ptr, typeCNAME, t1}, rr{t1, typeCNAME, t2}, tlsa(t2)), nil, 1},
		{"cname chain out of order", build(q, flagAD, tlsa(t2), rr{t1, typeCNAME, t2}, rr{ptr, typeCNAME, t1}), nil, 1},
		{"cname to nothing", build(q, flagAD|3, rr{ptr, typeCNAME, t1}), nil, 0},
		{"dname skipped", build(q, flagAD, rr{wire("example"), 39, wire("example.net")}, tlsa(ptr)), nil, 1},
		{"other class skipped", edit(build(q, flagAD, tlsa(t1)), func(b []byte) []byte {
			b[qlen+len(t1)+3] = 3
			return b
		}), nil, 0},

		{"other id", build(q, flagAD, tlsa(ptr)), errID, 0}, // parsed with id 0x1235 below
		{"not a reply", edit(build(q, flagAD, tlsa(ptr)), func(b []byte) []byte { b[2] &^= 0x80; return b }), errID, 0},
		{"truncated for another id", edit(build(q, flagTC), func(b []byte) []byte { b[1]++; return b }), errID, 0},
		{"other question name", edit(build(q, flagAD, tlsa(ptr)), func(b []byte) []byte { b[22] = 'n'; return b }), errQuestion, 0},
		{"other question type", edit(build(q, flagAD, tlsa(ptr)), func(b []byte) []byte { b[qlen-3] = 1; return b }), errQuestion, 0},
		{"other question class", edit(build(q, flagAD, tlsa(ptr)), func(b []byte) []byte { b[qlen-1] = 3; return b }), errQuestion, 0},
		{"no question", append(edit(q[:12], func(b []byte) []byte { b[2], b[5] = 0x80, 0; return b }), 0), errQuestion, 0},
		{"two questions", edit(build(q, flagAD), func(b []byte) []byte { b[5] = 2; return append(b, q[12:]...) }), errQuestion, 0},
		{"tlsa of another name", build(q, flagAD, tlsa(wire("_25._tcp.evil.example"))), errOwner, 0},
		{"tlsa beside another name's", build(q, flagAD, tlsa(ptr), tlsa(t1)), errOwner, 0},
		{"tlsa at the alias", build(q, flagAD, rr{ptr, typeCNAME, t1}, tlsa(ptr)), errOwner, 0},
		{"cname off the chain", build(q, flagAD, rr{t1, typeCNAME, t2}, tlsa(t2)), errOwner, 0},
		{"cname loop", build(q, flagAD, rr{ptr, typeCNAME, t1}, rr{t1, typeCNAME, wire("_25._tcp.mx.example")}, tlsa(t1)), errOwner, 0},
		{"two cnames for one name", build(q, flagAD, rr{ptr, typeCNAME, t1}, rr{ptr, typeCNAME, t2}, tlsa(t1)), errOwner, 0},
		{"cname with trailing rdata", build(q, flagAD, rr{ptr, typeCNAME, append(t1, 0)}, tlsa(t1)), errOwner, 0},
		{"truncated", build(q, flagTC), errTruncated, 0},
		{"short", q[:5], errShort, 0},
		{"cut rdata", build(q, flagAD, tlsa(ptr))[:qlen+20], errShort, 0},
		{"pointer loop", build(q, flagAD, tlsa([]byte{0xc0, byte(qlen)})), errPointer, 0},
		{"name too long", build(q, flagAD, tlsa(wire(strings.Repeat("a.", 127)+"a"))), errLong, 0},
	}
}()

func TestParseReply(t *testing.T) {
	q, _ := buildQuery(0x1234, "_25._tcp.mx.example")
	for _, tc := range replyTests {
		query := q
		if tc.name == "other id" {
			query = edit(q, func(b []byte) []byte { b[1]++; return b })
		}
		a, err := parseReply(tc.msg, query)
		if err != tc.err {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err == nil && (len(a.records) != tc.records || !a.ad) {
			t.Errorf("%s: %+v", tc.name, a)
		}
	}
	a, err := parseReply(build(q, 3), q)
	if err != nil || a.ad || a.rcode != 3 {
		t.Errorf("NXDOMAIN without AD: %+v %v", a, err)
	}
}

// fakeResolver answers each query on 127.0.0.1 with the datagrams
// replies makes of it, in order, and returns its address.
func fakeResolver(t *testing.T, replies func(q []byte) [][]byte) netip.AddrPort {
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
			for _, r := range replies(append([]byte(nil), buf[:n]...)) {
				pc.WriteTo(r, from)
			}
		}
	}()
	return pc.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestLookupIgnoresForeign: datagrams that are not the reply to the
// query (another id, another question, an answer for another name) are
// ignored and the real reply that follows them is taken; with nothing
// but those, the lookup times out and says what it ignored.
func TestLookupIgnoresForeign(t *testing.T) {
	forged := map[string]func(q []byte) []byte{
		"other id": func(q []byte) []byte {
			return edit(build(q, flagAD, tlsa(ptr), tlsa(ptr)), func(b []byte) []byte { b[0] ^= 0x55; return b })
		},
		"other question": func(q []byte) []byte {
			return edit(build(q, flagAD, tlsa(ptr), tlsa(ptr)), func(b []byte) []byte { b[14] = '6'; return b })
		},
		"other owner": func(q []byte) []byte {
			return build(q, flagAD, tlsa(wire("_25._tcp.evil.example")), tlsa(wire("_25._tcp.evil.example")))
		},
	}
	for name, forge := range forged {
		t.Run(name, func(t *testing.T) {
			ap := fakeResolver(t, func(q []byte) [][]byte { return [][]byte{forge(q), build(q, flagAD, tlsa(ptr))} })
			a, err := Lookup(ap, "_25._tcp.mx.example", 5*time.Second)
			if err != nil || len(a.Records) != 1 {
				t.Fatalf("took %+v, %v; want the one record of the real reply", a, err)
			}
			ap = fakeResolver(t, func(q []byte) [][]byte { return [][]byte{forge(q)} })
			a, err = Lookup(ap, "_25._tcp.mx.example", 200*time.Millisecond)
			if err == nil || !strings.HasPrefix(err.Error(), "timed out, ignored a datagram: ") {
				t.Fatalf("only forged replies: %+v, %v", a, err)
			}
		})
	}
}

// TestQueryIDs: query ids are not a clock's. Ids taken from a clock (or
// a counter, even XORed with the pid) within a few milliseconds mostly
// agree in their top two bits; two random ids do with odds 1/4, and 24 or
// more of 31 pairs of random ids with odds near 10^-9. Checked on newID
// and on the ids a resolver sees.
func TestQueryIDs(t *testing.T) {
	var direct []uint16
	for i := 0; i < 32; i++ {
		direct = append(direct, newID())
	}
	var mu sync.Mutex
	var seen []uint16
	ap := fakeResolver(t, func(q []byte) [][]byte {
		mu.Lock()
		seen = append(seen, binary.BigEndian.Uint16(q))
		mu.Unlock()
		return [][]byte{build(q, flagAD)}
	})
	for i := 0; i < 32; i++ {
		if _, err := Lookup(ap, "_25._tcp.mx.example", 5*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for name, ids := range map[string][]uint16{"newID": direct, "queries": seen} {
		same := 0
		for i := 1; i < len(ids); i++ {
			if (ids[i]^ids[i-1])>>14 == 0 {
				same++
			}
		}
		if len(ids) != 32 || same >= 24 {
			t.Errorf("%s: %d of %d ids share the previous one's top bits: %v", name, same, len(ids)-1, ids)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	for _, tc := range replyTests {
		f.Add(tc.msg)
	}
	q, _ := buildQuery(0x1234, "_25._tcp.mx.example")
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, err := parseReply(msg, q)
		if err != nil {
			return
		}
		if len(a.records) > 64 {
			t.Fatalf("%d records", len(a.records))
		}
		for _, r := range a.records {
			if len(r.Data) > len(msg) {
				t.Fatal("data longer than the message")
			}
		}
		if binary.BigEndian.Uint16(msg) != 0x1234 || msg[2]&0x80 == 0 || msg[2]&2 != 0 {
			t.Fatalf("took a datagram with id %#x flags %#x", binary.BigEndian.Uint16(msg), msg[2])
		}
	})
}
