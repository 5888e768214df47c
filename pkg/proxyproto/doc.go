// Package proxyproto reads and checks the PROXY protocol header (versions 1
// and 2) that a proxy such as haproxy puts in front of a connection to
// pass on the client's addresses.
//
// The parsers are strict: a header is either exactly what the
// specification describes (haproxy's doc/proxy-protocol.txt) or an error;
// nothing is guessed. Read takes exactly the header's bytes from an fd and
// never one more: the bytes after it belong to the next program.
//
// Decisions the specification leaves open:
//
//   - v2 family AF_UNIX (and AF_UNSPEC, the LOCAL command, v1 UNKNOWN)
//     keeps the real connection's addresses: the header is valid, but a
//     socket path cannot be a TCPREMOTEIP, and the real peer is the best
//     fact left. Header.Proxied reports whether the header's addresses
//     replace the real ones.
//   - v2 transport DGRAM is refused: the suite serves streams only.
//   - the v2 payload (after the 16 fixed bytes) is at most MaxV2Len bytes.
//     The header arrives before anything about the peer is known, so the
//     cap bounds what one slot can be made to hold. haproxy's largest
//     header (IPv6 addresses, ALPN, authority and NETNS of up to 255 bytes
//     each, a 128-byte unique id, CRC32C and an SSL TLV with version, CN,
//     cipher and algorithms) stays under 1.5 KiB; 2 KiB leaves room for
//     a cloud balancer's own small TLVs.
//   - a CRC32C TLV is checked when present; a mismatch is an error.
//   - unknown TLV types are skipped; a TLV whose length runs past the
//     header is an error, as is a second TLV of a type parsed here.
package proxyproto
