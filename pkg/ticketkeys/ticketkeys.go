// Package ticketkeys owns the shared session-ticket key file: N×32 bytes,
// newest key first. Key 0 encrypts new tickets; every key decrypts, so a
// ticket issued before a rotation still resumes until its key is dropped.
// Every engine of a service reaches the same keys through its key holder,
// which seals and opens its tickets: that is what lets one per-connection
// engine resume a session another engine started (doc/design.md §5.6,
// doc/tlskeys.md).
package ticketkeys

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"github.com/google/renameio/v2"
)

// KeySize is the size of one ticket key (crypto/tls's SetSessionTicketKeys).
const KeySize = 32

// MaxKeys is the largest number of keys a file may hold.
const MaxKeys = 8

// ErrSize says a file is not 1..MaxKeys whole keys.
var ErrSize = errors.New("ticket key file must hold 1 to " + strconv.Itoa(MaxKeys) + " keys of " + strconv.Itoa(KeySize) + " bytes")

// Parse splits b into keys, newest first.
func Parse(b []byte) ([][KeySize]byte, error) {
	if len(b) == 0 || len(b)%KeySize != 0 || len(b)/KeySize > MaxKeys {
		return nil, ErrSize
	}
	keys := make([][KeySize]byte, len(b)/KeySize)
	for i := range keys {
		copy(keys[i][:], b[i*KeySize:])
	}
	return keys, nil
}

// Read reads and validates the key file at path and returns its bytes
// (what the key holder sends the engine as its 'T' record).
func Read(path string) ([]byte, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	if _, err := Parse(b); err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return b, nil
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, MaxKeys*KeySize+1)
	n := 0
	for n < len(b) {
		k, err := f.Read(b[n:])
		n += k
		if err != nil || k == 0 {
			break
		}
	}
	return b[:n], nil
}

// New writes a file holding one fresh random key, replacing path.
func New(path string) error {
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	return write(path, k)
}

// Rotate puts a fresh random key in front of the keys in path and keeps at
// most n keys (1 ≤ n ≤ MaxKeys), dropping the oldest. A missing file
// starts with the new key alone. The file is replaced atomically: a
// failure leaves the old file whole.
func Rotate(path string, n int) error {
	if n < 1 || n > MaxKeys {
		return errors.New("the number of keys must be from 1 to " + strconv.Itoa(MaxKeys))
	}
	old, err := Read(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	b := make([]byte, KeySize, KeySize+len(old))
	if _, err := rand.Read(b); err != nil {
		return err
	}
	b = append(b, old...)
	if len(b) > n*KeySize {
		b = b[:n*KeySize]
	}
	return write(path, b)
}

// write replaces path with b: a 0600 temporary file in the same
// directory, fsync, rename, then an fsync of the directory (renameio
// does not sync the directory, and without it a crash may forget the
// rename).
func write(path string, b []byte) error {
	dir := filepath.Dir(path)
	pf, err := renameio.NewPendingFile(path, renameio.WithTempDir(dir), renameio.WithStaticPermissions(0o600))
	if err != nil {
		return err
	}
	defer pf.Cleanup()
	if _, err := pf.Write(b); err != nil {
		return err
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
