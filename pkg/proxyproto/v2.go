package proxyproto

import (
	"encoding/binary"
	"hash/crc32"
	"net/netip"
)

// ParseV2 parses a whole v2 header: the 16 fixed bytes and exactly the
// payload length they declare (proxy-protocol.txt §2.2).
func ParseV2(b []byte) (*Header, error) {
	if len(b) < V2FixedLen || string(b[:12]) != sigV2 {
		return nil, bad("no PROXY v2 signature")
	}
	n, err := v2Len(b[:V2FixedLen])
	if err != nil {
		return nil, err
	}
	if len(b) != V2FixedLen+n {
		return nil, bad("v2 header length does not match its length field")
	}
	h := &Header{Version: 2, Command: b[12] & 0xf, Family: b[13] >> 4}
	p := b[V2FixedLen:]
	var addrLen int
	switch h.Family {
	case FamUnspec:
	case FamInet:
		addrLen = 12
	case FamInet6:
		addrLen = 36
	case FamUnix:
		addrLen = unixAddrs
	default:
		return nil, bad("v2 address family is unknown")
	}
	if h.Family != FamUnspec && b[13]&0xf != 0x1 {
		return nil, bad("v2 transport is not STREAM")
	}
	if h.Family == FamUnspec && b[13]&0xf != 0x0 {
		return nil, bad("v2 transport is not UNSPEC for family UNSPEC")
	}
	if len(p) < addrLen {
		return nil, bad("v2 header too short for its addresses")
	}
	switch h.Family {
	case FamInet:
		src, dst := netip.AddrFrom4([4]byte(p[0:4])), netip.AddrFrom4([4]byte(p[4:8]))
		h.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(p[8:10]))
		h.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[10:12]))
	case FamInet6:
		src, dst := netip.AddrFrom16([16]byte(p[0:16])), netip.AddrFrom16([16]byte(p[16:32]))
		h.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(p[32:34]))
		h.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(p[34:36]))
	}
	if err := h.parseTLVs(p[addrLen:], b); err != nil {
		return nil, err
	}
	// A LOCAL header's addresses, if any, are not the client's (§2.2:
	// "the receiver must ignore" them); forget them so that they cannot
	// be used by mistake.
	if h.Command == CmdLocal {
		h.Src, h.Dst = netip.AddrPort{}, netip.AddrPort{}
	}
	return h, nil
}

// v2Len checks the version, the command and the length of the 16 fixed
// bytes and returns the payload length.
func v2Len(fixed []byte) (int, error) {
	if fixed[12]>>4 != 2 {
		return 0, bad("v2 version is not 2")
	}
	if c := fixed[12] & 0xf; c != CmdLocal && c != CmdProxy {
		return 0, bad("v2 command is neither LOCAL nor PROXY")
	}
	n := int(binary.BigEndian.Uint16(fixed[14:16]))
	if n > MaxV2Len {
		return 0, bad("v2 header longer than 2048 bytes")
	}
	return n, nil
}

// parseTLVs reads the TLVs in t; whole is the complete header, for the
// CRC32C check.
func (h *Header) parseTLVs(t, whole []byte) error {
	var seen uint64 // bit per known type, to refuse repeats
	for len(t) > 0 {
		if len(t) < 3 {
			return bad("v2 TLV truncated")
		}
		typ, n := t[0], int(binary.BigEndian.Uint16(t[1:3]))
		if len(t) < 3+n {
			return bad("v2 TLV runs past the header")
		}
		v := t[3 : 3+n]
		off := len(whole) - len(t) + 3 // v's offset in whole
		t = t[3+n:]
		bit := knownBit(typ)
		if bit != 0 {
			if seen&bit != 0 {
				return bad("v2 TLV repeated")
			}
			seen |= bit
		}
		switch typ {
		case TypeALPN:
			h.ALPN = string(v)
		case TypeAuthority:
			h.Authority = string(v)
		case TypeUniqueID:
			if n > maxUnique {
				return bad("v2 unique id longer than 128 bytes")
			}
			h.UniqueID = string(v)
		case TypeNetNS:
			h.NetNS = string(v)
		case TypeCRC32C:
			if n != 4 {
				return bad("v2 CRC32C TLV is not 4 bytes")
			}
			if !crcMatches(whole, off) {
				return bad("v2 CRC32C mismatch")
			}
			h.CRC = true
		case TypeSSL:
			s, err := parseSSL(v)
			if err != nil {
				return err
			}
			h.SSL = s
		}
	}
	return nil
}

func knownBit(typ byte) uint64 {
	switch typ {
	case TypeALPN, TypeAuthority, TypeCRC32C, TypeUniqueID:
		return 1 << typ
	case TypeSSL:
		return 1 << 10
	case TypeNetNS:
		return 1 << 11
	}
	return 0
}

// crcMatches checks the CRC32C of the whole header computed with the
// 4-byte value at off taken as zero (§2.2.3).
func crcMatches(whole []byte, off int) bool {
	want := binary.BigEndian.Uint32(whole[off : off+4])
	return crc32c(whole, off) == want
}

func crc32c(whole []byte, off int) uint32 {
	tab := crc32.MakeTable(crc32.Castagnoli)
	var zero [4]byte
	c := crc32.Update(0, tab, whole[:off])
	c = crc32.Update(c, tab, zero[:])
	return crc32.Update(c, tab, whole[off+4:])
}

// parseSSL parses the SSL TLV: client flags, verify result, sub-TLVs.
func parseSSL(v []byte) (*SSL, error) {
	if len(v) < 5 {
		return nil, bad("v2 SSL TLV shorter than 5 bytes")
	}
	s := &SSL{Client: v[0], Verify: binary.BigEndian.Uint32(v[1:5])}
	t := v[5:]
	var seen uint8
	for len(t) > 0 {
		if len(t) < 3 {
			return nil, bad("v2 SSL sub-TLV truncated")
		}
		typ, n := t[0], int(binary.BigEndian.Uint16(t[1:3]))
		if len(t) < 3+n {
			return nil, bad("v2 SSL sub-TLV runs past the SSL TLV")
		}
		val := string(t[3 : 3+n])
		t = t[3+n:]
		if typ >= SubTypeSSLVersion && typ <= SubTypeSSLKeyAlg {
			bit := uint8(1) << (typ - SubTypeSSLVersion)
			if seen&bit != 0 {
				return nil, bad("v2 SSL sub-TLV repeated")
			}
			seen |= bit
		}
		switch typ {
		case SubTypeSSLVersion:
			s.Version = val
		case SubTypeSSLCN:
			s.CN = val
		case SubTypeSSLCipher:
			s.Cipher = val
		case SubTypeSSLSigAlg:
			s.SigAlg = val
		case SubTypeSSLKeyAlg:
			s.KeyAlg = val
		}
	}
	return s, nil
}
