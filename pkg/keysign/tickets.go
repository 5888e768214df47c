package keysign

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"

	"github.com/tlschain/tlschain/pkg/ticketkeys"
)

// Session tickets are sealed and opened by the holder, never by the
// engine: an engine that held the ticket keys could, once compromised,
// decrypt every recorded TLS 1.2 session resumed with a ticket (the ticket
// carries the master secret) and forge resumption for any client while
// the keys are valid. The engine sends the session state crypto/tls
// serialises (Config.WrapSession) and gets back the ticket; it sends a
// client's ticket (Config.UnwrapSession) and gets back the state, within
// its handshake's grant.
//
// A ticket is name(8) nonce(12) AES-256-GCM(state), the name and nonce as
// additional data: the name says which key of the file sealed it, so a
// rotation (tlskeys rotate) keeps older tickets valid until their key is
// dropped. Both the AES key and the name come from the file's 32-byte key
// by HKDF-SHA256, so the name reveals nothing of the key.

const (
	ticketName  = 8
	ticketNonce = 12
	ticketInfo  = "tlschain session ticket v1"
)

type sealKey struct {
	name [ticketName]byte
	aead cipher.AEAD
}

// Sealer seals session states with the newest ticket key and opens
// tickets sealed with any key of the file.
type Sealer struct {
	keys []sealKey
}

// NewSealer returns the sealer of a ticket key file's bytes (N×32, newest
// first: pkg/ticketkeys).
func NewSealer(file []byte) (*Sealer, error) {
	raw, err := ticketkeys.Parse(file)
	if err != nil {
		return nil, err
	}
	s := &Sealer{keys: make([]sealKey, len(raw))}
	for i, k := range raw {
		okm, err := hkdf.Key(sha256.New, k[:], nil, ticketInfo, 32+ticketName)
		if err != nil {
			return nil, err
		}
		block, err := aes.NewCipher(okm[:32])
		if err != nil {
			return nil, err
		}
		if s.keys[i].aead, err = cipher.NewGCM(block); err != nil {
			return nil, err
		}
		copy(s.keys[i].name[:], okm[32:])
	}
	return s, nil
}

// Seal returns the ticket for state.
func (s *Sealer) Seal(state []byte) []byte {
	k := &s.keys[0]
	t := make([]byte, ticketName+ticketNonce, ticketName+ticketNonce+len(state)+k.aead.Overhead())
	copy(t, k.name[:])
	rand.Read(t[ticketName:])
	return k.aead.Seal(t, t[ticketName:], state, t)
}

// Open returns the state sealed in ticket, or false when no key of the
// file sealed it (another service's, an expired key's, or forged).
func (s *Sealer) Open(ticket []byte) ([]byte, bool) {
	if len(ticket) < ticketName+ticketNonce {
		return nil, false
	}
	hdr := ticket[:ticketName+ticketNonce]
	for i := range s.keys {
		k := &s.keys[i]
		if subtle.ConstantTimeCompare(hdr[:ticketName], k.name[:]) != 1 {
			continue
		}
		state, err := k.aead.Open(nil, hdr[ticketName:], ticket[ticketName+ticketNonce:], hdr)
		if err == nil {
			return state, true
		}
	}
	return nil, false
}
