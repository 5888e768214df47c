package rules

import (
	"io"
	"os"

	"github.com/tlschain/tlschain/pkg/cdb"
	"github.com/tlschain/tlschain/pkg/exitcode"
)

// memLimit is the largest rules database Open reads into memory; a larger
// one is read with pread through the open file.
const memLimit = 16 << 20

// DB is an open rules database (a cdb in ucspi-tcp's format). It holds the
// file's contents (or its open fd), never the path, so a database replaced
// by rename while open is never read torn: reopen to see the new one.
// Safe for use by one goroutine at a time.
type DB struct {
	path string
	r    *cdb.Reader
	f    *os.File // the open file, when too big to hold in memory
	key  []byte   // scratch for building keys
}

// Open opens the rules database at path. Errors are *exitcode.Error with
// code 111; a missing file's error satisfies errors.Is(err, fs.ErrNotExist).
// A file too short to be a cdb is an error here; other corruption is
// reported by Lookup.
func Open(path string) (*DB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, exitcode.Temp("open", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, exitcode.Temp("read", path, err)
	}
	size := st.Size()
	var r *cdb.Reader
	var keep *os.File
	if size <= memLimit {
		b := make([]byte, size)
		_, err = io.ReadFull(io.NewSectionReader(f, 0, size), b)
		f.Close()
		if err == io.ErrUnexpectedEOF || err == io.EOF {
			err = cdb.ErrCorrupt
		}
		if err == nil {
			r, err = cdb.New(b)
		}
	} else {
		r, err = cdb.NewReaderAt(f, size)
		if err != nil {
			f.Close()
		} else {
			keep = f
		}
	}
	if err != nil {
		return nil, exitcode.Temp("read", path, err)
	}
	return &DB{path: path, r: r, f: keep}, nil
}

// Close releases the database.
func (db *DB) Close() error {
	if db.r == nil {
		return nil
	}
	var err error
	if db.f != nil {
		err = db.f.Close()
	}
	db.r, db.f = nil, nil
	return err
}

// Query is what is known about a client. IP is the address as tcpserver
// prints it in TCPREMOTEIP (a plain "1.2.3.4" for IPv4, "::1" for IPv6);
// Host (TCPREMOTEHOST) and Info (TCPREMOTEINFO) are "" when unknown.
type Query struct {
	IP, Host, Info string
}

// Result is the outcome of a lookup.
type Result struct {
	Found bool     // a rule matched; otherwise the default: allow, no variables
	Key   string   // the key that matched, for the log ("1.2.3.", "=host", "" for the default)
	Deny  bool     // the rule denies the connection
	Env   []string // "NAME=value" assignments of the rule, in rule order
}

// Lookup finds the rule for q the way ucspi-tcp 0.88's tcpserver does,
// the first key present winning:
//
//  1. INFO@IP, then INFO@=HOST (only when Info is known; the second only
//     when Host is known too)
//  2. IP
//  3. =HOST (when Host is known)
//  4. each prefix of IP ending in '.' or ':', longest first
//     (1.2.3., 1.2., 1.; 2001:db8::, 2001:db8:, 2001:)
//  5. =.suffix at each '.' of HOST from the left (=.mail.example.com,
//     =.example.com, =.com), then = (when Host is known)
//  6. the empty key
//
// A corrupt or truncated database is an error (code 111), never an allow.
func (db *DB) Lookup(q Query) (Result, error) {
	if db.r == nil {
		return Result{}, exitcode.Temp("read", db.path, os.ErrClosed)
	}
	if q.Info != "" {
		if res, err := db.try(q.Info, "@", q.IP); res.Found || err != nil {
			return res, err
		}
		if q.Host != "" {
			if res, err := db.try(q.Info, "@=", q.Host); res.Found || err != nil {
				return res, err
			}
		}
	}
	if res, err := db.try(q.IP, "", ""); res.Found || err != nil {
		return res, err
	}
	if q.Host != "" {
		if res, err := db.try("=", q.Host, ""); res.Found || err != nil {
			return res, err
		}
	}
	for n := len(q.IP); n > 0; n-- {
		if c := q.IP[n-1]; c == '.' || c == ':' {
			if res, err := db.try(q.IP[:n], "", ""); res.Found || err != nil {
				return res, err
			}
		}
	}
	if q.Host != "" {
		for i := 0; i < len(q.Host); i++ {
			if q.Host[i] == '.' {
				if res, err := db.try("=", q.Host[i:], ""); res.Found || err != nil {
					return res, err
				}
			}
		}
		if res, err := db.try("=", "", ""); res.Found || err != nil {
			return res, err
		}
	}
	return db.try("", "", "")
}

// try looks up the key a+b+c.
func (db *DB) try(a, b, c string) (Result, error) {
	db.key = append(append(append(db.key[:0], a...), b...), c...)
	data, ok, err := db.r.Find(db.key)
	if err != nil {
		return Result{}, exitcode.Temp("read", db.path, err)
	}
	if !ok {
		return Result{}, nil
	}
	res := Result{Found: true, Key: string(db.key)}
	res.Deny, res.Env = decode(data)
	return res, nil
}

// decode reads a record's data the way tcpserver does: a run of
// NUL-terminated items, "D" denies, "+NAME=value" sets a variable, anything
// else (and an unterminated tail) is ignored. Reading stops at the deny
// item, as tcprulescheck's output does: tcprules writes it first.
func decode(data []byte) (deny bool, env []string) {
	for len(data) > 0 {
		end := -1
		for i, c := range data {
			if c == 0 {
				end = i
				break
			}
		}
		if end < 0 {
			break
		}
		item := data[:end]
		data = data[end+1:]
		if len(item) == 0 {
			continue
		}
		switch item[0] {
		case 'D':
			return true, env
		case '+':
			for _, c := range item[1:] {
				if c == '=' {
					env = append(env, string(item[1:]))
					break
				}
			}
		}
	}
	return false, env
}
