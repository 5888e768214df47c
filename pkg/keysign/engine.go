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
		case TypeTickets:
			s.Tickets = true
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

// Channel is the engine's end of the key channel after the setup: every
// request waits for its reply before the next goes out (signers for
// several pairs and the ticket callbacks share it).
type Channel struct {
	mu sync.Mutex
	rw io.ReadWriter
}

// NewChannel returns the engine's end of the key channel rw.
func NewChannel(rw io.ReadWriter) *Channel { return &Channel{rw: rw} }

// call sends one request and returns the reply's status and data.
func (c *Channel) call(typ byte, req []byte) (byte, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := WriteMessage(c.rw, typ, req); err != nil {
		return 0, nil, err
	}
	rtyp, data, err := ReadMessage(c.rw)
	if err == io.EOF {
		err = ErrTruncated
	}
	if err != nil {
		return 0, nil, err
	}
	if rtyp != TypeReply || len(data) < 1 {
		return 0, nil, ErrUnexpected
	}
	return data[0], data[1:], nil
}

// Wrap asks the holder to seal a session state (crypto/tls's
// SessionState.Bytes) into a ticket.
func (c *Channel) Wrap(state []byte) ([]byte, error) {
	if len(state) > MaxMessage {
		return nil, ErrTooBig
	}
	st, ticket, err := c.call(TypeWrap, state)
	if err == nil && st != statusOK {
		err = ErrRefused
	}
	return ticket, err
}

// Unwrap asks the holder to open a client's ticket. A ticket the holder's
// keys did not seal is (nil, nil): the handshake goes on without it.
func (c *Channel) Unwrap(ticket []byte) ([]byte, error) {
	if len(ticket) > MaxMessage {
		return nil, nil
	}
	st, state, err := c.call(TypeUnwrap, ticket)
	switch {
	case err != nil:
		return nil, err
	case st == statusNotOurs:
		return nil, nil
	case st != statusOK:
		return nil, ErrRefused
	}
	return state, nil
}

// Signer is a crypto.Signer whose private key lives with the holder at the
// other end of the key channel.
type Signer struct {
	c     *Channel
	index int
	pub   crypto.PublicKey
}

// NewSigner returns a crypto.Signer for key index on the key channel c;
// pub is the public key of that pair's leaf certificate.
func (c *Channel) NewSigner(index int, pub crypto.PublicKey) crypto.Signer {
	return &Signer{c: c, index: index, pub: pub}
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
	st, sig, err := s.c.call(TypeSign, req)
	if err == nil && st != statusOK {
		err = ErrRefused
	}
	return sig, err
}
