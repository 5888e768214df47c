package proxyproto

import (
	"bytes"
	"net/netip"
)

// ParseV1 parses a whole v1 line, "PROXY TCP4 src dst sport dport\r\n",
// CRLF included and nothing after it. Fields are separated by exactly one
// space; addresses must match the family (no zone, no IPv4 in TCP6 other
// than the v4-mapped form, no leading zeros); ports are decimal 0–65535
// without sign or leading zero. After UNKNOWN the rest of the line is
// ignored, as the specification asks, but must not hold NUL or CR.
func ParseV1(b []byte) (*Header, error) {
	if len(b) > MaxV1Len {
		return nil, bad("v1 header longer than 107 bytes")
	}
	if !bytes.HasPrefix(b, []byte("PROXY ")) {
		return nil, bad("no PROXY signature")
	}
	if len(b) < 2 || b[len(b)-2] != '\r' || b[len(b)-1] != '\n' {
		return nil, bad("v1 header does not end in CRLF")
	}
	line := b[6 : len(b)-2]
	if i := bytes.IndexAny(line, "\r\n\x00"); i >= 0 {
		return nil, bad("v1 header holds a CR, LF or NUL")
	}
	h := &Header{Version: 1, Command: CmdProxy}
	if bytes.Equal(line, []byte("UNKNOWN")) || bytes.HasPrefix(line, []byte("UNKNOWN ")) {
		h.Command, h.Family = CmdLocal, FamUnspec
		return h, nil
	}
	f := bytes.Split(line, []byte(" "))
	if len(f) != 5 {
		return nil, bad("v1 header needs 6 fields separated by single spaces")
	}
	switch string(f[0]) {
	case "TCP4":
		h.Family = FamInet
	case "TCP6":
		h.Family = FamInet6
	default:
		return nil, bad("v1 protocol is not TCP4, TCP6 or UNKNOWN")
	}
	src, err := v1Addr(f[1], h.Family)
	if err != nil {
		return nil, err
	}
	dst, err := v1Addr(f[2], h.Family)
	if err != nil {
		return nil, err
	}
	sport, ok := v1Port(f[3])
	if !ok {
		return nil, bad("bad v1 source port")
	}
	dport, ok := v1Port(f[4])
	if !ok {
		return nil, bad("bad v1 destination port")
	}
	h.Src, h.Dst = netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport)
	return h, nil
}

func v1Addr(b []byte, fam byte) (netip.Addr, error) {
	a, err := netip.ParseAddr(string(b))
	if err != nil {
		return a, bad("bad v1 address")
	}
	if fam == FamInet && !a.Is4() {
		return a, bad("v1 TCP4 address is not IPv4")
	}
	if fam == FamInet6 && (!a.Is6() || a.Zone() != "") {
		return a, bad("v1 TCP6 address is not IPv6")
	}
	return a, nil
}

// v1Port parses 0–65535: digits only, no leading zero except "0" itself.
func v1Port(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (b[0] == '0' && len(b) > 1) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}
