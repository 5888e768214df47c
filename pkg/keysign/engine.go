package keysign

import (
	"crypto"
	"crypto/rsa"
	"encoding/binary"
	"io"
	"sync"
)

// ReadSetup reads the setup records from the key channel r up to the end
// marker. Returned pairs carry Name and CertPEM only.
func ReadSetup(r io.Reader) (*Setup, error) {
	s := &Setup{}
	total := 0
	for {
		typ, data, err := ReadMessage(r)
		if err == io.EOF {
			return nil, ErrTruncated
		}
		if err != nil {
			return nil, err
		}
		// Bound the whole setup too: a holder is trusted, but a bug there
		// should not grow the engine without limit.
		total += len(data)
		if total > 16*MaxMessage {
			return nil, ErrTooBig
		}
		switch typ {
		case TypeCert:
			i := indexNUL(data)
			if i < 0 {
				return nil, errBadCertField
			}
			s.Pairs = append(s.Pairs, Pair{Name: string(data[:i]), CertPEM: data[i+1:]})
		case TypeCA:
			s.CAs = append(s.CAs, data)
		case TypeOCSP:
			s.OCSP = data
		case TypeTicketKeys:
			s.TicketKeys = data
		case TypeDANE:
			i := indexNUL(data)
			if i < 0 {
				return nil, errBadDANEField
			}
			s.TLSABase, s.TLSA = string(data[:i]), string(data[i+1:])
		case TypeEnd:
			return s, nil
		default:
			return nil, ErrUnexpected
		}
	}
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// chanMu serialises requests on the key channel: signers for several
// pairs share one fd, and a request and its reply must not interleave with
// another's.
var chanMu sync.Mutex

// Signer is a crypto.Signer whose private key lives with the holder at the
// other end of the key channel.
type Signer struct {
	rw    io.ReadWriter
	index int
	pub   crypto.PublicKey
}

// NewSigner returns a crypto.Signer for key index on the key channel rw;
// pub is the public key of that pair's leaf certificate.
func NewSigner(rw io.ReadWriter, index int, pub crypto.PublicKey) *Signer {
	return &Signer{rw: rw, index: index, pub: pub}
}

// Public returns the public key of the pair.
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Sign asks the holder to sign digest. opts.HashFunc() is the hash (0 for
// Ed25519, which signs the message itself); *rsa.PSSOptions asks for
// RSA-PSS with the salt as long as the hash, the only salt TLS uses.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	h := opts.HashFunc()
	if h > 255 || len(digest) > MaxMessage-4 {
		return nil, ErrBadRequest
	}
	var pss byte
	if o, ok := opts.(*rsa.PSSOptions); ok {
		if o.SaltLength != rsa.PSSSaltLengthEqualsHash && o.SaltLength != hashSize(h) {
			return nil, ErrBadRequest
		}
		pss = 1
	}
	req := make([]byte, 4, 4+len(digest))
	binary.BigEndian.PutUint16(req, uint16(s.index))
	req[2] = byte(h)
	req[3] = pss
	req = append(req, digest...)

	chanMu.Lock()
	defer chanMu.Unlock()
	if err := WriteMessage(s.rw, TypeSign, req); err != nil {
		return nil, err
	}
	typ, data, err := ReadMessage(s.rw)
	if err == io.EOF {
		err = ErrTruncated
	}
	if err != nil {
		return nil, err
	}
	if typ != TypeReply || len(data) < 1 {
		return nil, ErrUnexpected
	}
	if data[0] != 0 {
		return nil, ErrRefused
	}
	return data[1:], nil
}
