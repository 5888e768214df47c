package privdrop

import (
	"strconv"
	"strings"
	"syscall"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Letters are the option letters Options.Take understands, spelled for a
// getopt short-option string: -u user, -g group, -G groups, -U.
const Letters = "u:g:G:U"

// Options collects a program's -u, -g, -G and -U options (privdrop's own,
// and the same options of tcpclient, tcpserver or tlsd) and resolves them
// into a Cred. Parsing only records and checks the syntax; names are looked
// up by Resolve, so a program can parse its whole command line first.
//
// The rules, in the words of doc/privdrop.md:
//   - -u name sets the uid and, unless -g is given, the gid from the passwd
//     file, and, unless -G is given, the supplementary groups to the primary
//     gid plus every group that lists the user (initgroups(3));
//   - -u number needs a gid from -g or -U;
//   - -g alone changes the groups and gid and keeps the uid;
//   - -G sets exactly these supplementary groups;
//   - -U takes UID, GID and GIDLIST from the environment; -u, -g and -G
//     given beside it win;
//   - the supplementary groups are always reset: to -G, to the user's
//     groups, to GIDLIST, or else to the primary gid alone.
type Options struct {
	User      string // -u: a user name or a uid
	Group     string // -g: a group name or a gid
	Groups    string // -G: comma-separated names or gids
	GroupsSet bool   // -G was given (it may be empty)
	FromEnv   bool   // -U
	// AllowRoot lets the result have uid 0 (privdrop -0); the program sets
	// it from its own option.
	AllowRoot bool
	// DB is where names are looked up; the zero DB is the system's.
	DB DB
}

// Take records o when it is one of -u, -g, -G, -U and reports whether it
// was. A syntactically bad argument is an error (exit 100).
func (p *Options) Take(o getopt.Opt) (bool, error) {
	switch o.Name {
	case "u":
		if err := checkName("user", o.Arg); err != nil {
			return true, err
		}
		p.User = o.Arg
	case "g":
		if err := checkName("group", o.Arg); err != nil {
			return true, err
		}
		p.Group = o.Arg
	case "G":
		for s := range strings.SplitSeq(o.Arg, ",") {
			if s == "" {
				continue
			}
			if err := checkName("group", s); err != nil {
				return true, err
			}
		}
		p.Groups, p.GroupsSet = o.Arg, true
	case "U":
		p.FromEnv = true
	default:
		return false, nil
	}
	return true, nil
}

// checkName accepts a name validName accepts or a number in range.
func checkName(what, s string) error {
	if isNumber(s) {
		_, err := parseID(what+" id", s)
		return err
	}
	if !validName(s) {
		return exitcode.UsageError("bad " + what + " name " + strconv.Quote(s))
	}
	return nil
}

// Set reports whether any of -u, -g, -G, -U was given.
func (p *Options) Set() bool {
	return p.User != "" || p.Group != "" || p.GroupsSet || p.FromEnv
}

// Resolve turns the options into a Cred, looking names up in p.DB and
// UID/GID/GIDLIST up in envp. Without any option it returns a zero Cred,
// which Apply ignores. Errors: unknown names, a missing or bad variable
// and an incomplete identity are usage errors (100); an unreadable passwd
// or group file is 111.
func (p *Options) Resolve(envp []string) (Cred, error) {
	if !p.Set() {
		return Cred{}, nil
	}
	c := Cred{Set: true}
	uidSet, gidSet := false, false
	var groups []int
	groupsSet := false
	if p.FromEnv {
		e, err := FromEnv(envp)
		if err != nil {
			return Cred{}, err
		}
		c.UID, c.GID, groups = e.UID, e.GID, e.Groups
		uidSet, gidSet, groupsSet = true, true, true
	}
	userName := ""
	if p.User != "" {
		uid, gid, err := p.DB.User(p.User)
		if err != nil {
			return Cred{}, err
		}
		c.UID, uidSet = uid, true
		if gid >= 0 {
			userName = p.User
			c.GID, gidSet = gid, true
		}
	}
	if p.Group != "" {
		gid, err := p.DB.Group(p.Group)
		if err != nil {
			return Cred{}, err
		}
		c.GID, gidSet = gid, true
	}
	switch {
	case !gidSet && uidSet:
		return Cred{}, exitcode.UsageError("uid " + p.User + " needs a gid: give -g or a user name")
	case !gidSet:
		c.GID = syscall.Getgid()
	}
	switch {
	case p.GroupsSet:
		ids, err := p.DB.Groups(p.Groups)
		if err != nil {
			return Cred{}, err
		}
		groups = ids
	case userName != "":
		ids, err := p.DB.InitGroups(userName, c.GID)
		if err != nil {
			return Cred{}, err
		}
		groups = ids
	case !groupsSet:
		groups = nil // the primary gid alone
	}
	c.Groups = groups
	c.AllowRoot = p.AllowRoot
	if !uidSet {
		// -g or -G alone: the uid stays what it is, so staying root is
		// not a drop to root.
		c.UID = syscall.Getuid()
		c.AllowRoot = true
	}
	if c.UID == 0 && !c.AllowRoot {
		return Cred{}, exitcode.New(exitcode.Usage, "drop privileges", "", ErrRoot)
	}
	return c, nil
}

// EnvToRemove lists the variables a program removes from the next
// program's environment after using them: UID, GID and GIDLIST after -U,
// nothing otherwise.
func (p *Options) EnvToRemove() []string {
	if p.FromEnv {
		return ucspi.UIDGIDVars
	}
	return nil
}
