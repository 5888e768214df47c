package rules

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// cidrKeys turns an address/length prefix into the prefix keys tcpserver
// looks up, or refuses it when no set of keys matches exactly the
// addresses in the prefix.
//
// IPv4: a length that is a multiple of 8 is one key (10.0.0.0/8 → "10.",
// /32 → the address); another length becomes the keys of the next
// multiple of 8 (10.1.16.0/20 → 10.1.16. … 10.1.31., 16 keys; /0 → 0. …
// 255.; /25–/31 → each address).
//
// IPv6: tcpserver compares text, and IPv6 text compresses zeros (RFC 5952,
// as Go prints it), so only some prefixes have exact keys. The length must
// be a multiple of 16 (1–128); the prefix's groups are written without
// leading zeros ("2001:db8:" for 2001:db8::/32); when the prefix ends in one
// or two zero groups, the compressed form is a second key (2001:db8:0:0::/64
// → "2001:db8:0:0:" and "2001:db8::"). Refused: a run of two or more zero
// groups inside the prefix (2001:0:0:1::/64), or three or more at its end
// (2001:db8::/80 would also match 2001:db8::1:2:3:4).
func cidrKeys(s string) ([]string, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return nil, errors.New("bad CIDR prefix " + s)
	}
	if p != p.Masked() {
		return nil, errors.New("CIDR prefix " + s + " has bits set after /" + strconv.Itoa(p.Bits()))
	}
	if p.Addr().Is4() {
		return cidr4(p), nil
	}
	return cidr6(s, p)
}

func cidr4(p netip.Prefix) []string {
	n := p.Bits()
	a := p.Addr().As4()
	if n == 32 {
		return []string{p.Addr().String()}
	}
	octets := (n + 7) / 8
	if octets == 0 {
		octets = 1
	}
	count := 1 << (8*octets - n)
	keys := make([]string, 0, count)
	for i := range count {
		var b strings.Builder
		for j := range octets {
			v := int(a[j])
			if j == octets-1 {
				v += i
			}
			b.WriteString(strconv.Itoa(v))
			if j < 3 {
				b.WriteByte('.')
			}
		}
		keys = append(keys, b.String())
	}
	return keys
}

func cidr6(s string, p netip.Prefix) ([]string, error) {
	n := p.Bits()
	if n == 128 {
		return []string{p.Addr().String()}, nil
	}
	if n == 0 || n%16 != 0 {
		return nil, errors.New("IPv6 prefix " + s + " has no tcpserver keys: the length must be a multiple of 16 from 16 to 128")
	}
	k := n / 16
	a := p.Addr().As16()
	var g [8]uint16
	for i := range 8 {
		g[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
	}
	// s0 is where the prefix's trailing run of zero groups starts.
	s0 := k
	for s0 > 0 && g[s0-1] == 0 {
		s0--
	}
	for i := 0; i < s0; {
		if g[i] != 0 {
			i++
			continue
		}
		j := i
		for j < s0 && g[j] == 0 {
			j++
		}
		if j-i >= 2 {
			return nil, errors.New("IPv6 prefix " + s + " has no tcpserver keys: zero groups inside it may be written as ::")
		}
		i = j
	}
	if k-s0 > 2 {
		return nil, errors.New("IPv6 prefix " + s + " has no tcpserver keys: its :: form would match addresses outside it")
	}
	var b strings.Builder
	for i := range k {
		b.WriteString(strconv.FormatUint(uint64(g[i]), 16))
		b.WriteByte(':')
	}
	keys := []string{b.String()}
	if s0 < k {
		b.Reset()
		for i := range s0 {
			b.WriteString(strconv.FormatUint(uint64(g[i]), 16))
			b.WriteByte(':')
		}
		if s0 == 0 {
			b.WriteByte(':')
		}
		b.WriteByte(':')
		keys = append(keys, b.String())
	}
	return keys, nil
}
