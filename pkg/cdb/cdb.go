// Package cdb reads and writes D. J. Bernstein's constant databases, the
// format of the rules file tcpserver -x reads and tcprules writes.
//
// Layout (all numbers 32-bit little-endian): a 2048-byte header of 256
// (position, slot count) pairs, one per hash table; the records, each
// (key length, data length, key, data), in the order they were added; then
// the 256 hash tables, each a run of (hash, record position) slots, twice
// as many slots as records in that table, position 0 marking an empty slot.
// A key's hash h starts at 5381 and takes h = (h*33) ^ byte for each byte;
// its table is h & 255 and its search starts at slot (h >> 8) mod slots,
// probing linearly.
//
// The Reader checks every position and length it reads against the file
// size: a truncated or corrupt database gives ErrCorrupt, never a panic or
// a read out of range.
package cdb

import "errors"

// HeaderSize is the size of the table of hash-table positions that starts
// every database.
const HeaderSize = 2048

// ErrCorrupt reports a database whose positions or lengths do not fit the
// file: it was truncated, or it is not a cdb.
var ErrCorrupt = errors.New("corrupt or truncated cdb")

// ErrTooBig reports a database that would not fit the format's 4 GiB.
var ErrTooBig = errors.New("cdb would exceed 4 GiB")

// Hash returns the cdb hash of key.
func Hash(key []byte) uint32 {
	h := uint32(5381)
	for _, c := range key {
		h = (h<<5 + h) ^ uint32(c)
	}
	return h
}

func get32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func put32(b []byte, v uint32) {
	b[0] = byte(v)
	b[1] = byte(v >> 8)
	b[2] = byte(v >> 16)
	b[3] = byte(v >> 24)
}
