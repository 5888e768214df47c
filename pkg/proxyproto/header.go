package proxyproto

import (
	"errors"
	"net/netip"
)

// Commands of a v2 header (v1 has only PROXY, or UNKNOWN taken as LOCAL).
const (
	CmdLocal = 0x0 // the proxy's own connection (a health check)
	CmdProxy = 0x1 // relayed for a client
)

// Address families of a v2 header (the high nibble of byte 13).
const (
	FamUnspec = 0x0
	FamInet   = 0x1
	FamInet6  = 0x2
	FamUnix   = 0x3
)

// TLV types of a v2 header (proxy-protocol.txt §2.2).
const (
	TypeALPN      = 0x01
	TypeAuthority = 0x02
	TypeCRC32C    = 0x03
	TypeNoop      = 0x04
	TypeUniqueID  = 0x05
	TypeSSL       = 0x20
	TypeNetNS     = 0x30

	SubTypeSSLVersion = 0x21
	SubTypeSSLCN      = 0x22
	SubTypeSSLCipher  = 0x23
	SubTypeSSLSigAlg  = 0x24
	SubTypeSSLKeyAlg  = 0x25
)

// Client flags of the SSL TLV.
const (
	ClientSSL      = 0x01 // the client connected over TLS
	ClientCertConn = 0x02 // it presented a certificate on this connection
	ClientCertSess = 0x04 // it presented one earlier in this TLS session
)

// Sizes.
const (
	MaxV1Len   = 107  // the longest v1 line, CRLF included
	V2FixedLen = 16   // signature, version/command, family, length
	MaxV2Len   = 2048 // the longest v2 payload accepted after the fixed part
	maxUnique  = 128  // PP2_TYPE_UNIQUE_ID is at most 128 bytes
	unixAddrs  = 216  // two 108-byte socket paths
)

// sigV2 starts every v2 header.
const sigV2 = "\r\n\r\n\x00\r\nQUIT\n"

// Header is one parsed PROXY header.
type Header struct {
	Version int  // 1 or 2
	Command byte // CmdLocal or CmdProxy
	Family  byte // FamUnspec, FamInet, FamInet6 or FamUnix
	// Src and Dst are the client's and the proxy's listening address, set
	// for FamInet and FamInet6 only.
	Src, Dst netip.AddrPort

	// v2 TLVs; empty when absent.
	ALPN      string
	Authority string // the server name the client asked for (SNI)
	UniqueID  string
	NetNS     string
	CRC       bool // a CRC32C TLV was present and matched
	SSL       *SSL // nil without an SSL TLV
}

// SSL is the content of a PP2_TYPE_SSL TLV: what the proxy knows of the
// client's TLS session when it terminated TLS itself.
type SSL struct {
	Client                              byte   // ClientSSL | ClientCertConn | ClientCertSess
	Verify                              uint32 // 0 when the client's certificate was verified
	Version, CN, Cipher, SigAlg, KeyAlg string
}

// Proxied reports whether the header carries a client's addresses that
// replace the real connection's: a PROXY command over IPv4 or IPv6.
func (h *Header) Proxied() bool {
	return h.Command == CmdProxy && (h.Family == FamInet || h.Family == FamInet6)
}

// Error is a malformed header. Reason says what is wrong, in words fit for
// a log line.
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

func bad(reason string) error { return &Error{reason} }

// ErrTimeout is returned by Read when the header did not arrive in time.
var ErrTimeout = errors.New("timed out")
