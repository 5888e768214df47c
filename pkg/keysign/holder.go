package keysign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"io"
	"strconv"
	"sync"
	"syscall"
)

// Pair is one certificate and its key, as the holder read them. Name is
// the SNI name the pair serves ("" for the default pair, "*.example.com"
// for a one-label wildcard). The engine receives Name and CertPEM only.
type Pair struct {
	Name    string
	CertPEM []byte // the chain, leaf first
	KeyPEM  []byte
}

// Setup is what the holder sends the engine before the handshake.
type Setup struct {
	Pairs      []Pair   // KeyPEM is never sent
	CAs        [][]byte // PEM bundles to verify the peer with
	OCSP       []byte   // DER OCSP response for pair 0
	TicketKeys []byte   // N×32 bytes, newest first (pkg/ticketkeys)
	// TLSABase and TLSA are the DANE records to match the server with
	// (client side): the TLSA base name (RFC 7671 §7: the name DANE-TA
	// chains are checked against) and the records as pkg/dane's text.
	TLSABase string
	TLSA     string
}

// Keys holds the parsed private keys, in the order of the pairs given to
// LoadKeys: key i signs for the i-th pair.
type Keys struct {
	signers []crypto.Signer
}

// Len returns the number of keys.
func (k *Keys) Len() int { return len(k.signers) }

// PairError says which pair failed to load and why.
type PairError struct {
	Index int
	Name  string
	Err   error
}

func (e *PairError) Error() string {
	what := "default certificate/key pair"
	if e.Name != "" {
		what = "certificate/key pair for " + strconv.Quote(e.Name)
	}
	return what + ": " + e.Err.Error()
}

func (e *PairError) Unwrap() error { return e.Err }

// Reasons a pair does not load.
var (
	ErrNoCert       = errors.New("no CERTIFICATE block in the certificate file")
	ErrNoKey        = errors.New("no private key block in the key file")
	ErrEncrypted    = errors.New("the private key is encrypted (not supported)")
	ErrKeyType      = errors.New("unsupported private key type (want RSA, ECDSA or Ed25519)")
	ErrKeyMismatch  = errors.New("the private key does not match the certificate's public key")
	ErrPairsDiffer  = errors.New("keys and setup list a different number of pairs")
	ErrRefused      = errors.New("the key holder refused to sign")
	ErrBadRequest   = errors.New("bad sign request")
	ErrUnexpected   = errors.New("unexpected message on the key channel")
	ErrNoPairs      = errors.New("no certificate in the setup")
	errBadCertField = errors.New("certificate record without a NUL after the name")
	errBadDANEField = errors.New("DANE record without a NUL after the TLSA base name")
)

// LoadKeys parses each pair's key (RSA PKCS#1 or PKCS#8, EC SEC1 or PKCS#8,
// Ed25519 PKCS#8) and checks that it matches the public key of the pair's
// leaf certificate. Errors are *PairError; the caller names the files.
func LoadKeys(pairs []Pair) (*Keys, error) {
	k := &Keys{signers: make([]crypto.Signer, len(pairs))}
	for i, p := range pairs {
		s, err := loadPair(p)
		if err != nil {
			return nil, &PairError{Index: i, Name: p.Name, Err: err}
		}
		k.signers[i] = s
	}
	return k, nil
}

// parsed remembers the keys of the pairs loaded last, by the pair's exact
// bytes: a server that reads its files for each connection (so that a
// renewed certificate takes effect at once) parses a pair once per change
// of either file, not once per connection (about 1% of a connection's CPU
// under tcpserver). Bounded: at most parsedMax pairs, then it starts over.
var parsed struct {
	sync.Mutex
	m map[string]crypto.Signer
}

const parsedMax = 64

func loadPair(p Pair) (crypto.Signer, error) {
	id := strconv.Itoa(len(p.CertPEM)) + ":" + string(p.CertPEM) + string(p.KeyPEM)
	parsed.Lock()
	s, ok := parsed.m[id]
	parsed.Unlock()
	if ok {
		return s, nil
	}
	s, err := parsePair(p)
	if err != nil {
		return nil, err
	}
	parsed.Lock()
	if parsed.m == nil || len(parsed.m) >= parsedMax {
		parsed.m = make(map[string]crypto.Signer)
	}
	parsed.m[id] = s
	parsed.Unlock()
	return s, nil
}

func parsePair(p Pair) (crypto.Signer, error) {
	leaf, err := firstCert(p.CertPEM)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(p.KeyPEM)
	if err != nil {
		return nil, err
	}
	pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(key.Public()) {
		return nil, ErrKeyMismatch
	}
	return key, nil
}

// firstCert parses the first CERTIFICATE block of b (the leaf).
func firstCert(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, ErrNoCert
		}
		if blk.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return nil, errors.New("bad leaf certificate: " + err.Error())
			}
			return c, nil
		}
	}
}

// parseKey finds the first private key block in b (a key file may also
// hold certificates or EC PARAMETERS) and parses it.
func parseKey(b []byte) (crypto.Signer, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, ErrNoKey
		}
		var key any
		var err error
		switch blk.Type {
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return nil, ErrEncrypted
		default:
			continue
		}
		if _, ok := blk.Headers["Proc-Type"]; ok {
			return nil, ErrEncrypted
		}
		if err != nil {
			return nil, errors.New("bad private key: " + err.Error())
		}
		switch s := key.(type) {
		case *rsa.PrivateKey:
			return s, nil
		case *ecdsa.PrivateKey:
			return s, nil
		case ed25519.PrivateKey:
			return s, nil
		}
		return nil, ErrKeyType
	}
}

// Serve writes setup to fd, then answers sign requests with keys until the
// engine closes its end (EOF: nil error). setup.Pairs and keys must come
// from the same list. A request that names a bad index, an unsupported
// hash, or a digest of the wrong length is refused (status 1) and Serve
// goes on; a framing error ends it.
func Serve(fd int, keys *Keys, setup *Setup) error {
	return ServeStream(fdio(fd), keys, setup)
}

// ServeStream is Serve on any stream. A spawner that serves many engines
// at once (tcpserver doing tlsd's work) gives it an *os.File in
// non-blocking mode: waiting for the engine then holds no thread.
func ServeStream(w io.ReadWriter, keys *Keys, setup *Setup) error {
	if len(setup.Pairs) != keys.Len() {
		return ErrPairsDiffer
	}
	if err := WriteSetup(w, setup); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			return nil // the engine is gone (declined or failed): nothing to serve
		}
		return err
	}
	for {
		typ, data, err := ReadMessage(w)
		if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			return nil
		}
		if err != nil {
			return err
		}
		if typ != TypeSign {
			return ErrUnexpected
		}
		sig, err := keys.sign(data)
		reply := []byte{0}
		if err != nil {
			reply[0] = 1
		} else {
			reply = append(reply, sig...)
		}
		if err := WriteMessage(w, TypeReply, reply); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil
			}
			return err
		}
	}
}

// WriteSetup writes the setup records and the end marker to w.
func WriteSetup(w io.Writer, s *Setup) error {
	for _, p := range s.Pairs {
		d := make([]byte, 0, len(p.Name)+1+len(p.CertPEM))
		d = append(append(append(d, p.Name...), 0), p.CertPEM...)
		if err := WriteMessage(w, TypeCert, d); err != nil {
			return err
		}
	}
	for _, ca := range s.CAs {
		if err := WriteMessage(w, TypeCA, ca); err != nil {
			return err
		}
	}
	if len(s.OCSP) > 0 {
		if err := WriteMessage(w, TypeOCSP, s.OCSP); err != nil {
			return err
		}
	}
	if len(s.TicketKeys) > 0 {
		if err := WriteMessage(w, TypeTicketKeys, s.TicketKeys); err != nil {
			return err
		}
	}
	if s.TLSA != "" {
		if err := WriteMessage(w, TypeDANE, append(append([]byte(s.TLSABase), 0), s.TLSA...)); err != nil {
			return err
		}
	}
	return WriteMessage(w, TypeEnd, nil)
}

// hashSize gives the digest length of each hash the holder signs with.
func hashSize(h crypto.Hash) int {
	switch h {
	case crypto.SHA1:
		return 20
	case crypto.SHA256:
		return 32
	case crypto.SHA384:
		return 48
	case crypto.SHA512:
		return 64
	}
	return -1
}

// sign checks and answers one request: index(u16) hash(u8) pss(u8) digest.
func (k *Keys) sign(req []byte) ([]byte, error) {
	if len(req) < 4 {
		return nil, ErrBadRequest
	}
	idx := int(binary.BigEndian.Uint16(req))
	h := crypto.Hash(req[2])
	pss := req[3]
	digest := req[4:]
	if idx >= len(k.signers) || pss > 1 {
		return nil, ErrBadRequest
	}
	switch key := k.signers[idx].(type) {
	case ed25519.PrivateKey:
		if h != 0 || pss != 0 {
			return nil, ErrBadRequest
		}
		return key.Sign(rand.Reader, digest, crypto.Hash(0))
	case *rsa.PrivateKey:
		if hashSize(h) != len(digest) {
			return nil, ErrBadRequest
		}
		if pss == 1 {
			return rsa.SignPSS(rand.Reader, key, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h})
		}
		return rsa.SignPKCS1v15(rand.Reader, key, h, digest)
	case *ecdsa.PrivateKey:
		if hashSize(h) != len(digest) || pss != 0 {
			return nil, ErrBadRequest
		}
		return key.Sign(rand.Reader, digest, h)
	}
	return nil, ErrBadRequest
}
