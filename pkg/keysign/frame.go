// Package keysign is the key channel between a key holder (tlsd, tlsc: they
// read the private keys as root) and the TLS engine (tlswrap: unprivileged,
// it never holds a private key). The holder sends the engine its setup —
// certificate chains, CA certificates, an OCSP staple — and then, for one
// handshake only (Grant), signs digests and seals and opens session
// tickets for it on request: neither the private keys nor the ticket keys
// ever reach the engine. doc/tlswrap.md describes the protocol; this
// package is both ends of it.
//
// The package must not import crypto/tls: the holders link it, and only
// the engine may carry the TLS stack.
package keysign

import (
	"encoding/binary"
	"errors"
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// Message types on the key channel.
const (
	TypeCert    = 'C' // holder → engine: SNI name, NUL, PEM chain (leaf first); the i-th is key i
	TypeCA      = 'A' // holder → engine: CA certificates (PEM) to verify the peer with
	TypeOCSP    = 'O' // holder → engine: OCSP staple (DER) for key 0
	TypeTickets = 'T' // holder → engine: empty; the holder seals and opens session tickets
	TypeDANE    = 'D' // holder → engine: TLSA base name, NUL, TLSA records in pkg/dane's text form
	TypeEnd     = 'E' // holder → engine: end of setup
	TypeSign    = 's' // engine → holder: index(u16) hash(u8) pss(u8) digest
	TypeWrap    = 'w' // engine → holder: a session state to seal into a ticket
	TypeUnwrap  = 'u' // engine → holder: a client's ticket to open
	TypeReply   = 'r' // holder → engine: status(u8) signature, ticket or state
)

// MaxMessage is the largest data part of one message.
const MaxMessage = 1 << 20

// headerLen is the type byte plus the big-endian uint32 length.
const headerLen = 5

// Errors of the framing.
var (
	ErrTooBig    = errors.New("key channel message too big")
	ErrTruncated = errors.New("key channel message truncated")
)

// WriteMessage writes one message: type, length (uint32 BE), data.
func WriteMessage(w io.Writer, typ byte, data []byte) error {
	if len(data) > MaxMessage {
		return ErrTooBig
	}
	b := make([]byte, headerLen+len(data))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(len(data)))
	copy(b[headerLen:], data)
	_, err := w.Write(b)
	return err
}

// ReadMessage reads one message. A clean EOF before the first byte is
// io.EOF; EOF inside a message is ErrTruncated. It never allocates more
// than the bytes actually received, plus one chunk, so a peer announcing a
// big message and sending nothing costs nothing.
func ReadMessage(r io.Reader) (typ byte, data []byte, err error) {
	var h [headerLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = ErrTruncated
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > MaxMessage {
		return 0, nil, ErrTooBig
	}
	const chunk = 64 << 10
	data = make([]byte, 0, min(int(n), chunk))
	for len(data) < int(n) {
		k := min(int(n)-len(data), chunk)
		data = append(data, make([]byte, k)...)
		if _, err := io.ReadFull(r, data[len(data)-k:]); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				err = ErrTruncated
			}
			return 0, nil, err
		}
	}
	return h[0], data, nil
}

// fdio reads and writes a raw, blocking fd without handing it to the Go
// runtime's poller: no os.File, so nothing closes it behind our back when a
// value is collected, and no O_NONBLOCK is set on a descriptor another
// process shares.
type fdio int

func (f fdio) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(f), p)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			wait(int(f), unix.POLLIN)
			continue
		}
		if err != nil {
			return 0, errnoErr("read", err)
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f fdio) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Write(int(f), p[done:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			wait(int(f), unix.POLLOUT)
			continue
		}
		if err != nil {
			return done, errnoErr("write", err)
		}
		done += n
	}
	return done, nil
}

// wait blocks until fd is ready (the fd is normally blocking; this only
// matters if someone set O_NONBLOCK on it).
func wait(fd int, events int16) {
	p := []unix.PollFd{{Fd: int32(fd), Events: events}}
	unix.Poll(p, -1)
}

func errnoErr(op string, err error) error {
	if e, ok := err.(syscall.Errno); ok {
		return &opError{op: op, err: e}
	}
	return err
}

type opError struct {
	op  string
	err syscall.Errno
}

func (e *opError) Error() string { return e.op + " key channel: " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }
