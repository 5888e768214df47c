package cdb

import (
	"bufio"
	"errors"
	"io"
)

// Writer builds a database: it streams each record to the output as it is
// added and keeps only (hash, position) per record in memory; Close writes
// the hash tables and then the header at the start of the output.
//
// The tables come out byte for byte as djb's cdb_make writes them: tables
// in order 0–255, records placed into a table in the order they were added,
// an empty table's position being the current end of file. So two writers
// given the same records in the same order produce the same file.
type Writer struct {
	out  io.WriteSeeker
	w    *bufio.Writer
	pos  uint64
	ents []entry
	err  error
}

type entry struct{ hash, pos uint32 }

// maxSize is the largest database the 32-bit positions can describe.
const maxSize = 1<<32 - 1

// NewWriter returns a Writer that writes a database to out, starting at
// out's current offset 0. Close does not close out.
func NewWriter(out io.WriteSeeker) *Writer {
	w := &Writer{out: out, w: bufio.NewWriterSize(out, 64<<10), pos: HeaderSize}
	var zero [HeaderSize]byte
	_, w.err = w.w.Write(zero[:])
	return w
}

// Add appends a record. Keys may repeat; Find returns the first one added.
func (w *Writer) Add(key, data []byte) error {
	if w.err != nil {
		return w.err
	}
	n := 8 + uint64(len(key)) + uint64(len(data))
	// Each record also costs one 16-byte pair of table slots.
	if w.pos+n+16*uint64(len(w.ents)+1) > maxSize {
		w.err = ErrTooBig
		return w.err
	}
	var b [8]byte
	put32(b[:], uint32(len(key)))
	put32(b[4:], uint32(len(data)))
	w.write(b[:])
	w.write(key)
	w.write(data)
	if w.err != nil {
		return w.err
	}
	w.ents = append(w.ents, entry{Hash(key), uint32(w.pos)})
	w.pos += n
	return nil
}

func (w *Writer) write(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

// Close writes the hash tables and the header. The database is complete
// only when Close returns nil.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	var count [256]uint32
	for _, e := range w.ents {
		count[e.hash&255]++
	}
	// start[i] indexes bucket i's records in byBucket, which keeps the
	// order they were added.
	var start [257]uint32
	for i := range 256 {
		start[i+1] = start[i] + count[i]
	}
	byBucket := make([]entry, len(w.ents))
	next := start
	for _, e := range w.ents {
		b := e.hash & 255
		byBucket[next[b]] = e
		next[b]++
	}
	var head [HeaderSize]byte
	var table []entry
	var b [8]byte
	for i := range 256 {
		n := 2 * count[i]
		put32(head[8*i:], uint32(w.pos))
		put32(head[8*i+4:], n)
		table = append(table[:0], make([]entry, n)...)
		for _, e := range byBucket[start[i]:start[i+1]] {
			s := (e.hash >> 8) % n
			for table[s].pos != 0 {
				if s++; s == n {
					s = 0
				}
			}
			table[s] = e
		}
		for _, e := range table {
			put32(b[:], e.hash)
			put32(b[4:], e.pos)
			w.write(b[:])
		}
		w.pos += 8 * uint64(n)
	}
	if w.err != nil {
		return w.err
	}
	if w.err = w.w.Flush(); w.err != nil {
		return w.err
	}
	if _, w.err = w.out.Seek(0, io.SeekStart); w.err != nil {
		return w.err
	}
	if _, w.err = w.out.Write(head[:]); w.err != nil {
		return w.err
	}
	w.err = errClosed
	return nil
}

var errClosed = errors.New("cdb writer already closed")
