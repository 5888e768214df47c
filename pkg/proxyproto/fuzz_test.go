package proxyproto

import (
	"bytes"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func FuzzParseV1(f *testing.F) {
	for _, tc := range v1Tests {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseV1(b)
		if err != nil {
			return
		}
		if len(b) > MaxV1Len {
			t.Fatalf("accepted %d bytes", len(b))
		}
		enc := AppendV1(nil, h)
		h2, err := ParseV1(enc)
		if err != nil || !h2.Equal(h) {
			t.Fatalf("%q: re-encoded as %q, parsed as %+v, %v", b, enc, h2, err)
		}
		checkRead(t, b, h)
	})
}

func FuzzParseV2(f *testing.F) {
	for _, tc := range v2Tests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseV2(b)
		if err != nil {
			return
		}
		if len(b) > V2FixedLen+MaxV2Len {
			t.Fatalf("accepted %d bytes", len(b))
		}
		enc := AppendV2(nil, h)
		h2, err := ParseV2(enc)
		if err != nil || !h2.Equal(h) {
			t.Fatalf("%q: re-encoded as %q, parsed as %+v, %v", b, enc, h2, err)
		}
		checkRead(t, b, h)
	})
}

// checkRead feeds a header that parsed, plus trailing bytes, through Read
// on a pipe: Read must return the same header and leave the trailing
// bytes unread.
func checkRead(t *testing.T, b []byte, h *Header) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	// A pipe holds 64 KiB: the header and the tail fit without a reader.
	unix.Write(p[1], append(append([]byte(nil), b...), "TAIL"...))
	got, raw, err := Read(p[0], Both, time.Now().Add(10*time.Second))
	if err != nil || !got.Equal(h) || !bytes.Equal(raw, b) {
		t.Fatalf("%q: Read gave %+v %q %v", b, got, raw, err)
	}
	tail := make([]byte, 8)
	n, _ := unix.Read(p[0], tail)
	if string(tail[:n]) != "TAIL" {
		t.Fatalf("%q: left %q after the header", b, tail[:n])
	}
}
