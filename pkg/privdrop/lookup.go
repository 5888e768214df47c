package privdrop

import (
	"strconv"
	"strings"
	"syscall"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

// The system's account files. os/user without cgo reads the same files,
// but links fmt and reflect into every program that drops privileges.
const (
	PasswdFile = "/etc/passwd"
	GroupFile  = "/etc/group"
)

// DB names the passwd(5) and group(5) files that user and group names are
// looked up in. The zero DB means the system's files; tests point a DB at
// their own files instead of changing anything global.
type DB struct {
	PasswdFile string // "" means PasswdFile
	GroupFile  string // "" means GroupFile
}

func (db DB) passwd() string {
	if db.PasswdFile == "" {
		return PasswdFile
	}
	return db.PasswdFile
}

func (db DB) group() string {
	if db.GroupFile == "" {
		return GroupFile
	}
	return db.GroupFile
}

// User resolves a user name or number in the system's passwd file. For a
// name it returns the uid and the primary gid; for a number the gid is -1.
func User(s string) (uid, gid int, err error) { return DB{}.User(s) }

// Group resolves a group name or number in the system's group file.
func Group(s string) (int, error) { return DB{}.Group(s) }

// User resolves a user name or number. A string of digits is a uid (as in
// s6-applyuidgid), even if a user of that name exists. For a name it
// returns the uid and the primary gid from the passwd file; for a number
// the gid is -1.
func (db DB) User(s string) (uid, gid int, err error) {
	if isNumber(s) {
		n, err := parseID("uid", s)
		return n, -1, err
	}
	if !validName(s) {
		return 0, 0, exitcode.UsageError("bad user name " + strconv.Quote(s))
	}
	f, err := db.entry(db.passwd(), s, 2, 3)
	if err != nil {
		return 0, 0, err
	}
	if f == nil {
		return 0, 0, exitcode.UsageError("unknown user " + strconv.Quote(s))
	}
	uid, err1 := parseID("uid", f[0])
	gid, err2 := parseID("gid", f[1])
	if err1 != nil || err2 != nil {
		return 0, 0, exitcode.Temp("read", db.passwd(), errorString("bad entry for user "+strconv.Quote(s)))
	}
	return uid, gid, nil
}

// Group resolves a group name or number.
func (db DB) Group(s string) (int, error) {
	if isNumber(s) {
		return parseID("gid", s)
	}
	if !validName(s) {
		return 0, exitcode.UsageError("bad group name " + strconv.Quote(s))
	}
	f, err := db.entry(db.group(), s, 2)
	if err != nil {
		return 0, err
	}
	if f == nil {
		return 0, exitcode.UsageError("unknown group " + strconv.Quote(s))
	}
	gid, err := parseID("gid", f[0])
	if err != nil {
		return 0, exitcode.Temp("read", db.group(), errorString("bad entry for group "+strconv.Quote(s)))
	}
	return gid, nil
}

// Groups resolves a comma-separated list of group names or numbers. Empty
// items are skipped, so "" is the empty list.
func (db DB) Groups(list string) ([]int, error) {
	var ids []int
	for s := range strings.SplitSeq(list, ",") {
		if s == "" {
			continue
		}
		id, err := db.Group(s)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// UserGroups returns the gids of the groups that list user as a member,
// in file order, each once.
func (db DB) UserGroups(user string) ([]int, error) {
	data, err := readFile(db.group())
	if err != nil {
		return nil, err
	}
	var ids []int
	for len(data) > 0 {
		var line string
		line, data = nextLine(data)
		// name:password:gid:member,member
		f := strings.SplitN(line, ":", 4)
		if len(f) < 4 || !isMember(f[3], user) {
			continue
		}
		id, err := parseID("gid", f[2])
		if err != nil {
			continue
		}
		ids = appendNew(ids, id)
	}
	return ids, nil
}

// InitGroups returns what initgroups(3) would set for user with primary
// group gid: gid first, then every group that lists user as a member.
func (db DB) InitGroups(user string, gid int) ([]int, error) {
	ids, err := db.UserGroups(user)
	if err != nil {
		return nil, err
	}
	out := []int{gid}
	for _, id := range ids {
		out = appendNew(out, id)
	}
	return out, nil
}

func isMember(members, user string) bool {
	for m := range strings.SplitSeq(members, ",") {
		if strings.TrimSpace(m) == user {
			return true
		}
	}
	return false
}

func appendNew(ids []int, id int) []int {
	for _, x := range ids {
		if x == id {
			return ids
		}
	}
	return append(ids, id)
}

// entry returns the fields at the given indexes of the first line of file
// whose first field is name, or nil when there is none.
func (db DB) entry(file, name string, idx ...int) ([]string, error) {
	data, err := readFile(file)
	if err != nil {
		return nil, err
	}
	for len(data) > 0 {
		var line string
		line, data = nextLine(data)
		if len(line) <= len(name) || line[len(name)] != ':' || line[:len(name)] != name {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) <= idx[len(idx)-1] {
			continue
		}
		out := make([]string, len(idx))
		for i, k := range idx {
			out[i] = f[k]
		}
		return out, nil
	}
	return nil, nil
}

func nextLine(data string) (line, rest string) {
	line, rest, _ = strings.Cut(data, "\n")
	return line, rest
}

// maxFile bounds what is read from an account file.
const maxFile = 64 << 20

// readFile reads file with plain system calls: os.ReadFile would start the
// runtime's poller (an epoll fd and an eventfd) in a program that is about
// to exec.
func readFile(file string) (string, error) {
	fd, err := syscall.Open(file, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return "", exitcode.Temp("read", file, err)
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	size := 4096
	if syscall.Fstat(fd, &st) == nil && st.Size > 0 && st.Size < maxFile {
		size = int(st.Size) + 1
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			if len(buf) >= maxFile {
				return "", exitcode.Temp("read", file, errorString("file too large"))
			}
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := syscall.Read(fd, buf[len(buf):cap(buf)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return "", exitcode.Temp("read", file, err)
		}
		if n == 0 {
			return string(buf), nil
		}
		buf = buf[:len(buf)+n]
	}
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validName rejects what can never be a user or group name and would
// confuse the file parser: empty, ':', ',', NUL, newline.
func validName(s string) bool {
	return s != "" && len(s) <= 256 && !strings.ContainsAny(s, ":,\n\x00")
}

type errorString string

func (e errorString) Error() string { return string(e) }
