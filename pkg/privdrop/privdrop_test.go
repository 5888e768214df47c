package privdrop

import (
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
)

const testPasswd = `root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
qmaild:x:1001:2001::/var/qmail:/bin/false
bad:x:notanumber:5::/:/bin/false
123:x:4242:4343::/:/bin/false
short:x:7
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin`

const testGroup = `root:x:0:
daemon:x:1:
nofiles:x:2001:
qmail:x:2002:qmaild,alias
mail:x:8:alias, qmaild
dup:x:2002:qmaild
bad:x:oops:qmaild
nogroup:x:65534:`

// testDB writes the account files into a temp dir.
func testDB(t *testing.T) DB {
	t.Helper()
	dir := t.TempDir()
	db := DB{PasswdFile: filepath.Join(dir, "passwd"), GroupFile: filepath.Join(dir, "group")}
	if err := os.WriteFile(db.PasswdFile, []byte(testPasswd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db.GroupFile, []byte(testGroup), 0o644); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestUser(t *testing.T) {
	db := testDB(t)
	for _, tc := range []struct {
		in       string
		uid, gid int64
		code     int
	}{
		{"qmaild", 1001, 2001, 0},
		{"nobody", 65534, 65534, 0},
		{"root", 0, 0, 0},
		{"1001", 1001, -1, 0},
		{"123", 123, -1, 0},                  // digits are a uid even if a user has that name
		{"4294967294", 4294967294, -1, 0},    // fails where int has 32 bits, see below
		{"4294967295", 0, 0, exitcode.Usage}, // (uid_t)-1 means "no change"
		{"99999999999999999999", 0, 0, exitcode.Usage},
		{"nosuch", 0, 0, exitcode.Usage},
		{"", 0, 0, exitcode.Usage},
		{"ro", 0, 0, exitcode.Usage}, // a prefix of root is not root
		{"root:x", 0, 0, exitcode.Usage},
		{"a\nroot", 0, 0, exitcode.Usage},
		{"bad", 0, 0, exitcode.Temporary},
		{"short", 0, 0, exitcode.Usage},
	} {
		uid, gid, err := db.User(tc.in)
		if tc.uid > int64(^uint(0)>>1) {
			if exitcode.Code(err) != exitcode.Usage {
				t.Errorf("User(%q) on a 32-bit int: %v, want a usage error", tc.in, err)
			}
			continue
		}
		if code := exitcode.Code(err); code != tc.code {
			t.Errorf("User(%q): code %d (%v), want %d", tc.in, code, err, tc.code)
			continue
		}
		if err == nil && (int64(uid) != tc.uid || int64(gid) != tc.gid) {
			t.Errorf("User(%q) = %d, %d, want %d, %d", tc.in, uid, gid, tc.uid, tc.gid)
		}
	}
}

func TestGroupLookups(t *testing.T) {
	db := testDB(t)
	if g, err := db.Group("qmail"); err != nil || g != 2002 {
		t.Errorf("Group(qmail) = %d, %v", g, err)
	}
	if _, err := db.Group("nosuch"); exitcode.Code(err) != exitcode.Usage || err.Error() != `unknown group "nosuch"` {
		t.Errorf("Group(nosuch): %v", err)
	}
	if _, err := db.Group("bad"); exitcode.Code(err) != exitcode.Temporary {
		t.Errorf("Group(bad): %v", err)
	}
	if ids, err := db.Groups("qmail,,8,nogroup"); err != nil || !reflect.DeepEqual(ids, []int{2002, 8, 65534}) {
		t.Errorf("Groups = %v, %v", ids, err)
	}
	if ids, err := db.Groups(""); err != nil || ids != nil {
		t.Errorf("Groups(\"\") = %v, %v", ids, err)
	}
	// qmaild is listed by qmail, mail (after a space) and dup (same gid as
	// qmail, counted once); bad has no number and is skipped.
	if ids, err := db.UserGroups("qmaild"); err != nil || !reflect.DeepEqual(ids, []int{2002, 8}) {
		t.Errorf("UserGroups(qmaild) = %v, %v", ids, err)
	}
	if ids, err := db.InitGroups("qmaild", 2001); err != nil || !reflect.DeepEqual(ids, []int{2001, 2002, 8}) {
		t.Errorf("InitGroups(qmaild) = %v, %v", ids, err)
	}
	if ids, err := db.InitGroups("nobody", 65534); err != nil || !reflect.DeepEqual(ids, []int{65534}) {
		t.Errorf("InitGroups(nobody) = %v, %v", ids, err)
	}
	missing := DB{PasswdFile: "/nonexistent/passwd", GroupFile: "/nonexistent/group"}
	if _, _, err := missing.User("x"); exitcode.Code(err) != exitcode.Temporary {
		t.Errorf("User with no passwd file: %v", err)
	}
}

var envTests = []struct {
	name string
	env  []string
	want Cred
	code int
}{
	{"all", []string{"UID=1001", "GID=2001", "GIDLIST=2001,8"}, Cred{Set: true, UID: 1001, GID: 2001, Groups: []int{2001, 8}}, 0},
	{"no list", []string{"UID=1", "GID=2"}, Cred{Set: true, UID: 1, GID: 2}, 0},
	{"empty list", []string{"UID=1", "GID=2", "GIDLIST="}, Cred{Set: true, UID: 1, GID: 2}, 0},
	{"first wins", []string{"UID=1", "GID=2", "UID=3"}, Cred{Set: true, UID: 1, GID: 2}, 0},
	{"no uid", []string{"GID=2"}, Cred{}, exitcode.Usage},
	{"no gid", []string{"UID=2"}, Cred{}, exitcode.Usage},
	{"empty uid", []string{"UID=", "GID=2"}, Cred{}, exitcode.Usage},
	{"negative", []string{"UID=-1", "GID=2"}, Cred{}, exitcode.Usage},
	{"plus", []string{"UID=+1", "GID=2"}, Cred{}, exitcode.Usage},
	{"hex", []string{"UID=0x10", "GID=2"}, Cred{}, exitcode.Usage},
	{"max", []string{"UID=4294967295", "GID=2"}, Cred{}, exitcode.Usage},
	{"list junk", []string{"UID=1", "GID=2", "GIDLIST=1,x"}, Cred{}, exitcode.Usage},
	{"list empty item", []string{"UID=1", "GID=2", "GIDLIST=1,,2"}, Cred{}, exitcode.Usage},
	{"space", []string{"UID= 1", "GID=2"}, Cred{}, exitcode.Usage},
}

func TestFromEnv(t *testing.T) {
	for _, tc := range envTests {
		c, err := FromEnv(tc.env)
		if code := exitcode.Code(err); code != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.name, code, err, tc.code)
			continue
		}
		if err == nil && !reflect.DeepEqual(c, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, c, tc.want)
		}
	}
}

func TestOptionsResolve(t *testing.T) {
	db := testDB(t)
	uid, gid := syscall.Getuid(), syscall.Getgid()
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want Cred
		code int
	}{
		{"none", nil, nil, Cred{}, 0},
		{"user name: gid and initgroups", []string{"-u", "qmaild"}, nil, Cred{Set: true, UID: 1001, GID: 2001, Groups: []int{2001, 2002, 8}}, 0},
		{"user name, -g", []string{"-u", "qmaild", "-g", "nogroup"}, nil, Cred{Set: true, UID: 1001, GID: 65534, Groups: []int{65534, 2002, 8}}, 0},
		{"user name, -G", []string{"-u", "qmaild", "-G", "8,daemon"}, nil, Cred{Set: true, UID: 1001, GID: 2001, Groups: []int{8, 1}}, 0},
		{"user name, empty -G", []string{"-u", "qmaild", "-G", ""}, nil, Cred{Set: true, UID: 1001, GID: 2001}, 0},
		{"numbers", []string{"-u", "65534", "-g", "65534"}, nil, Cred{Set: true, UID: 65534, GID: 65534}, 0},
		{"uid alone", []string{"-u", "65534"}, nil, Cred{}, exitcode.Usage},
		{"root refused", []string{"-u", "root"}, nil, Cred{}, exitcode.Usage},
		{"root allowed", []string{"-0", "-u", "0", "-g", "0"}, nil, Cred{Set: true, UID: 0, GID: 0, AllowRoot: true}, 0},
		{"-g alone keeps uid", []string{"-g", "daemon"}, nil, Cred{Set: true, UID: uid, GID: 1, AllowRoot: true}, 0},
		{"-G alone", []string{"-G", "8"}, nil, Cred{Set: true, UID: uid, GID: gid, Groups: []int{8}, AllowRoot: true}, 0},
		{"-U", []string{"-U"}, []string{"UID=7", "GID=8", "GIDLIST=8,9"}, Cred{Set: true, UID: 7, GID: 8, Groups: []int{8, 9}}, 0},
		{"-U root refused", []string{"-U"}, []string{"UID=0", "GID=0"}, Cred{}, exitcode.Usage},
		{"-U -g wins", []string{"-U", "-g", "1"}, []string{"UID=7", "GID=8", "GIDLIST=8,9"}, Cred{Set: true, UID: 7, GID: 1, Groups: []int{8, 9}}, 0},
		{"-U -u name wins", []string{"-U", "-u", "qmaild"}, []string{"UID=7", "GID=8"}, Cred{Set: true, UID: 1001, GID: 2001, Groups: []int{2001, 2002, 8}}, 0},
		{"-U unset", []string{"-U"}, nil, Cred{}, exitcode.Usage},
		{"unknown user", []string{"-u", "nosuch"}, nil, Cred{}, exitcode.Usage},
		{"unknown group", []string{"-u", "qmaild", "-g", "nosuch"}, nil, Cred{}, exitcode.Usage},
		{"unknown in -G", []string{"-u", "qmaild", "-G", "8,nosuch"}, nil, Cred{}, exitcode.Usage},
	} {
		var o Options
		o.DB = db
		p := getopt.New(tc.args, "0"+Letters)
		var err error
		for {
			var opt getopt.Opt
			opt, err = p.Next()
			if err != nil {
				break
			}
			if opt.Name == "0" {
				o.AllowRoot = true
				continue
			}
			if ok, terr := o.Take(opt); !ok || terr != nil {
				t.Fatalf("%s: Take(%v) = %v, %v", tc.name, opt, ok, terr)
			}
		}
		c, err := o.Resolve(tc.env)
		if code := exitcode.Code(err); code != tc.code {
			t.Errorf("%s: code %d (%v), want %d", tc.name, code, err, tc.code)
			continue
		}
		if err == nil && !reflect.DeepEqual(c, tc.want) {
			t.Errorf("%s: %+v, want %+v", tc.name, c, tc.want)
		}
	}
}

func TestTake(t *testing.T) {
	for _, tc := range []struct {
		opt   getopt.Opt
		taken bool
		bad   bool
	}{
		{getopt.Opt{Name: "u", Arg: "qmaild"}, true, false},
		{getopt.Opt{Name: "u", Arg: ""}, true, true},
		{getopt.Opt{Name: "u", Arg: "a:b"}, true, true},
		{getopt.Opt{Name: "u", Arg: "4294967295"}, true, true},
		{getopt.Opt{Name: "g", Arg: "a,b"}, true, true},
		{getopt.Opt{Name: "G", Arg: "a,,1"}, true, false},
		{getopt.Opt{Name: "G", Arg: "a,b:c"}, true, true},
		{getopt.Opt{Name: "U"}, true, false},
		{getopt.Opt{Name: "x"}, false, false},
	} {
		var o Options
		taken, err := o.Take(tc.opt)
		if taken != tc.taken || (err != nil) != tc.bad {
			t.Errorf("Take(%+v) = %v, %v", tc.opt, taken, err)
		}
		if err != nil && exitcode.Code(err) != exitcode.Usage {
			t.Errorf("Take(%+v): code %d", tc.opt, exitcode.Code(err))
		}
	}
}

func TestSysCredential(t *testing.T) {
	c := Cred{Set: true, UID: 5, GID: 6}
	sc := c.SysCredential()
	if sc.Uid != 5 || sc.Gid != 6 || !reflect.DeepEqual(sc.Groups, []uint32{6}) {
		t.Errorf("SysCredential = %+v", sc)
	}
}

func TestApplyRefusesRoot(t *testing.T) {
	err := Apply(Cred{Set: true, UID: 0, GID: 0})
	if exitcode.Code(err) != exitcode.Usage {
		t.Fatalf("Apply(uid 0) = %v", err)
	}
	if err := Apply(Cred{}); err != nil {
		t.Fatalf("Apply(zero) = %v", err)
	}
	if err := ApplyThread(Cred{Set: true, UID: 0, GID: 0}); exitcode.Code(err) != exitcode.Usage {
		t.Fatalf("ApplyThread(uid 0) = %v", err)
	}
	if err := ApplyThread(Cred{}); err != nil {
		t.Fatalf("ApplyThread(zero) = %v", err)
	}
}
