package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/tlschain/tlschain/pkg/keysign"
)

// daneCA is a CA and a leaf it signed, for the verifier tests.
type daneCA struct {
	ca, leaf *x509.Certificate
	leafPEM  []byte // leaf + CA, as a server sends them
	onlyPEM  []byte // the leaf alone
	keyPEM   []byte
	caPEM    []byte
}

func makeDaneCA(t *testing.T, leafNames []string, notAfter time.Time) *daneCA {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dane test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caT, caT, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	lt := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: leafNames[0]},
		DNSNames: leafNames, NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, lt, ca, k.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	kb, _ := x509.MarshalPKCS8PrivateKey(k)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	onlyPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &daneCA{ca: ca, leaf: leaf, caPEM: caPEM, onlyPEM: onlyPEM,
		leafPEM: append(onlyPEM[:len(onlyPEM):len(onlyPEM)], caPEM...),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})}
}

func sha256hex(b []byte) string { h := sha256.Sum256(b); return hex.EncodeToString(h[:]) }
func sha512hex(b []byte) string { h := sha512.Sum512(b); return hex.EncodeToString(h[:]) }

// TestVerifier runs real handshakes against a server with a CA-signed
// certificate for mx.example and checks SSL_PEER_VERIFY for each way of
// verifying it, with -V (report) and without (fail the handshake).
func TestVerifier(t *testing.T) {
	good := makeDaneCA(t, []string{"mx.example"}, time.Now().Add(time.Hour))
	expired := makeDaneCA(t, []string{"mx.example"}, time.Now().Add(-time.Hour))
	other := makeDaneCA(t, []string{"mx.example"}, time.Now().Add(time.Hour))
	ee := "3 1 1 " + sha256hex(good.leaf.RawSubjectPublicKeyInfo)
	bare := func(c *daneCA) string { return "2 1 0 " + hex.EncodeToString(c.ca.RawSubjectPublicKeyInfo) }
	tests := []struct {
		name   string
		srv    *daneCA
		only   bool   // the server sends its leaf alone
		ca     []byte // CA records
		k      string // -k
		tlsa   string
		report bool
		want   string // SSL_PEER_VERIFY; strict mode fails on untrusted
	}{
		{"pkix", good, false, good.caPEM, "mx.example", "", true, "verified"},
		{"pkix strict", good, false, good.caPEM, "mx.example", "", false, "verified"},
		{"unknown CA", good, false, other.caPEM, "mx.example", "", true, "untrusted:unknown-authority"},
		{"unknown CA strict", good, false, other.caPEM, "mx.example", "", false, "untrusted:unknown-authority"},
		{"wrong name", good, false, good.caPEM, "wrong.example", "", true, "untrusted:name-mismatch"},
		{"no CA records", good, false, nil, "mx.example", "", true, "untrusted:no-ca"},
		{"expired", expired, false, expired.caPEM, "mx.example", "", true, "untrusted:expired"},
		{"dane-ee spki sha256", good, false, nil, "mx.example", ee, true, "dane-ee"},
		{"dane-ee strict", good, false, nil, "mx.example", ee, false, "dane-ee"},
		{"dane-ee cert sha512", good, false, nil, "mx.example", "3 0 2 " + sha512hex(good.leaf.Raw), true, "dane-ee"},
		{"dane-ee exact cert", good, false, nil, "mx.example", "3 0 0 " + hex.EncodeToString(good.leaf.Raw), true, "dane-ee"},
		{"dane-ee ignores name", good, false, nil, "wrong.example", ee, true, "dane-ee"},
		{"dane-ee ignores expiry", expired, false, nil, "mx.example", "3 1 1 " + sha256hex(expired.leaf.RawSubjectPublicKeyInfo), true, "dane-ee"},
		{"dane-ee mismatch", good, false, good.caPEM, "mx.example", "3 1 1 " + sha256hex(other.leaf.RawSubjectPublicKeyInfo), true, "untrusted:dane-mismatch"},
		{"dane-ee mismatch strict", good, false, good.caPEM, "mx.example", "3 1 1 " + sha256hex(other.leaf.RawSubjectPublicKeyInfo), false, "untrusted:dane-mismatch"},
		{"second record matches", good, false, nil, "mx.example", "3 1 1 " + sha256hex(other.leaf.RawSubjectPublicKeyInfo) + ";" + ee, true, "dane-ee"},
		{"dane-ta", good, false, nil, "mx.example", "2 0 1 " + sha256hex(good.ca.Raw), true, "dane-ta"},
		{"dane-ta spki", good, false, nil, "mx.example", "2 1 1 " + sha256hex(good.ca.RawSubjectPublicKeyInfo), true, "dane-ta"},
		{"dane-ta checks the name", good, false, nil, "wrong.example", "2 0 1 " + sha256hex(good.ca.Raw), true, "untrusted:dane-ta-name-mismatch"},
		{"dane-ta checks expiry", expired, false, nil, "mx.example", "2 0 1 " + sha256hex(expired.ca.Raw), true, "untrusted:dane-ta-expired"},
		{"dane-ta other CA", good, false, nil, "mx.example", "2 0 1 " + sha256hex(other.ca.Raw), true, "untrusted:dane-mismatch"},
		{"dane-ta bare key, CA not sent", good, true, nil, "mx.example", bare(good), true, "dane-ta"},
		{"dane-ta bare key, CA sent", good, false, nil, "mx.example", bare(good), false, "dane-ta"},
		{"dane-ta bare key checks the name", good, true, nil, "wrong.example", bare(good), true, "untrusted:dane-ta-name-mismatch"},
		{"dane-ta bare key checks expiry", expired, true, nil, "mx.example", bare(expired), true, "untrusted:dane-ta-expired"},
		{"dane-ta bare key of another CA", good, true, nil, "mx.example", bare(other), true, "untrusted:dane-mismatch"},
		{"dane-ta digest, CA not sent", good, true, nil, "mx.example", "2 1 1 " + sha256hex(good.ca.RawSubjectPublicKeyInfo), true, "untrusted:dane-mismatch"},
		// Only unusable records: PKIX applies (the policy decides what
		// that means, RFC 7672 §2.2).
		{"pkix-ee unusable", good, false, good.caPEM, "mx.example", "1 1 1 " + sha256hex(good.leaf.RawSubjectPublicKeyInfo), true, "verified"},
		{"unknown matching unusable", good, false, other.caPEM, "mx.example", "3 1 7 " + sha256hex(good.leaf.RawSubjectPublicKeyInfo), true, "untrusted:unknown-authority"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := keysign.Pair{CertPEM: tc.srv.leafPEM, KeyPEM: tc.srv.keyPEM}
			if tc.only {
				sp.CertPEM = tc.srv.onlyPEM
			}
			srv, err := buildConfig(&options{server: true, sniLevel: 1, minVersion: tls.VersionTLS12},
				&keysign.Setup{Pairs: []keysign.Pair{sp}}, remoteSigner(t, []keysign.Pair{sp}))
			if err != nil {
				t.Fatal(err)
			}
			base := "mx.example"
			if tc.k == "wrong.example" {
				base = tc.k
			}
			setup := &keysign.Setup{TLSA: tc.tlsa, TLSABase: base}
			if tc.ca != nil {
				setup.CAs = [][]byte{tc.ca}
			}
			o := &options{serverName: tc.k, verifyReport: tc.report, minVersion: tls.VersionTLS12}
			cli, v, err := buildConfigV(o, setup, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, cs, err := handshake(t, srv, cli)
			got := peerVerify(o, v)
			if v == nil && err != nil {
				// crypto/tls checked and failed; the reason is the
				// server's alert here, so only the failure is compared.
				got = tc.want
			}
			if got != tc.want {
				t.Fatalf("SSL_PEER_VERIFY %q, want %q (handshake: %v)", got, tc.want, err)
			}
			failed := strings.HasPrefix(tc.want, untrusted)
			if tc.report && err != nil {
				t.Fatalf("-V: the handshake failed: %v", err)
			}
			if !tc.report && (err != nil) != failed {
				t.Fatalf("strict: handshake error %v, result %s", err, got)
			}
			if err == nil && cs.Version == 0 {
				t.Fatal("no connection state")
			}
		})
	}
}

func TestVerifierConfigErrors(t *testing.T) {
	if _, _, err := buildConfigV(&options{serverName: "x"}, &keysign.Setup{TLSA: "3 1 1 zz"}, nil); err == nil {
		t.Error("bad TLSA text accepted")
	}
	// Strict PKIX without CAs is a configuration error; DANE or -V is not.
	if _, _, err := buildConfigV(&options{serverName: "x"}, &keysign.Setup{}, nil); err == nil {
		t.Error("strict without CAs accepted")
	}
	if _, v, err := buildConfigV(&options{serverName: "x", verifyReport: true}, &keysign.Setup{}, nil); err != nil || v == nil {
		t.Errorf("-V without CAs: %v", err)
	}
	if _, v, err := buildConfigV(&options{noVerify: true}, &keysign.Setup{TLSA: "3 1 1 " + strings.Repeat("00", 32)}, nil); err != nil || v != nil {
		t.Errorf("-N with TLSA: %v %v", v, err)
	}
	if got := peerVerify(&options{noVerify: true}, nil); got != "none" {
		t.Errorf("-N: %q", got)
	}
	if got := peerVerify(&options{server: true}, nil); got != "" {
		t.Errorf("server: %q", got)
	}
}
