package listener

import (
	"github.com/tlschain/tlschain/pkg/getopt"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/logline"
)

var optionTests = []struct {
	name      string
	args      string // split on spaces; "_" stands for an empty argument
	inherited bool
	err       string // substring of the error; "" = success
	check     func(*Options) bool
}{
	{"defaults", "0 25 prog", false, "", func(o *Options) bool {
		return o.maxConn == 40 && o.maxPerIP == 0 && o.backlog == defaultBacklog && o.noDelay &&
			!o.lookup && o.readyFD == -1 && o.level == logline.Normal && o.host == "0" && o.port == "25" &&
			reflect.DeepEqual(o.prog, []string{"prog"})
	}},
	{"limits", "-c 100 -C2 -b 50 :: 0 cat", false, "", func(o *Options) bool {
		return o.maxConn == 100 && o.maxPerIP == 2 && o.backlog == 50 && o.host == "::"
	}},
	{"cluster", "-1vXNoh -x r.cdb 127.0.0.1 smtp prog -a", false, "", func(o *Options) bool {
		return o.printPort && o.level == logline.Verbose && o.rulesMissingOK && !o.noDelay && o.reusePort &&
			o.lookup && o.rulesPath == "r.cdb" && o.port == "smtp" && len(o.prog) == 2
	}},
	{"D is ucspi-tcp's NODELAY", "-N -D 0 25 prog", false, "", func(o *Options) bool {
		return o.noDelay
	}},
	{"stops at first operand", "0 1 prog -c 5", false, "", func(o *Options) bool {
		return o.maxConn == 40 && reflect.DeepEqual(o.prog, []string{"prog", "-c", "5"})
	}},
	{"h then H", "-hH 0 1 p", false, "", func(o *Options) bool { return !o.lookup }},
	{"p then P", "-pP 0 1 p", false, "", func(o *Options) bool { return !o.paranoid }},
	{"quiet", "-q 0 1 p", false, "", func(o *Options) bool { return o.level == logline.Quiet }},
	{"Q", "-Q 0 1 p", false, "", func(o *Options) bool { return o.level == logline.Quiet }},
	{"compat accepted", "-R -O -t 26 0 1 p", false, "", func(o *Options) bool { return o.identTimeout == "26" }},
	{"banner empty", "-B _ 0 1 p", false, "", func(o *Options) bool { return o.hasBanner && o.banner == "" }},
	{"banner", "-B hello 0 1 p", false, "", func(o *Options) bool { return o.banner == "hello" }},
	{"local host", "-l0 0 1 p", false, "", func(o *Options) bool { return o.hasLocalHost && o.localHost == "0" }},
	{"readiness", "-d 3 0 1 p", false, "", func(o *Options) bool { return o.readyFD == 3 }},
	{"ids", "-u 65534 -g 65534 -G 1,2 0 1 p", false, "", func(o *Options) bool {
		return o.ids.User == "65534" && o.ids.Group == "65534" && o.ids.Groups == "1,2"
	}},
	{"U", "-U 0 1 p", false, "", func(o *Options) bool { return o.ids.FromEnv }},
	{"inherited", "prog arg", true, "", func(o *Options) bool {
		return o.host == "" && o.port == "" && reflect.DeepEqual(o.prog, []string{"prog", "arg"})
	}},
	{"double dash", "-- -host 1 p", false, "", func(o *Options) bool { return o.host == "-host" }},

	{"help", "--help", false, "help", nil},
	{"unknown", "-z 0 1 p", false, "unknown option -z", nil},
	{"unknown long", "--zap 0 1 p", false, "unknown option --zap", nil},
	{"missing arg", "-c", false, "needs an argument", nil},
	{"c zero", "-c 0 0 1 p", false, "option -c needs a number", nil},
	{"c huge", "-c 99999999999999999999 0 1 p", false, "option -c", nil},
	{"c word", "-c ten 0 1 p", false, "option -c", nil},
	{"C negative", "-C -1 0 1 p", false, "option -C", nil},
	{"b zero", "-b 0 0 1 p", false, "option -b", nil},
	{"d stdin", "-d 0 0 1 p", false, "option -d", nil},
	{"d stderr", "-d 2 0 1 p", false, "option -d", nil},
	{"empty x", "-x _ 0 1 p", false, "option -x", nil},
	{"ident", "-r 0 1 p", false, "ident", nil},
	{"bad t", "-t x 0 1 p", false, "option -t", nil},
	{"no operands", "", false, "host and port missing", nil},
	{"no port", "0", false, "host and port missing", nil},
	{"no prog", "0 1", false, "no program", nil},
	{"empty port", "0 _ p", false, "empty port", nil},
	{"empty prog", "0 1 _", false, "no program", nil},
	{"inherited no prog", "", true, "no program", nil},
	{"bad user", "-u a:b 0 1 p", false, "bad user", nil},
}

func splitArgs(s string) []string {
	if s == "" {
		return nil
	}
	a := strings.Split(s, " ")
	for i := range a {
		if a[i] == "_" {
			a[i] = ""
		}
	}
	return a
}

func TestParseArgs(t *testing.T) {
	for _, tc := range optionTests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseArgs(splitArgs(tc.args), tc.inherited)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want error containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			if !tc.check(o) {
				t.Fatalf("wrong result %+v", o)
			}
			o2, err := parseArgs(o.argv(), tc.inherited)
			if err != nil || !reflect.DeepEqual(o, o2) {
				t.Fatalf("round trip %q: %+v, %v", o.argv(), o2, err)
			}
		})
	}
}

// parseArgs parses as tcpserver does: the listener's options alone.
func parseArgs(args []string, inherited bool) (*Options, error) {
	return parse(args, inherited, "", []string{"help", "version"}, nil)
}

// TestParseOwn: a program's own function sees each option first; what it
// takes the listener never sees (tlsserver's -u is the app's).
func TestParseOwn(t *testing.T) {
	var user string
	own := func(o getopt.Opt) (bool, error) {
		if o.Name == "u" {
			user = o.Arg
			return true, nil
		}
		return o.Name == "k", nil
	}
	o, err := parse(splitArgs("-u app -k 2 -c 5 0 1 p"), false, "k:", nil, own)
	if err != nil || user != "app" || o.ids.User != "" || o.maxConn != 5 {
		t.Fatalf("got %+v, %v, user %q", o, err, user)
	}
}

func TestHelpListsEveryOption(t *testing.T) {
	for _, c := range "1XoDNhHpPqQvROcCbxBdlt" {
		if !strings.Contains(Help, "  -"+string(c)+" ") {
			t.Errorf("Help does not describe -%c", c)
		}
	}
}

// argv returns a command line that parses back to o (the fuzz target's
// round trip).
func (o *Options) argv() []string {
	var a []string
	flag := func(on bool, s string) {
		if on {
			a = append(a, s)
		}
	}
	flag(o.printPort, "-1")
	a = append(a, "-c", strconv.Itoa(o.maxConn), "-C", strconv.Itoa(o.maxPerIP), "-b", strconv.Itoa(o.backlog))
	if o.rulesPath != "" {
		a = append(a, "-x", o.rulesPath)
	}
	flag(o.rulesMissingOK, "-X")
	if o.hasBanner {
		a = append(a, "-B", o.banner)
	}
	if o.readyFD >= 0 {
		a = append(a, "-d", strconv.Itoa(o.readyFD))
	}
	flag(o.reusePort, "-o")
	flag(!o.noDelay, "-N")
	flag(o.lookup, "-h")
	flag(o.paranoid, "-p")
	if o.hasLocalHost {
		a = append(a, "-l", o.localHost)
	}
	if o.ids.User != "" {
		a = append(a, "-u", o.ids.User)
	}
	if o.ids.Group != "" {
		a = append(a, "-g", o.ids.Group)
	}
	if o.ids.GroupsSet {
		a = append(a, "-G", o.ids.Groups)
	}
	flag(o.ids.FromEnv, "-U")
	switch o.level {
	case logline.Quiet:
		a = append(a, "-q")
	case logline.Verbose:
		a = append(a, "-v")
	}
	if o.identTimeout != "" {
		a = append(a, "-t", o.identTimeout)
	}
	a = append(a, "--")
	if o.port != "" {
		a = append(a, o.host, o.port)
	}
	return append(a, o.prog...)
}
