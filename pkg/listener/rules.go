package listener

import (
	"errors"
	"io/fs"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/rules"
)

// ruleFile is the -x database. ucspi-tcp re-opens it per connection in the
// child; here it is checked in the parent before fork, and re-opened when
// the file at the path changed (tcprules renames a new one into place:
// stat per connection is cheap) or on SIGHUP.
type ruleFile struct {
	path      string
	missingOK bool // -X

	mu     sync.Mutex // rules.DB is for one goroutine at a time
	db     *rules.DB
	st     unix.Stat_t // of the file db was opened from
	reopen bool        // SIGHUP asked for a fresh open
}

// errMissing means the rules file does not exist and -X was not given.
var errMissing = errors.New("file does not exist")

// check looks q up. It returns allow with no rule when the file is
// missing under -X. An error means "refuse the connection": a missing file
// without -X, a file that cannot be opened, a corrupt database.
func (r *ruleFile) check(q rules.Query) (rules.Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var st unix.Stat_t
	if err := unix.Stat(r.path, &st); err != nil {
		r.closeLocked()
		if err == unix.ENOENT {
			if r.missingOK {
				return rules.Result{}, nil
			}
			return rules.Result{}, exitcode.Temp("read", r.path, errMissing)
		}
		return rules.Result{}, exitcode.Temp("read", r.path, err)
	}
	if r.db == nil || r.reopen || !sameFile(&st, &r.st) {
		r.closeLocked()
		db, err := rules.Open(r.path)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && r.missingOK {
				return rules.Result{}, nil
			}
			return rules.Result{}, err
		}
		r.db, r.st, r.reopen = db, st, false
	}
	res, err := r.db.Lookup(q)
	if err != nil {
		// Corrupt: open afresh next time, in case it gets replaced.
		r.closeLocked()
		return rules.Result{}, err
	}
	return res, nil
}

// hup makes the next check open the file again.
func (r *ruleFile) hup() {
	r.mu.Lock()
	r.reopen = true
	r.mu.Unlock()
}

func (r *ruleFile) closeLocked() {
	if r.db != nil {
		r.db.Close()
		r.db = nil
	}
}

// sameFile compares what changes when a file is replaced or rewritten.
func sameFile(a, b *unix.Stat_t) bool {
	return a.Dev == b.Dev && a.Ino == b.Ino && a.Size == b.Size &&
		a.Mtim == b.Mtim && a.Ctim == b.Ctim
}
