package keysign

import (
	"bytes"
	"crypto"
	"testing"
)

// FuzzReadMessage: no panic, an accepted message round-trips, and memory
// stays bounded by what was received (a big announced length with little
// data allocates little).
func FuzzReadMessage(f *testing.F) {
	for _, tc := range frameTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		typ, data, err := ReadMessage(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(data) > MaxMessage || cap(data) > len(in)+64<<10 {
			t.Fatalf("data %d bytes, cap %d, from %d input bytes", len(data), cap(data), len(in))
		}
		var b bytes.Buffer
		if err := WriteMessage(&b, typ, data); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), in[:b.Len()]) {
			t.Fatalf("round trip differs")
		}
	})
}

// FuzzReadSetup: no panic on any byte stream, and an accepted setup
// re-encodes to a stream that parses to the same setup.
func FuzzReadSetup(f *testing.F) {
	var b bytes.Buffer
	WriteSetup(&b, &Setup{Pairs: []Pair{{Name: "a", CertPEM: []byte("x")}}, CAs: [][]byte{[]byte("ca")}, OCSP: []byte("o"), TicketKeys: make([]byte, 32)})
	f.Add(b.Bytes())
	f.Add([]byte{'E', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ReadSetupFrom(bytes.NewReader(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteSetup(&b, s); err != nil {
			t.Fatal(err)
		}
		s2, err := ReadSetupFrom(&b)
		if err != nil || len(s2.Pairs) != len(s.Pairs) || len(s2.CAs) != len(s.CAs) {
			t.Fatalf("re-encoded setup: %v", err)
		}
	})
}

// FuzzSign: the holder's request checker never panics and refuses what
// it cannot sign.
func FuzzSign(f *testing.F) {
	f.Add([]byte{0, 0, 5, 0, 1, 2, 3})
	f.Add([]byte{0, 1, 5, 1})
	f.Add([]byte{0, 2, 0, 0, 'm'})
	k := &Keys{signers: []crypto.Signer{ecKey, rsaKey, edKey}}
	f.Fuzz(func(t *testing.T, req []byte) {
		sig, err := k.sign(req)
		if err == nil && len(sig) == 0 {
			t.Fatal("empty signature without an error")
		}
	})
}
