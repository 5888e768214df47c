package privdrop

import (
	"bytes"
	"os"
	"strconv"
	"strings"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

// The files read for names. os/user without cgo reads the same files, but
// links fmt and reflect into every program that drops privileges.
var (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// User resolves a user name or number. For a name it returns the uid and
// the primary gid from the passwd file; for a number the gid is -1.
func User(s string) (uid, gid int, err error) {
	if n, err := parseID("uid", s); err == nil {
		return n, -1, nil
	}
	f, err := field(passwdFile, s, 2, 3)
	if err != nil {
		return 0, 0, err
	}
	uid, err1 := parseID("uid", f[0])
	gid, err2 := parseID("gid", f[1])
	if err1 != nil || err2 != nil {
		return 0, 0, exitcode.Temp("read", passwdFile, errorString("bad entry for "+s))
	}
	return uid, gid, nil
}

// Group resolves a group name or number.
func Group(s string) (int, error) {
	if n, err := parseID("gid", s); err == nil {
		return n, nil
	}
	f, err := field(groupFile, s, 2)
	if err != nil {
		return 0, err
	}
	gid, err := parseID("gid", f[0])
	if err != nil {
		return 0, exitcode.Temp("read", groupFile, errorString("bad entry for "+s))
	}
	return gid, nil
}

// Groups resolves a comma-separated list of group names or numbers.
func Groups(list string) ([]int, error) {
	var ids []int
	for _, s := range strings.Split(list, ",") {
		if s == "" {
			continue
		}
		id, err := Group(s)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// UserGroups returns the gids of the groups that list user as a member in
// the group file (initgroups(3) without NSS).
func UserGroups(user string) ([]int, error) {
	data, err := os.ReadFile(groupFile)
	if err != nil {
		return nil, exitcode.Temp("read", groupFile, err)
	}
	var ids []int
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		f := strings.Split(string(line), ":")
		if len(f) < 4 {
			continue
		}
		for _, m := range strings.Split(f[3], ",") {
			if m == user {
				if id, err := strconv.ParseUint(f[2], 10, 32); err == nil {
					ids = append(ids, int(id))
				}
			}
		}
	}
	return ids, nil
}

// field returns the fields at the given indexes of the line whose first
// field is name.
func field(file, name string, idx ...int) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, exitcode.Temp("read", file, err)
	}
	for _, line := range bytes.Split(data, []byte{'\n'}) {
		f := strings.Split(string(line), ":")
		if len(f) <= idx[len(idx)-1] || f[0] != name {
			continue
		}
		out := make([]string, len(idx))
		for i, k := range idx {
			out[i] = f[k]
		}
		return out, nil
	}
	return nil, exitcode.UsageError("unknown user or group: " + strconv.Quote(name))
}

type errorString string

func (e errorString) Error() string { return string(e) }
