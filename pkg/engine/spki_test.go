package engine

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// spkiCerts are self-signed certificates of every key type, v3 and v1 (no
// version field), and one with a long subject (multi-byte lengths).
func spkiCerts(t testing.TB) [][]byte {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, dk, _ := ed25519.GenerateKey(rand.Reader)
	var out [][]byte
	for i, k := range []crypto.Signer{rk, ek, dk, ek} {
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(i + 1)),
			Subject:      pkix.Name{CommonName: "test"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(time.Hour),
			DNSNames:     []string{"test"},
		}
		if i == 3 {
			tmpl.Subject.Organization = []string{string(bytes.Repeat([]byte("o"), 300))}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, der)
	}
	// v1: the same TBS fields without [0] version. Built by hand from a
	// v3 certificate's parts: only spki's walk needs to accept it.
	c, _ := x509.ParseCertificate(out[1])
	v1 := derSeq(derSeq(c.SerialNumber.Bytes(), c.RawIssuer, c.RawSubjectPublicKeyInfo))
	out = append(out, v1)
	return out
}

// derSeq builds SEQUENCE { SEQUENCE{} INTEGER serial, SEQUENCE{} alg,
// issuer, SEQUENCE{} validity, subject, spki } — enough structure for spki.
func derSeq(parts ...[]byte) []byte {
	if len(parts) == 1 {
		return tlv(0x30, parts[0])
	}
	serial, name, info := parts[0], parts[1], parts[2]
	body := append(tlv(0x02, serial), tlv(0x30, nil)...)
	body = append(body, name...)
	body = append(body, tlv(0x30, nil)...)
	body = append(body, name...)
	body = append(body, info...)
	return tlv(0x30, body)
}

func tlv(tag byte, b []byte) []byte {
	n := len(b)
	switch {
	case n < 0x80:
		return append([]byte{tag, byte(n)}, b...)
	case n < 0x100:
		return append([]byte{tag, 0x81, byte(n)}, b...)
	default:
		return append([]byte{tag, 0x82, byte(n >> 8), byte(n)}, b...)
	}
}

func TestSPKI(t *testing.T) {
	certs := spkiCerts(t)
	for i, der := range certs {
		got, err := spki(der)
		if err != nil {
			t.Fatalf("cert %d: %v", i, err)
		}
		var want []byte
		if c, err := x509.ParseCertificate(der); err == nil {
			want = c.RawSubjectPublicKeyInfo
		} else {
			c, _ := x509.ParseCertificate(certs[1]) // the v1 one is built from cert 1
			want = c.RawSubjectPublicKeyInfo
		}
		if !bytes.Equal(got, want) {
			t.Errorf("cert %d: spki differs from crypto/x509's", i)
		}
		if i < 3 {
			pub, err := leafPublicKey(der)
			c, _ := x509.ParseCertificate(der)
			if err != nil || !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
				t.Errorf("cert %d: public key %v", i, err)
			}
		}
		// Every truncation fails cleanly.
		for n := 0; n < len(der); n++ {
			if s, err := spki(der[:n]); err == nil && !bytes.Equal(s, got) {
				t.Errorf("cert %d cut at %d: %x", i, n, s)
			}
		}
	}
	for _, bad := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0x85, 1, 1, 1, 1, 1}, {0x31, 0}, {0x30, 0x84, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := spki(bad); err == nil {
			t.Errorf("spki(%x) accepted", bad)
		}
	}
}

// FuzzSPKI: the walk never panics, and whenever crypto/x509 parses the
// input, spki finds the same subjectPublicKeyInfo.
func FuzzSPKI(f *testing.F) {
	for _, der := range spkiCerts(f) {
		f.Add(der)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		got, err := spki(der)
		c, xerr := x509.ParseCertificate(der)
		if xerr == nil && (err != nil || !bytes.Equal(got, c.RawSubjectPublicKeyInfo)) {
			t.Fatalf("x509 parses it, spki: %x, %v", got, err)
		}
	})
}
