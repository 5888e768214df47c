package cdb

import (
	"bytes"
	"io"
	"os"
)

// Reader looks keys up in a database. It reads either from memory (New)
// or through an open file with pread (Open), never from the path again, so
// a database replaced by rename(2) while it is open is never seen torn.
// A Reader is safe for use by one goroutine at a time.
type Reader struct {
	mem  []byte      // the whole database, or nil
	ra   io.ReaderAt // the file, when mem is nil
	f    *os.File    // closed by Close, when Open opened it
	size uint64
	head [HeaderSize]byte
	buf  []byte // scratch for reads through ra
}

// New returns a Reader over the database held in b. The Reader keeps b;
// the caller must not change it.
func New(b []byte) (*Reader, error) {
	r := &Reader{mem: b, size: uint64(len(b))}
	if len(b) < HeaderSize {
		return nil, ErrCorrupt
	}
	copy(r.head[:], b)
	if !r.headerFits() {
		return nil, ErrCorrupt
	}
	return r, nil
}

// headerFits reports whether every hash table the header names lies
// inside the file, after the header. Tables come last in a cdb, so this
// catches any truncation at Open, whichever keys are looked up later.
func (r *Reader) headerFits() bool {
	for i := 0; i < HeaderSize; i += 8 {
		pos, n := uint64(get32(r.head[i:])), uint64(get32(r.head[i+4:]))
		if pos < HeaderSize || pos > r.size || n > (r.size-pos)/8 {
			return false
		}
	}
	return true
}

// NewReaderAt returns a Reader over the size bytes of ra.
func NewReaderAt(ra io.ReaderAt, size int64) (*Reader, error) {
	if size < HeaderSize || uint64(size) > 1<<32 {
		return nil, ErrCorrupt
	}
	r := &Reader{ra: ra, size: uint64(size)}
	if _, err := ra.ReadAt(r.head[:], 0); err != nil {
		return nil, readError(err)
	}
	if !r.headerFits() {
		return nil, ErrCorrupt
	}
	return r, nil
}

// Open opens the database at path and reads it through the open file.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	r, err := NewReaderAt(f, st.Size())
	if err != nil {
		f.Close()
		return nil, err
	}
	r.f = f
	return r, nil
}

// Close closes the file Open opened; it does nothing for other Readers.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Size returns the size of the database in bytes.
func (r *Reader) Size() int64 { return int64(r.size) }

// readError turns a short read (the file shrank under us) into ErrCorrupt.
func readError(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return ErrCorrupt
	}
	return err
}

// at returns n bytes at pos, or ErrCorrupt when they are not all inside the
// database. The slice is valid until the next call.
func (r *Reader) at(pos, n uint64) ([]byte, error) {
	if pos > r.size || n > r.size-pos {
		return nil, ErrCorrupt
	}
	if r.mem != nil {
		return r.mem[pos : pos+n : pos+n], nil
	}
	if r.ra == nil {
		return nil, os.ErrClosed
	}
	if uint64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := r.ra.ReadAt(b, int64(pos)); err != nil {
		return nil, readError(err)
	}
	return b, nil
}

// Find returns the data of the first record with key, and whether there is
// one. The data is a fresh copy.
func (r *Reader) Find(key []byte) ([]byte, bool, error) {
	var data []byte
	found := false
	err := r.find(key, func(d []byte) bool {
		data, found = bytes.Clone(d), true
		return false
	})
	return data, found, err
}

// FindAll returns the data of every record with key, in the order they
// were added.
func (r *Reader) FindAll(key []byte) ([][]byte, error) {
	var all [][]byte
	err := r.find(key, func(d []byte) bool {
		all = append(all, bytes.Clone(d))
		return true
	})
	return all, err
}

// find calls fn with the data of each record with key, in order, until fn
// returns false. The slice passed to fn is valid only during the call.
func (r *Reader) find(key []byte, fn func([]byte) bool) error {
	h := Hash(key)
	slot := 8 * (h & 255)
	tpos := uint64(get32(r.head[slot:]))
	nslots := uint64(get32(r.head[slot+4:]))
	if nslots == 0 {
		return nil
	}
	if tpos < HeaderSize || tpos > r.size || nslots > (r.size-tpos)/8 {
		return ErrCorrupt
	}
	s := uint64(h>>8) % nslots
	// A table has at least one empty slot when it was written by a cdb
	// writer; the count bounds the probe when it was not.
	for range nslots {
		b, err := r.at(tpos+8*s, 8)
		if err != nil {
			return err
		}
		sh, rpos := get32(b), uint64(get32(b[4:]))
		if rpos == 0 {
			return nil
		}
		if rpos < HeaderSize {
			return ErrCorrupt
		}
		if sh == h {
			b, err := r.at(rpos, 8)
			if err != nil {
				return err
			}
			klen, dlen := uint64(get32(b)), uint64(get32(b[4:]))
			if klen == uint64(len(key)) {
				k, err := r.at(rpos+8, klen)
				if err != nil {
					return err
				}
				if bytes.Equal(k, key) {
					d, err := r.at(rpos+8+klen, dlen)
					if err != nil {
						return err
					}
					if !fn(d) {
						return nil
					}
				}
			}
		}
		if s++; s == nslots {
			s = 0
		}
	}
	return nil
}

// ForEach calls fn with each record's key and data, in the order they were
// added, and stops at the first error fn returns. The slices are valid
// only during the call.
func (r *Reader) ForEach(fn func(key, data []byte) error) error {
	// The records end where the first hash table starts.
	// Empty tables may sit anywhere; the first table that has slots, or
	// table 0 when none has, marks the end.
	end, any := uint64(get32(r.head[:])), false
	for i := 0; i < HeaderSize; i += 8 {
		if get32(r.head[i+4:]) == 0 {
			continue
		}
		if p := uint64(get32(r.head[i:])); !any || p < end {
			end, any = p, true
		}
	}
	if end < HeaderSize || end > r.size {
		return ErrCorrupt
	}
	for pos := uint64(HeaderSize); pos < end; {
		b, err := r.at(pos, 8)
		if err != nil {
			return err
		}
		klen, dlen := uint64(get32(b)), uint64(get32(b[4:]))
		if pos+8 > end || klen+dlen > end-pos-8 {
			return ErrCorrupt
		}
		rec, err := r.at(pos+8, klen+dlen)
		if err != nil {
			return err
		}
		rec = bytes.Clone(rec) // fn may call Find
		if err := fn(rec[:klen:klen], rec[klen:]); err != nil {
			return err
		}
		pos += 8 + klen + dlen
	}
	return nil
}
