package proxyproto

import (
	"encoding/binary"
	"strconv"
)

// AppendV1 appends h as a v1 line. A header that is not Proxied becomes
// "PROXY UNKNOWN\r\n".
func AppendV1(b []byte, h *Header) []byte {
	if !h.Proxied() {
		return append(b, "PROXY UNKNOWN\r\n"...)
	}
	proto := "TCP4 "
	if h.Family == FamInet6 {
		proto = "TCP6 "
	}
	b = append(b, "PROXY "+proto...)
	b = append(b, h.Src.Addr().String()+" "+h.Dst.Addr().String()+" "...)
	b = strconv.AppendUint(b, uint64(h.Src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(h.Dst.Port()), 10)
	return append(b, "\r\n"...)
}

// AppendV2 appends h as a v2 header: addresses, then the TLVs set in h
// (ALPN, authority, unique id, SSL, NETNS), then a CRC32C TLV when h.CRC.
// Unix-socket addresses are written as zeros.
func AppendV2(b []byte, h *Header) []byte {
	start := len(b)
	b = append(b, sigV2...)
	b = append(b, 0x20|h.Command&0xf)
	switch h.Family {
	case FamUnspec:
		b = append(b, 0x00)
	default:
		b = append(b, h.Family<<4|0x1)
	}
	b = append(b, 0, 0) // length, filled in below
	switch h.Family {
	case FamInet:
		var s, d [4]byte
		if h.Src.Addr().Is4() && h.Dst.Addr().Is4() {
			s, d = h.Src.Addr().As4(), h.Dst.Addr().As4()
		}
		b = append(append(b, s[:]...), d[:]...)
		b = binary.BigEndian.AppendUint16(b, h.Src.Port())
		b = binary.BigEndian.AppendUint16(b, h.Dst.Port())
	case FamInet6:
		var s, d [16]byte
		if h.Src.Addr().IsValid() && h.Dst.Addr().IsValid() {
			s, d = h.Src.Addr().As16(), h.Dst.Addr().As16()
		}
		b = append(append(b, s[:]...), d[:]...)
		b = binary.BigEndian.AppendUint16(b, h.Src.Port())
		b = binary.BigEndian.AppendUint16(b, h.Dst.Port())
	case FamUnix:
		b = append(b, make([]byte, unixAddrs)...)
	}
	b = appendTLV(b, TypeALPN, h.ALPN)
	b = appendTLV(b, TypeAuthority, h.Authority)
	b = appendTLV(b, TypeUniqueID, h.UniqueID)
	if s := h.SSL; s != nil {
		v := []byte{s.Client}
		v = binary.BigEndian.AppendUint32(v, s.Verify)
		v = appendTLV(v, SubTypeSSLVersion, s.Version)
		v = appendTLV(v, SubTypeSSLCN, s.CN)
		v = appendTLV(v, SubTypeSSLCipher, s.Cipher)
		v = appendTLV(v, SubTypeSSLSigAlg, s.SigAlg)
		v = appendTLV(v, SubTypeSSLKeyAlg, s.KeyAlg)
		b = append(b, TypeSSL)
		b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
		b = append(b, v...)
	}
	b = appendTLV(b, TypeNetNS, h.NetNS)
	off := -1
	if h.CRC {
		b = append(b, TypeCRC32C, 0, 4)
		off = len(b) - start
		b = append(b, 0, 0, 0, 0)
	}
	binary.BigEndian.PutUint16(b[start+14:], uint16(len(b)-start-V2FixedLen))
	if off >= 0 {
		binary.BigEndian.PutUint32(b[start+off:], crc32c(b[start:], off))
	}
	return b
}

func appendTLV(b []byte, typ byte, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, typ)
	b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
	return append(b, v...)
}
