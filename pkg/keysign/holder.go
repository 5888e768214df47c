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
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
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
	Pairs []Pair   // KeyPEM is never sent
	CAs   [][]byte // PEM bundles to verify the peer with
	OCSP  []byte   // DER OCSP response for pair 0
	// Tickets says the holder seals and opens session tickets for the
	// engine (the holder's Keys have a Sealer); the keys never leave it.
	Tickets bool
	// TLSABase and TLSA are the DANE records to match the server with
	// (client side): the TLSA base name (RFC 7671 §7: the name DANE-TA
	// chains are checked against) and the records as pkg/dane's text.
	TLSABase string
	TLSA     string
}

// Keys holds the parsed private keys, in the order of the pairs given to
// LoadKeys: key i signs for the i-th pair; and the ticket sealer, if the
// service has ticket keys.
type Keys struct {
	signers []crypto.Signer
	Tickets *Sealer
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
// under tlsserver). Bounded: at most parsedMax pairs, then it starts over.
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

// Grant is what the holder grants one engine: one handshake's requests,
// within a window of time. The engine parses everything the peer sends,
// so the holder assumes it may be compromised: a signing oracle without a
// bound is as good as the key for impersonating the server, and the same
// holds for sealing tickets. A full handshake signs once (the server's
// CertificateVerify or ServerKeyExchange, or the client's certificate);
// a resumption opens one ticket; the server seals the one ticket it sends
// (two, for slack). An engine that asks for more is not running the
// suite's code.
type Grant struct {
	Signatures int
	Unwraps    int
	Wraps      int
	// Window bounds the time from the engine's first request to its
	// last (the handshake deadline, -K); 0 means none. It starts at the
	// first request, not at the engine's start: in delayed mode the
	// cleartext phase comes first, and may be long.
	Window time.Duration
}

// ServerGrant is a TLS server's grant: one signature, and the tickets
// when it has ticket keys.
func ServerGrant(window time.Duration, tickets bool) Grant {
	g := Grant{Signatures: 1, Window: window}
	if tickets {
		g.Unwraps, g.Wraps = 1, 2
	}
	return g
}

// ClientGrant is a TLS client's grant: the one signature of a client
// certificate.
func ClientGrant(window time.Duration) Grant {
	return Grant{Signatures: 1, Window: window}
}

// take counts one request of type typ against the grant; false: beyond it.
func (g *Grant) take(typ byte) bool {
	var n *int
	switch typ {
	case TypeSign:
		n = &g.Signatures
	case TypeUnwrap:
		n = &g.Unwraps
	case TypeWrap:
		n = &g.Wraps
	default:
		return false
	}
	if *n <= 0 {
		return false
	}
	*n--
	return true
}

// Reasons ServeStream stops before the engine closes the channel.
var (
	// ErrOverGrant is a request beyond the grant, or of a kind the setup
	// did not offer: a sign of a compromised engine. It was refused.
	ErrOverGrant = errors.New("the TLS engine asked for more than one handshake's signatures or tickets")
	// ErrWindow is the grant's window run out with the channel open.
	ErrWindow = errors.New("the handshake's window on the key channel has closed")
)

// deadliner is a stream whose reads can be given a deadline (an *os.File
// in non-blocking mode, a net.Conn).
type deadliner interface {
	SetReadDeadline(time.Time) error
}

// ServeStream writes setup to rw, then answers the engine's requests with
// keys until the first of: the engine closes its end (nil), a request
// beyond the grant (ErrOverGrant, after a refusal), the grant's window runs out
// (ErrWindow: rw must be a deadliner for that; otherwise the caller
// enforces it by closing the channel), or the caller's shutdown of the
// channel (nil: the spawner does that at the report). A spent grant
// grants nothing more, but the channel stays open until one of these:
// a further request is the engine giving itself away. A request that names a bad index,
// an unsupported hash or a digest of the wrong length is refused (status
// 1) and counted; a framing error ends it. setup.Pairs and keys must come
// from the same list; setup.Tickets must say whether keys has a Sealer.
func ServeStream(rw io.ReadWriter, keys *Keys, setup *Setup, g Grant) error {
	if len(setup.Pairs) != keys.Len() || setup.Tickets != (keys.Tickets != nil) {
		return ErrPairsDiffer
	}
	if err := WriteSetup(rw, setup); err != nil {
		if errors.Is(err, syscall.EPIPE) {
			return nil // the engine is gone (declined or failed): nothing to serve
		}
		return err
	}
	if keys.Tickets == nil {
		g.Unwraps, g.Wraps = 0, 0
	}
	dl, _ := rw.(deadliner)
	first := true
	for {
		typ, data, err := ReadMessage(rw)
		if err == io.EOF || errors.Is(err, syscall.ECONNRESET) {
			return nil
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return ErrWindow
		}
		if err != nil {
			return err
		}
		if first && g.Window > 0 && dl != nil {
			dl.SetReadDeadline(time.Now().Add(g.Window))
		}
		first = false
		if !g.take(typ) {
			if typ != TypeSign && typ != TypeWrap && typ != TypeUnwrap {
				return ErrUnexpected
			}
			WriteMessage(rw, TypeReply, []byte{statusRefused})
			return ErrOverGrant
		}
		if err := WriteMessage(rw, TypeReply, keys.answer(typ, data)); err != nil {
			if errors.Is(err, syscall.EPIPE) {
				return nil
			}
			return err
		}
	}
}

// Reply statuses: the first byte of a TypeReply.
const (
	statusOK      = 0
	statusRefused = 1 // a bad request, or one beyond the grant
	statusNotOurs = 2 // a ticket no key of the file sealed
)

// answer is the reply to one granted request.
func (k *Keys) answer(typ byte, data []byte) []byte {
	switch typ {
	case TypeSign:
		sig, err := k.sign(data)
		if err != nil {
			return []byte{statusRefused}
		}
		return append([]byte{statusOK}, sig...)
	case TypeWrap:
		return append([]byte{statusOK}, k.Tickets.Seal(data)...)
	case TypeUnwrap:
		state, ok := k.Tickets.Open(data)
		if !ok {
			return []byte{statusNotOurs}
		}
		return append([]byte{statusOK}, state...)
	}
	return []byte{statusRefused}
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
	if s.Tickets {
		if err := WriteMessage(w, TypeTickets, nil); err != nil {
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
