package tlsadns

import (
	"encoding/binary"
	"testing"
)

// reply builds a DNS reply to query q with flags and TLSA answers (name
// as a pointer to the question).
func reply(q []byte, flags uint16, rdata ...[]byte) []byte {
	b := append([]byte(nil), q...)
	binary.BigEndian.PutUint16(b[2:], 0x8000|flags)
	binary.BigEndian.PutUint16(b[6:], uint16(len(rdata)))
	for _, rd := range rdata {
		b = append(b, 0xc0, 12, 0, typeTLSA, 0, classIN, 0, 0, 1, 0, byte(len(rd)>>8), byte(len(rd)))
		b = append(b, rd...)
	}
	return b
}

func TestQueryAndReply(t *testing.T) {
	q, err := buildQuery(0x1234, "_25._tcp.mx.example.")
	if err != nil {
		t.Fatal(err)
	}
	want := "\x124\x01\x20\x00\x01\x00\x00\x00\x00\x00\x00\x03_25\x04_tcp\x02mx\x07example\x00\x00\x34\x00\x01"
	if string(q) != want {
		t.Fatalf("query %q", q)
	}
	rd := append([]byte{3, 1, 1}, make([]byte, 32)...)
	a, err := parseReply(reply(q, flagAD, rd, []byte{1, 2}), 0x1234)
	if err != nil || !a.ad || a.rcode != 0 || len(a.records) != 1 || a.records[0].Usage != 3 || len(a.records[0].Data) != 32 {
		t.Fatalf("%+v %v", a, err)
	}
	if a, err := parseReply(reply(q, 3), 0x1234); err != nil || a.ad || a.rcode != 3 {
		t.Fatalf("NXDOMAIN: %+v %v", a, err)
	}
	for name, msg := range map[string][]byte{
		"other id":  reply(q, 0)[:],
		"short":     q[:5],
		"truncated": reply(q, flagTC),
		"cut rdata": reply(q, flagAD, rd)[:len(q)+20],
	} {
		id := uint16(0x1234)
		if name == "other id" {
			id = 1
		}
		if _, err := parseReply(msg, id); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, bad := range []string{"", "a..b", "a b", string(make([]byte, 300))} {
		if _, err := buildQuery(1, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseReply(f *testing.F) {
	q, _ := buildQuery(7, "_25._tcp.mx.example")
	f.Add(reply(q, flagAD, append([]byte{3, 1, 1}, make([]byte, 32)...)))
	f.Add(reply(q, 3))
	f.Add(q)
	f.Fuzz(func(t *testing.T, msg []byte) {
		a, err := parseReply(msg, binary.BigEndian.Uint16(append(msg, 0, 0)))
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
	})
}
