package proxyproto

import (
	"bytes"
	"errors"
	"hash/crc32"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

var v1Tests = []struct {
	name string
	in   string
	want *Header // nil: an error
}{
	{"tcp4", "PROXY TCP4 192.0.2.7 198.51.100.1 50124 25\r\n",
		&Header{Version: 1, Command: CmdProxy, Family: FamInet, Src: ap("192.0.2.7:50124"), Dst: ap("198.51.100.1:25")}},
	{"tcp6", "PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n",
		&Header{Version: 1, Command: CmdProxy, Family: FamInet6, Src: ap("[2001:db8::7]:65535"), Dst: ap("[2001:db8::1]:0")}},
	{"tcp6 v4-mapped", "PROXY TCP6 ::ffff:192.0.2.7 ::1 1 2\r\n",
		&Header{Version: 1, Command: CmdProxy, Family: FamInet6, Src: ap("[::ffff:192.0.2.7]:1"), Dst: ap("[::1]:2")}},
	{"unknown", "PROXY UNKNOWN\r\n", &Header{Version: 1, Command: CmdLocal}},
	{"unknown with addresses", "PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", &Header{Version: 1, Command: CmdLocal}},
	{"longest", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
		&Header{Version: 1, Command: CmdProxy, Family: FamInet6,
			Src: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Dst: ap("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
	{"empty", "", nil},
	{"not proxy", "EHLO example.com\r\n", nil},
	{"lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", nil},
	{"LF only", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", nil},
	{"CR only", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r", nil},
	{"CR inside", "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", nil},
	{"NUL", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\x00\r\n", nil},
	{"unknown with NUL", "PROXY UNKNOWN \x00\r\n", nil},
	{"UNKNOWNX", "PROXY UNKNOWNX\r\n", nil},
	{"two spaces", "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", nil},
	{"trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", nil},
	{"tab", "PROXY TCP4\t1.2.3.4 5.6.7.8 1 2\r\n", nil},
	{"missing port", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", nil},
	{"extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", nil},
	{"udp", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", nil},
	{"v6 in tcp4", "PROXY TCP4 ::1 ::1 1 2\r\n", nil},
	{"v4 in tcp6", "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n", nil},
	{"zone", "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", nil},
	{"leading zero address", "PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n", nil},
	{"short address", "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", nil},
	{"host name", "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", nil},
	{"leading zero port", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", nil},
	{"plus port", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", nil},
	{"minus port", "PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", nil},
	{"big port", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", nil},
	{"huge port", "PROXY TCP4 1.2.3.4 5.6.7.8 1 99999999999999999999\r\n", nil},
	{"hex port", "PROXY TCP4 1.2.3.4 5.6.7.8 0x1 2\r\n", nil},
	{"too long", "PROXY UNKNOWN " + strings.Repeat("x", 92) + "\r\n", nil},
	{"bytes after", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nX", nil},
}

func TestParseV1(t *testing.T) {
	for _, tc := range v1Tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseV1([]byte(tc.in))
			if tc.want == nil {
				if err == nil {
					t.Fatalf("%q: accepted as %+v", tc.in, h)
				}
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("%q: error %v is not an *Error", tc.in, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("%q: %v", tc.in, err)
			}
			if !h.Equal(tc.want) {
				t.Fatalf("%q: got %+v, want %+v", tc.in, h, tc.want)
			}
		})
	}
}

// v2 builds a raw v2 header from its parts, with a correct length field.
func v2(verCmd, famProto byte, payload ...[]byte) []byte {
	p := bytes.Join(payload, nil)
	b := append([]byte(sigV2), verCmd, famProto, byte(len(p)>>8), byte(len(p)))
	return append(b, p...)
}

func tlv(typ byte, v string) []byte {
	return append([]byte{typ, byte(len(v) >> 8), byte(len(v))}, v...)
}

var inet4 = []byte{192, 0, 2, 7, 198, 51, 100, 1, 0xc3, 0xcc, 0, 25}

var v2Tests = []struct {
	name string
	in   []byte
	want *Header
}{
	{"tcp4", v2(0x21, 0x11, inet4),
		&Header{Version: 2, Command: CmdProxy, Family: FamInet, Src: ap("192.0.2.7:50124"), Dst: ap("198.51.100.1:25")}},
	{"tcp6", v2(0x21, 0x21, netip.MustParseAddr("2001:db8::7").AsSlice(), netip.MustParseAddr("2001:db8::1").AsSlice(), []byte{0, 1, 0, 2}),
		&Header{Version: 2, Command: CmdProxy, Family: FamInet6, Src: ap("[2001:db8::7]:1"), Dst: ap("[2001:db8::1]:2")}},
	{"local", v2(0x20, 0x00), &Header{Version: 2, Command: CmdLocal}},
	{"local with addresses", v2(0x20, 0x11, inet4), &Header{Version: 2, Command: CmdLocal, Family: FamInet}},
	{"unspec proxy", v2(0x21, 0x00), &Header{Version: 2, Command: CmdProxy}},
	{"unix", v2(0x21, 0x31, make([]byte, 216)), &Header{Version: 2, Command: CmdProxy, Family: FamUnix}},
	{"tlvs", v2(0x21, 0x11, inet4, tlv(TypeALPN, "h2"), tlv(TypeAuthority, "mx.example.com"),
		tlv(TypeUniqueID, "abc"), tlv(TypeNetNS, "blue"), tlv(0xe0, "cloud"), tlv(TypeNoop, "")),
		&Header{Version: 2, Command: CmdProxy, Family: FamInet, Src: ap("192.0.2.7:50124"), Dst: ap("198.51.100.1:25"),
			ALPN: "h2", Authority: "mx.example.com", UniqueID: "abc", NetNS: "blue"}},
	{"ssl", v2(0x21, 0x11, inet4, tlv(TypeSSL, "\x07\x00\x00\x00\x00"+string(tlv(SubTypeSSLVersion, "TLSv1.3"))+
		string(tlv(SubTypeSSLCN, "client"))+string(tlv(SubTypeSSLCipher, "TLS_AES_128_GCM_SHA256"))+
		string(tlv(SubTypeSSLSigAlg, "SHA256"))+string(tlv(SubTypeSSLKeyAlg, "EC256"))+string(tlv(0x2f, "x")))),
		&Header{Version: 2, Command: CmdProxy, Family: FamInet, Src: ap("192.0.2.7:50124"), Dst: ap("198.51.100.1:25"),
			SSL: &SSL{Client: 7, Version: "TLSv1.3", CN: "client", Cipher: "TLS_AES_128_GCM_SHA256", SigAlg: "SHA256", KeyAlg: "EC256"}}},
	{"empty", nil, nil},
	{"short", []byte(sigV2 + "\x21\x11\x00"), nil},
	{"bad signature", append([]byte("\r\n\r\n\x00\r\nQUIT\r"), v2(0x21, 0x11, inet4)[12:]...), nil},
	{"version 1", v2(0x11, 0x11, inet4), nil},
	{"version 3", v2(0x31, 0x11, inet4), nil},
	{"command 2", v2(0x22, 0x11, inet4), nil},
	{"dgram", v2(0x21, 0x12, inet4), nil},
	{"transport 0 with inet", v2(0x21, 0x10, inet4), nil},
	{"family 4", v2(0x21, 0x41, inet4), nil},
	{"unspec with transport", v2(0x21, 0x01), nil},
	{"short addresses", v2(0x21, 0x11, inet4[:11]), nil},
	{"short unix", v2(0x21, 0x31, make([]byte, 215)), nil},
	{"length too big", append(v2(0x21, 0x11, inet4), 'x'), nil},
	{"length too small", v2(0x21, 0x11, inet4)[:20], nil},
	{"over 2048", v2(0x21, 0x11, inet4, tlv(0xe0, strings.Repeat("x", 2048))), nil},
	{"tlv truncated", v2(0x21, 0x11, inet4, []byte{TypeALPN, 0}), nil},
	{"tlv past end", v2(0x21, 0x11, inet4, []byte{TypeALPN, 0, 5, 'h'}), nil},
	{"tlv repeated", v2(0x21, 0x11, inet4, tlv(TypeALPN, "h2"), tlv(TypeALPN, "h2")), nil},
	{"unique id too long", v2(0x21, 0x11, inet4, tlv(TypeUniqueID, strings.Repeat("u", 129))), nil},
	{"crc short", v2(0x21, 0x11, inet4, tlv(TypeCRC32C, "abc")), nil},
	{"crc wrong", v2(0x21, 0x11, inet4, tlv(TypeCRC32C, "abcd")), nil},
	{"ssl short", v2(0x21, 0x11, inet4, tlv(TypeSSL, "\x01\x00\x00\x00")), nil},
	{"ssl sub past end", v2(0x21, 0x11, inet4, tlv(TypeSSL, "\x01\x00\x00\x00\x00\x21\x00\x09TLS")), nil},
	{"ssl sub truncated", v2(0x21, 0x11, inet4, tlv(TypeSSL, "\x01\x00\x00\x00\x00\x21")), nil},
	{"ssl sub repeated", v2(0x21, 0x11, inet4, tlv(TypeSSL, "\x01\x00\x00\x00\x00"+string(tlv(SubTypeSSLCN, "a"))+string(tlv(SubTypeSSLCN, "b")))), nil},
}

func TestParseV2(t *testing.T) {
	for _, tc := range v2Tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := ParseV2(tc.in)
			if tc.want == nil {
				if err == nil {
					t.Fatalf("accepted as %+v", h)
				}
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("error %v is not an *Error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.Equal(tc.want) {
				t.Fatalf("got %+v, want %+v", h, tc.want)
			}
		})
	}
}

func TestCRC32C(t *testing.T) {
	h := &Header{Version: 2, Command: CmdProxy, Family: FamInet, Src: ap("192.0.2.7:1"), Dst: ap("192.0.2.8:2"), Authority: "a.example", CRC: true}
	b := AppendV2(nil, h)
	got, err := ParseV2(b)
	if err != nil || !got.CRC || !got.Equal(h) {
		t.Fatalf("good CRC: %+v, %v", got, err)
	}
	// The check value of CRC32C (RFC 3720 B.4): "123456789" → e3069283;
	// crc32c zeroes the 4 bytes at off, so put them at the end.
	if c := crc32c([]byte("12345678\x00\x00\x00\x009"), 8); c != crc32.Checksum([]byte("12345678\x00\x00\x00\x009"), crc32.MakeTable(crc32.Castagnoli)) {
		t.Fatalf("crc32c = %08x", c)
	}
	if c := crc32.Checksum([]byte("123456789"), crc32.MakeTable(crc32.Castagnoli)); c != 0xe3069283 {
		t.Fatalf("Castagnoli check value %08x", c)
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x40
		// Flipping a bit of the TLV area must fail (CRC or structure),
		// except in the CRC TLV's type, which makes it an unknown TLV.
		if _, err := ParseV2(c); err == nil && i >= V2FixedLen+12 && i != len(b)-7 {
			t.Errorf("bit flip at %d accepted", i)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, tc := range v1Tests {
		if tc.want == nil {
			continue
		}
		b := AppendV1(nil, tc.want)
		h, err := ParseV1(b)
		if err != nil || !h.Equal(tc.want) {
			t.Errorf("%s: %q parsed as %+v, %v", tc.name, b, h, err)
		}
	}
	for _, tc := range v2Tests {
		if tc.want == nil {
			continue
		}
		b := AppendV2(nil, tc.want)
		h, err := ParseV2(b)
		if err != nil || !h.Equal(tc.want) {
			t.Errorf("%s: %q parsed as %+v, %v", tc.name, b, h, err)
		}
	}
}

// pipe returns a pipe whose write end is closed in Cleanup.
func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

func TestReadStopsAtHeader(t *testing.T) {
	v1 := []byte("PROXY TCP4 192.0.2.7 198.51.100.1 50124 25\r\n")
	v2h := AppendV2(nil, &Header{Version: 2, Command: CmdProxy, Family: FamInet6, Src: ap("[2001:db8::7]:1"), Dst: ap("[::1]:2"), ALPN: "smtp", CRC: true})
	for _, tc := range []struct {
		name     string
		hdr      []byte
		versions int
	}{{"v1", v1, Both}, {"v1 only", v1, V1}, {"v2", v2h, Both}, {"v2 only", v2h, V2}} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := pipe(t)
			after := "EHLO x\r\nPROXY TCP4 6.6.6.6 6.6.6.6 6 6\r\n"
			unix.Write(w, append(append([]byte(nil), tc.hdr...), after...))
			h, raw, err := Read(r, tc.versions, time.Now().Add(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(raw, tc.hdr) || !h.Proxied() {
				t.Fatalf("raw %q, header %+v", raw, h)
			}
			rest := make([]byte, 100)
			n, _ := unix.Read(r, rest)
			if string(rest[:n]) != after {
				t.Fatalf("left %q, want %q", rest[:n], after)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	v2h := AppendV2(nil, &Header{Version: 2, Command: CmdProxy, Family: FamInet, Src: ap("1.2.3.4:1"), Dst: ap("1.2.3.5:2")})
	for _, tc := range []struct {
		name     string
		in       string
		close    bool
		versions int
		timeout  bool
	}{
		{"partial v1 times out", "PROXY TCP4 1.2.3.4", false, Both, true},
		{"partial v2 times out", string(v2h[:20]), false, Both, true},
		{"nothing times out", "", false, Both, true},
		{"partial v1 then EOF", "PROXY TCP4 1.2.3.4", true, Both, false},
		{"EOF", "", true, Both, false},
		{"smtp", "EHLO x\r\n", false, Both, false},
		{"early mismatch", "PROXZ", false, Both, false},
		{"v1 refused", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r\n", false, V2, false},
		{"v2 refused", string(v2h), false, V1, false},
		{"no LF in 107", "PROXY UNKNOWN " + strings.Repeat("x", 200), false, Both, false},
		{"v2 huge length", sigV2 + "\x21\x11\xff\xff", false, Both, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, w := pipe(t)
			unix.Write(w, []byte(tc.in))
			if tc.close {
				unix.Close(w)
			}
			start := time.Now()
			_, _, err := Read(r, tc.versions, start.Add(150*time.Millisecond))
			if tc.timeout {
				if err != ErrTimeout {
					t.Fatalf("err = %v, want ErrTimeout", err)
				}
				if d := time.Since(start); d < 140*time.Millisecond || d > 2*time.Second {
					t.Fatalf("timed out after %v", d)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want an *Error", err)
			}
		})
	}
}

// TestReadSlowloris sends a v1 header one byte every 30 ms: the deadline
// covers the whole header, not each byte.
func TestReadSlowloris(t *testing.T) {
	r, w := pipe(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range []byte("PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r\n") {
			select {
			case <-stop:
				return
			case <-time.After(30 * time.Millisecond):
			}
			unix.Write(w, []byte{c})
		}
	}()
	defer func() { close(stop); <-done }()
	start := time.Now()
	_, _, err := Read(r, Both, start.Add(200*time.Millisecond))
	if err != ErrTimeout {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
}

// Equal reports whether h and o describe the same header.
func (h *Header) Equal(o *Header) bool {
	if h.Version != o.Version || h.Command != o.Command || h.Family != o.Family ||
		h.Src != o.Src || h.Dst != o.Dst || h.ALPN != o.ALPN ||
		h.Authority != o.Authority || h.UniqueID != o.UniqueID ||
		h.NetNS != o.NetNS || (h.SSL == nil) != (o.SSL == nil) {
		return false
	}
	return h.SSL == nil || *h.SSL == *o.SSL
}
