package keysign

import (
	"bytes"
	"crypto"
	"os"
	"testing"

	"golang.org/x/sys/unix"
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
	WriteSetup(&b, &Setup{Pairs: []Pair{{Name: "a", CertPEM: []byte("x")}}, CAs: [][]byte{[]byte("ca")}, OCSP: []byte("o"), Tickets: true})
	f.Add(b.Bytes())
	f.Add([]byte{'E', 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := ReadSetup(bytes.NewReader(in))
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteSetup(&b, s); err != nil {
			t.Fatal(err)
		}
		s2, err := ReadSetup(&b)
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

// FuzzRecvNetwork: any bytes on the key channel, with or without an fd
// attached, give a socket and variables or an error; never a panic, never
// a leaked fd.
func FuzzRecvNetwork(f *testing.F) {
	f.Add([]byte("N\x00\x00\x00\x1aTCPREMOTEIP=192.0.2.7\x00A=b\x00"), true)
	f.Add([]byte("N\x00\x00\x00\x00"), true)
	f.Add([]byte("N\x00\x00\x00\x05ab"), true)
	f.Add([]byte("s\x00\x00\x00\x00"), true)
	f.Add([]byte("N\x00\x00\x10\x00"), false)
	f.Fuzz(func(t *testing.T, in []byte, withFD bool) {
		if len(in) == 0 || len(in) > 8192 {
			return
		}
		sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Skip(err)
		}
		defer unix.Close(sp[1])
		var rights []byte
		if withFD {
			// Not a copy of the channel itself: that would keep it open.
			var p [2]int
			if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
				t.Skip(err)
			}
			defer unix.Close(p[0])
			defer unix.Close(p[1])
			rights = unix.UnixRights(p[1])
		}
		if _, err := unix.SendmsgN(sp[0], in, rights, nil, 0); err != nil {
			unix.Close(sp[0])
			return
		}
		unix.Close(sp[0])
		before := openFDs()
		fd, vars, err := RecvNetwork(sp[1])
		if err != nil {
			if n := openFDs(); n != before {
				t.Fatalf("error %v left %d fds open, %d before", err, n, before)
			}
			return
		}
		defer unix.Close(fd)
		if in[0] != TypeNetwork {
			t.Fatalf("type %q accepted", in[0])
		}
		for _, v := range vars {
			if v == "" || bytes.IndexByte([]byte(v), 0) >= 0 {
				t.Fatalf("variable %q", v)
			}
		}
	})
}

// openFDs counts this process's open fds.
func openFDs() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// FuzzSealerOpen: a ticket from the network (a client's, so anyone's)
// never panics the holder, and nothing but a sealed ticket opens.
func FuzzSealerOpen(f *testing.F) {
	s, err := NewSealer(bytes.Repeat([]byte{9}, 64))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(s.Seal([]byte("state")))
	f.Add([]byte{})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, ticket []byte) {
		state, ok := s.Open(ticket)
		if ok && !bytes.Equal(s.Seal(state)[:ticketName], ticket[:ticketName]) {
			t.Fatalf("opened %q under a name no key has", ticket)
		}
	})
}
