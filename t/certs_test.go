package t

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// testCert is one generated certificate and its key, in memory.
type testCert struct {
	Name    string // file stem
	CertPEM []byte // leaf, then the issuing CA (a chain, as servers send it)
	KeyPEM  []byte
	DER     []byte // the leaf
}

// Hash is the SSL_PEER_CERT_HASH value of this certificate.
func (c *testCert) Hash() string {
	h := sha256.Sum256(c.DER)
	return "SHA256:" + hex.EncodeToString(h[:])
}

// testPKI is a throwaway PKI: a CA, leaves signed by it, and a second CA
// nobody trusts. Generated once per test binary (RSA takes a moment).
type testPKI struct {
	CA       *testCert // the trusted CA (self-signed)
	Server   *testCert // ECDSA P-256, localhost, 127.0.0.1, ::1
	Wild     *testCert // ECDSA P-256, *.wild.test
	Other    *testCert // ECDSA P-256, other.test
	Client   *testCert // ECDSA P-256, client auth, CN=client.test
	RSA      *testCert // RSA 2048, localhost
	Ed       *testCert // Ed25519, localhost
	Rogue    *testCert // a CA that is not trusted
	RogueSrv *testCert // localhost, signed by Rogue
	RogueCli *testCert // a client certificate signed by Rogue
}

var (
	pkiOnce sync.Once
	pkiVal  *testPKI
	pkiErr  error
)

// certs returns the shared throwaway PKI.
func certs(t testing.TB) *testPKI {
	t.Helper()
	pkiOnce.Do(func() { pkiVal, pkiErr = makePKI() })
	if pkiErr != nil {
		t.Fatal(pkiErr)
	}
	return pkiVal
}

// caKey remembers each CA's key for signing.
type issuer struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

func makePKI() (*testPKI, error) {
	p := &testPKI{}
	ca, caIss, err := makeCA("ca", "tlschain test CA")
	if err != nil {
		return nil, err
	}
	rogue, rogueIss, err := makeCA("rogue", "rogue CA")
	if err != nil {
		return nil, err
	}
	p.CA, p.Rogue = ca, rogue
	ec := func() crypto.Signer { k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); return k }
	loop := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}
	server := x509.ExtKeyUsageServerAuth
	client := x509.ExtKeyUsageClientAuth
	specs := []struct {
		dst  **testCert
		name string
		cn   string
		dns  []string
		ips  []net.IP
		key  crypto.Signer
		eku  x509.ExtKeyUsage
		iss  *issuer
	}{
		{&p.Server, "server", "localhost", []string{"localhost"}, loop, ec(), server, caIss},
		{&p.Wild, "wild", "*.wild.test", []string{"*.wild.test"}, nil, ec(), server, caIss},
		{&p.Other, "other", "other.test", []string{"other.test"}, nil, ec(), server, caIss},
		{&p.Client, "client", "client.test", nil, nil, ec(), client, caIss},
		{&p.RSA, "rsa", "localhost", []string{"localhost"}, loop, nil, server, caIss},
		{&p.Ed, "ed25519", "localhost", []string{"localhost"}, loop, nil, server, caIss},
		{&p.RogueSrv, "roguesrv", "localhost", []string{"localhost"}, loop, ec(), server, rogueIss},
		{&p.RogueCli, "roguecli", "client.test", nil, nil, ec(), client, rogueIss},
	}
	for i, s := range specs {
		key := s.key
		switch s.name {
		case "rsa":
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, err
			}
			key = k
		case "ed25519":
			_, k, err := ed25519.GenerateKey(rand.Reader)
			if err != nil {
				return nil, err
			}
			key = k
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(int64(100 + i)),
			Subject:      pkix.Name{CommonName: s.cn, Organization: []string{"tlschain tests"}, Country: []string{"XX"}},
			DNSNames:     s.dns,
			IPAddresses:  s.ips,
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{s.eku},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, s.iss.cert, key.Public(), s.iss.key)
		if err != nil {
			return nil, err
		}
		kd, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, err
		}
		leaf := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		*s.dst = &testCert{
			Name:    s.name,
			CertPEM: append(leaf, s.iss.pem...),
			KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd}),
			DER:     der,
		}
	}
	return p, nil
}

func makeCA(name, cn string) (*testCert, *issuer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, nil, err
	}
	c, _ := x509.ParseCertificate(der)
	kd, _ := x509.MarshalPKCS8PrivateKey(k)
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &testCert{Name: name, CertPEM: p, DER: der,
			KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kd})},
		&issuer{cert: c, key: k, pem: p}, nil
}

// write puts c's files in dir as <name>.crt and <name>.key (0600) and
// returns their paths.
func (c *testCert) write(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = dir+"/"+c.Name+".crt", dir+"/"+c.Name+".key"
	if err := os.WriteFile(certFile, c.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// certDir writes the whole PKI into a fresh directory (0755, so that
// unprivileged peers such as openssl under another uid could read it) and
// returns it. Files: ca.crt, server.crt/.key, wild, other, client, rsa,
// ed25519, rogue, roguesrv, roguecli.
func certDir(t testing.TB) string {
	t.Helper()
	p := certs(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	for _, c := range []*testCert{p.CA, p.Server, p.Wild, p.Other, p.Client, p.RSA, p.Ed, p.Rogue, p.RogueSrv, p.RogueCli} {
		c.write(t, dir)
	}
	return dir
}
