package policy

import (
	"bufio"
	"errors"
	"io"
	"strconv"

	"github.com/tlschain/tlschain/pkg/cdb"
	"github.com/tlschain/tlschain/pkg/logline"
)

// magicKey marks a compiled policy table, so that a rules.cdb or any
// other cdb given by mistake is refused instead of read as "no entry".
// It cannot be a domain key (those have no NUL).
const (
	magicKey   = "\x00tlspolicy"
	magicValue = "1"
)

// LineError is a line of the text that does not parse.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return "line " + strconv.Itoa(e.Line) + ": " + e.Err.Error() }
func (e *LineError) Unwrap() error { return e.Err }

// Compile reads the text from in and adds every entry to w, the magic key
// first. A line that does not parse, or a domain given twice, is a
// *LineError; read errors are returned as they are.
func Compile(w *cdb.Writer, in io.Reader) error {
	if err := w.Add([]byte(magicKey), []byte(magicValue)); err != nil {
		return err
	}
	br := bufio.NewReaderSize(in, 64<<10)
	seen := map[string]int{}
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err != nil && err != io.EOF {
			if err == errLong {
				return &LineError{n, err}
			}
			return err
		}
		if len(line) > 0 {
			l, perr := ParseLine(line)
			switch {
			case perr == ErrSkip:
			case perr != nil:
				return &LineError{n, perr}
			default:
				if first, dup := seen[l.Key]; dup {
					return &LineError{n, errors.New("domain " + logline.Quote(l.Key, 60) + " already on line " + strconv.Itoa(first))}
				}
				seen[l.Key] = n
				if werr := w.Add([]byte(l.Key), []byte(l.Entry.String())); werr != nil {
					return werr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

var errLong = errors.New("line longer than 65536 bytes")

func readLine(br *bufio.Reader) (string, error) {
	var long []byte
	line, err := br.ReadSlice('\n')
	for err == bufio.ErrBufferFull {
		long = append(long, line...)
		if len(long) > MaxLine+2 {
			return "", errLong
		}
		line, err = br.ReadSlice('\n')
	}
	if long != nil {
		line = append(long, line...)
	}
	if len(line) > MaxLine+2 {
		return "", errLong
	}
	return string(line), err
}

// Table is an open compiled table. It reads through the open file, so a
// table replaced by rename(2) while open is never seen torn: a Table
// answers from the version it opened.
type Table struct{ r *cdb.Reader }

// ErrNotTable says the file is a cdb but not a policy table.
var ErrNotTable = errors.New("not a compiled policy table (tlspolicy)")

// Open opens the compiled table at path.
func Open(path string) (*Table, error) {
	r, err := cdb.Open(path)
	if err != nil {
		return nil, err
	}
	v, ok, err := r.Find([]byte(magicKey))
	if err == nil && (!ok || string(v) != magicValue) {
		err = ErrNotTable
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return &Table{r}, nil
}

// Close closes the table's file.
func (t *Table) Close() error { return t.r.Close() }

// Lookup returns the entry for domain (normalised) and the key that
// matched; ok is false when no key matched, not even the default.
func (t *Table) Lookup(domain string) (e *Entry, key string, ok bool, err error) {
	for _, k := range Keys(domain) {
		v, found, err := t.r.Find([]byte(k))
		if err != nil {
			return nil, "", false, err
		}
		if !found {
			continue
		}
		e, err := ParseEntry(string(v))
		if err != nil {
			return nil, "", false, errors.New("entry " + logline.Quote(k, 60) + " of the table: " + err.Error())
		}
		return e, k, true, nil
	}
	return nil, "", false, nil
}
