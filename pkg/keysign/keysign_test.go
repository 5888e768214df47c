package keysign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"strings"
	"syscall"
	"testing"
	"time"
)

var frameTests = []struct {
	name string
	in   []byte
	typ  byte
	data string
	err  error
}{
	{"empty", nil, 0, "", io.EOF},
	{"end", []byte{'E', 0, 0, 0, 0}, 'E', "", nil},
	{"data", []byte{'C', 0, 0, 0, 3, 'a', 0, 'b'}, 'C', "a\x00b", nil},
	{"short header", []byte{'C', 0, 0}, 0, "", ErrTruncated},
	{"short data", []byte{'C', 0, 0, 0, 9, 'a'}, 0, "", ErrTruncated},
	{"too big", []byte{'C', 0, 0x10, 0, 1}, 0, "", ErrTooBig},
	{"huge", []byte{'C', 0xff, 0xff, 0xff, 0xff}, 0, "", ErrTooBig},
	{"max announced, nothing sent", []byte{'C', 0, 0x10, 0, 0}, 0, "", ErrTruncated},
}

func TestReadMessage(t *testing.T) {
	for _, tc := range frameTests {
		t.Run(tc.name, func(t *testing.T) {
			typ, data, err := ReadMessage(bytes.NewReader(tc.in))
			if err != tc.err {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && (typ != tc.typ || string(data) != tc.data) {
				t.Fatalf("got %q %q", typ, data)
			}
		})
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	var b bytes.Buffer
	big := bytes.Repeat([]byte("x"), MaxMessage)
	for _, d := range [][]byte{nil, []byte("hello"), big} {
		if err := WriteMessage(&b, 'A', d); err != nil {
			t.Fatal(err)
		}
		typ, got, err := ReadMessage(&b)
		if err != nil || typ != 'A' || !bytes.Equal(got, d) {
			t.Fatalf("round trip of %d bytes: %v", len(d), err)
		}
	}
	if err := WriteMessage(&b, 'A', append(big, 'x')); err != ErrTooBig {
		t.Fatalf("oversized write: %v", err)
	}
}

func TestSetupRoundTrip(t *testing.T) {
	in := &Setup{
		Pairs:    []Pair{{Name: "", CertPEM: []byte("PEM0")}, {Name: "*.example.com", CertPEM: []byte("PEM1"), KeyPEM: []byte("SECRET")}},
		CAs:      [][]byte{[]byte("CA1"), []byte("CA2")},
		OCSP:     []byte("ocsp"),
		Tickets:  true,
		TLSABase: "mx.example.net",
		TLSA:     "3 1 1 ab;2 0 1 cd",
	}
	var b bytes.Buffer
	if err := WriteSetup(&b, in); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b.Bytes(), []byte("SECRET")) {
		t.Fatal("the setup carries a key")
	}
	out, err := ReadSetup(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Pairs) != 2 || out.Pairs[1].Name != "*.example.com" || string(out.Pairs[1].CertPEM) != "PEM1" ||
		out.Pairs[1].KeyPEM != nil || len(out.CAs) != 2 || string(out.OCSP) != "ocsp" || !out.Tickets ||
		out.TLSABase != "mx.example.net" || out.TLSA != "3 1 1 ab;2 0 1 cd" {
		t.Fatalf("got %+v", out)
	}
	if _, err := ReadSetup(bytes.NewReader([]byte{'D', 0, 0, 0, 1, 'x'})); err != errBadDANEField {
		t.Fatalf("DANE record without NUL: %v", err)
	}
	if _, err := ReadSetup(bytes.NewReader([]byte{'C', 0, 0, 0, 1, 'x'})); err != errBadCertField {
		t.Fatalf("cert without NUL: %v", err)
	}
	if _, err := ReadSetup(bytes.NewReader([]byte{'E', 0, 0, 0, 0}[:0])); err != ErrTruncated {
		t.Fatalf("empty setup: %v", err)
	}
	if _, err := ReadSetup(bytes.NewReader([]byte{'s', 0, 0, 0, 0})); err != ErrUnexpected {
		t.Fatalf("unexpected type: %v", err)
	}
}

// testPair makes a self-signed certificate for key, PEM-encoded, and the
// key in the given PEM form.
func testPair(t testing.TB, key crypto.Signer, keyForm string) Pair {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"test"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	var kb []byte
	switch keyForm {
	case "PKCS1":
		kb = x509.MarshalPKCS1PrivateKey(key.(*rsa.PrivateKey))
		keyForm = "RSA PRIVATE KEY"
	case "SEC1":
		kb, err = x509.MarshalECPrivateKey(key.(*ecdsa.PrivateKey))
		keyForm = "EC PRIVATE KEY"
	default:
		kb, err = x509.MarshalPKCS8PrivateKey(key)
		keyForm = "PRIVATE KEY"
	}
	if err != nil {
		t.Fatal(err)
	}
	return Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: keyForm, Bytes: kb}),
	}
}

var (
	rsaKey, _   = rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _    = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, edKey, _ = ed25519.GenerateKey(rand.Reader)
)

func TestLoadKeys(t *testing.T) {
	good := []struct {
		name string
		key  crypto.Signer
		form string
	}{
		{"RSA PKCS#1", rsaKey, "PKCS1"},
		{"RSA PKCS#8", rsaKey, "PKCS8"},
		{"EC SEC1", ecKey, "SEC1"},
		{"EC PKCS#8", ecKey, "PKCS8"},
		{"Ed25519", edKey, "PKCS8"},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			p := testPair(t, tc.key, tc.form)
			// a key file that holds EC PARAMETERS or the certificate too
			p.KeyPEM = append(append([]byte(nil), p.CertPEM...), p.KeyPEM...)
			k, err := LoadKeys([]Pair{p})
			if err != nil || k.Len() != 1 {
				t.Fatal(err)
			}
		})
	}
	ec := testPair(t, ecKey, "SEC1")
	rs := testPair(t, rsaKey, "PKCS1")
	bad := []struct {
		name string
		pair Pair
		err  error
		text string
	}{
		{"mismatch", Pair{Name: "mail.example.com", CertPEM: ec.CertPEM, KeyPEM: rs.KeyPEM}, ErrKeyMismatch,
			`certificate/key pair for "mail.example.com": the private key does not match the certificate's public key`},
		{"no cert", Pair{CertPEM: rs.KeyPEM, KeyPEM: rs.KeyPEM}, ErrNoCert, "default certificate/key pair: no CERTIFICATE block in the certificate file"},
		{"no key", Pair{CertPEM: rs.CertPEM, KeyPEM: rs.CertPEM}, ErrNoKey, ""},
		{"encrypted", Pair{CertPEM: rs.CertPEM, KeyPEM: []byte("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")}, ErrEncrypted, ""},
		{"garbage key", Pair{CertPEM: rs.CertPEM, KeyPEM: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")}, nil, "bad private key"},
		{"garbage cert", Pair{CertPEM: []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), KeyPEM: rs.KeyPEM}, nil, "bad leaf certificate"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadKeys([]Pair{ec, tc.pair})
			var pe *PairError
			if !errors.As(err, &pe) || pe.Index != 1 {
				t.Fatalf("err = %v, want a PairError for pair 1", err)
			}
			if tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if tc.text != "" && !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("err = %q, want it to contain %q", err, tc.text)
			}
		})
	}
}

// A pair's key is parsed once per content: the same bytes give the same
// signer, other bytes are parsed (and checked) again, and the memory is
// bounded.
func TestLoadKeysRemembers(t *testing.T) {
	p := testPair(t, ecKey, "PKCS8")
	a, err := LoadKeys([]Pair{p})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := LoadKeys([]Pair{p})
	if a.signers[0] != b.signers[0] {
		t.Errorf("same pair parsed twice")
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	q := testPair(t, other, "PKCS8")
	if _, err := LoadKeys([]Pair{{CertPEM: p.CertPEM, KeyPEM: q.KeyPEM}}); !errors.Is(err, ErrKeyMismatch) {
		t.Errorf("a key replaced under a remembered certificate: %v", err)
	}
	c, err := LoadKeys([]Pair{q})
	if err != nil || c.signers[0] == a.signers[0] || !c.signers[0].Public().(*ecdsa.PublicKey).Equal(other.Public()) {
		t.Errorf("renewed pair: %v", err)
	}
	for i := 0; i < 2*parsedMax; i++ {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if _, err := LoadKeys([]Pair{testPair(t, k, "SEC1")}); err != nil {
			t.Fatal(err)
		}
	}
	parsed.Lock()
	n := len(parsed.m)
	parsed.Unlock()
	if n > parsedMax {
		t.Errorf("%d pairs remembered, at most %d", n, parsedMax)
	}
}

// serve runs ServeStream on one end of a socketpair and returns the other end.
func serve(t *testing.T, keys *Keys, setup *Setup, g Grant) (fd int, done chan error) {
	t.Helper()
	p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	done = make(chan error, 1)
	go func() { done <- ServeStream(fdio(p[0]), keys, setup, g); syscall.Close(p[0]) }()
	t.Cleanup(func() { syscall.Close(p[1]) })
	return p[1], done
}

func TestServeSign(t *testing.T) {
	pairs := []Pair{testPair(t, ecKey, "SEC1"), testPair(t, rsaKey, "PKCS1"), testPair(t, edKey, "PKCS8")}
	pairs[1].Name = "rsa.example"
	keys, err := LoadKeys(pairs)
	if err != nil {
		t.Fatal(err)
	}
	// A grant far beyond one handshake's: this test is about signing.
	fd, done := serve(t, keys, &Setup{Pairs: pairs}, Grant{Signatures: 100})
	s, err := ReadSetup(fdio(fd))
	ch := NewChannel(fdio(fd))
	if err != nil || len(s.Pairs) != 3 || s.Pairs[1].Name != "rsa.example" {
		t.Fatalf("setup %+v %v", s, err)
	}
	d := sha256.Sum256([]byte("hello"))

	sig, err := ch.NewSigner(0, ecKey.Public()).Sign(nil, d[:], crypto.SHA256)
	if err != nil || !ecdsa.VerifyASN1(&ecKey.PublicKey, d[:], sig) {
		t.Fatalf("ECDSA: %v", err)
	}
	sig, err = ch.NewSigner(1, rsaKey.Public()).Sign(nil, d[:], crypto.SHA256)
	if err != nil || rsa.VerifyPKCS1v15(&rsaKey.PublicKey, crypto.SHA256, d[:], sig) != nil {
		t.Fatalf("RSA PKCS#1: %v", err)
	}
	pss := &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	sig, err = ch.NewSigner(1, rsaKey.Public()).Sign(nil, d[:], pss)
	if err != nil || rsa.VerifyPSS(&rsaKey.PublicKey, crypto.SHA256, d[:], sig, pss) != nil {
		t.Fatalf("RSA PSS: %v", err)
	}
	msg := []byte("the whole message, not a digest")
	sig, err = ch.NewSigner(2, edKey.Public()).Sign(nil, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(edKey.Public().(ed25519.PublicKey), msg, sig) {
		t.Fatalf("Ed25519: %v", err)
	}

	// Refusals: the channel stays usable after each.
	refused := []struct {
		name   string
		index  int
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"bad index", 3, d[:], crypto.SHA256},
		{"short digest", 0, d[:31], crypto.SHA256},
		{"digest for another hash", 0, d[:], crypto.SHA384},
		{"unsupported hash", 0, d[:16], crypto.MD5},
		{"hash for Ed25519", 2, d[:], crypto.SHA256},
		{"PSS on ECDSA", 0, d[:], pss},
		{"no hash for ECDSA", 0, d[:], crypto.Hash(0)},
	}
	for _, tc := range refused {
		if _, err := ch.NewSigner(tc.index, nil).Sign(nil, tc.digest, tc.opts); err != ErrRefused {
			t.Errorf("%s: err = %v, want ErrRefused", tc.name, err)
		}
	}
	if _, err := ch.NewSigner(0, ecKey.Public()).Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatalf("after refusals: %v", err)
	}
	syscall.Shutdown(fd, syscall.SHUT_WR)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeStream after EOF: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeStream did not return after EOF")
	}
}

func TestServeEngineGone(t *testing.T) {
	pairs := []Pair{testPair(t, ecKey, "SEC1")}
	keys, _ := LoadKeys(pairs)
	p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.Close(p[1])
	defer syscall.Close(p[0])
	if err := ServeStream(fdio(p[0]), keys, &Setup{Pairs: pairs}, ServerGrant(0, false)); err != nil {
		t.Fatalf("ServeStream to a closed engine: %v", err)
	}
	if err := ServeStream(fdio(p[0]), keys, &Setup{}, ServerGrant(0, false)); err != ErrPairsDiffer {
		t.Fatalf("mismatched setup: %v", err)
	}
}

// BenchmarkRemoteSign is the cost of one ECDSA P-256 signature over the
// key channel; BenchmarkLocalSign the signature alone.
func BenchmarkRemoteSign(b *testing.B) {
	pairs := []Pair{testPair(b, ecKey, "SEC1")}
	keys, _ := LoadKeys(pairs)
	p, _ := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	done := make(chan error, 1)
	go func() { done <- ServeStream(fdio(p[0]), keys, &Setup{Pairs: pairs}, Grant{Signatures: b.N}) }()
	ReadSetup(fdio(p[1]))
	s := NewChannel(fdio(p[1])).NewSigner(0, ecKey.Public())
	d := sha256.Sum256([]byte("x"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Sign(nil, d[:], crypto.SHA256); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	syscall.Shutdown(p[1], syscall.SHUT_RDWR)
	<-done
	syscall.Close(p[0])
	syscall.Close(p[1])
}

func BenchmarkLocalSign(b *testing.B) {
	d := sha256.Sum256([]byte("x"))
	for i := 0; i < b.N; i++ {
		ecKey.Sign(rand.Reader, d[:], crypto.SHA256)
	}
}
