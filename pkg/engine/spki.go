package engine

import (
	"crypto"
	"crypto/x509"
	"errors"
)

// The engine needs one thing from its own certificate: the public key, for
// the signer that asks the key holder. Parsing the whole certificate
// (names, extensions, dates) was 3% of an engine's CPU on a short
// connection; the key alone is found by walking the DER to the
// subjectPublicKeyInfo (RFC 5280 §4.1) and parsing just that.

var errBadDER = errors.New("malformed certificate")

// leafPublicKey returns the public key of the DER certificate der.
func leafPublicKey(der []byte) (crypto.PublicKey, error) {
	info, err := spki(der)
	if err != nil {
		return nil, err
	}
	return x509.ParsePKIXPublicKey(info)
}

// spki returns the subjectPublicKeyInfo element (tag and length included)
// of the DER certificate der.
func spki(der []byte) ([]byte, error) {
	cert, _, err := element(der, 0x30) // Certificate
	if err != nil {
		return nil, err
	}
	tbs, _, err := element(cert, 0x30) // TBSCertificate
	if err != nil {
		return nil, err
	}
	if len(tbs) > 0 && tbs[0] == 0xa0 { // [0] EXPLICIT version
		if _, tbs, err = element(tbs, 0xa0); err != nil {
			return nil, err
		}
	}
	// serialNumber, signature, issuer, validity, subject
	for _, tag := range []byte{0x02, 0x30, 0x30, 0x30, 0x30} {
		if _, tbs, err = element(tbs, tag); err != nil {
			return nil, err
		}
	}
	_, rest, err := element(tbs, 0x30)
	if err != nil {
		return nil, err
	}
	return tbs[:len(tbs)-len(rest)], nil
}

// element reads one DER element of the given tag from the start of b and
// returns its contents and what follows it. Lengths are definite, at most
// four bytes long, and must fit in b.
func element(b []byte, tag byte) (contents, rest []byte, err error) {
	if len(b) < 2 || b[0] != tag {
		return nil, nil, errBadDER
	}
	n, hdr := int(b[1]), 2
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 4 || len(b) < 2+k {
			return nil, nil, errBadDER
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		hdr += k
	}
	if n > len(b)-hdr {
		return nil, nil, errBadDER
	}
	return b[hdr : hdr+n], b[hdr+n:], nil
}
