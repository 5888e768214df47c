package getopt

import (
	"reflect"
	"strings"
	"testing"
)

type parsed struct {
	opts []Opt
	rest []string
	err  string
}

func parse(args []string, short string, long ...string) parsed {
	p := New(args, short, long...)
	var out parsed
	for {
		o, err := p.Next()
		if err == ErrDone {
			break
		}
		if err != nil {
			out.err = err.Error()
			return out
		}
		out.opts = append(out.opts, o)
	}
	out.rest = p.Rest()
	return out
}

var getoptTests = []struct {
	name  string
	args  []string
	want  parsed
	short string
}{
	{"empty", nil, parsed{rest: []string{}}, "ab:"},
	{"operand stops", []string{"prog", "-a"}, parsed{rest: []string{"prog", "-a"}}, "ab:"},
	{"group", []string{"-aa", "x"}, parsed{opts: []Opt{{"a", ""}, {"a", ""}}, rest: []string{"x"}}, "ab:"},
	{"attached arg", []string{"-b100", "x"}, parsed{opts: []Opt{{"b", "100"}}, rest: []string{"x"}}, "ab:"},
	{"separate arg", []string{"-b", "100", "x"}, parsed{opts: []Opt{{"b", "100"}}, rest: []string{"x"}}, "ab:"},
	{"group then arg", []string{"-ab", "7"}, parsed{opts: []Opt{{"a", ""}, {"b", "7"}}, rest: []string{}}, "ab:"},
	{"dashdash", []string{"-a", "--", "-b"}, parsed{opts: []Opt{{"a", ""}}, rest: []string{"-b"}}, "ab:"},
	{"lone dash is operand", []string{"-", "x"}, parsed{rest: []string{"-", "x"}}, "ab:"},
	{"arg may start with dash", []string{"-b", "-a"}, parsed{opts: []Opt{{"b", "-a"}}, rest: []string{}}, "ab:"},
	{"unknown", []string{"-z"}, parsed{err: "unknown option -z"}, "ab:"},
	{"colon is not an option", []string{"-:"}, parsed{err: "unknown option -:"}, "ab:"},
	{"missing arg", []string{"-b"}, parsed{err: "option -b needs an argument"}, "ab:"},
	{"long", []string{"--close-notify", "x"}, parsed{opts: []Opt{{"close-notify", ""}}, rest: []string{"x"}}, "a"},
	{"long arg =", []string{"--alpn=h2", "x"}, parsed{opts: []Opt{{"alpn", "h2"}}, rest: []string{"x"}}, "a"},
	{"long arg separate", []string{"--alpn", "h2", "x"}, parsed{opts: []Opt{{"alpn", "h2"}}, rest: []string{"x"}}, "a"},
	{"long missing arg", []string{"--alpn"}, parsed{err: "option --alpn needs an argument"}, "a"},
	{"long unexpected arg", []string{"--close-notify=1"}, parsed{err: "option --close-notify takes no argument"}, "a"},
	{"long unknown", []string{"--nope"}, parsed{err: "unknown option --nope"}, "a"},
}

func TestNext(t *testing.T) {
	for _, tc := range getoptTests {
		t.Run(tc.name, func(t *testing.T) {
			got := parse(tc.args, tc.short, "close-notify", "alpn=")
			if got.rest == nil && tc.want.rest != nil && len(tc.want.rest) == 0 {
				got.rest = []string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		want int
		err  bool
	}{
		{"0", 0, false}, {"40", 40, false}, {"65535", 65535, false},
		{"65536", 0, true}, {"-1", 0, true}, {"", 0, true}, {"1x", 0, true},
		{"99999999999999999999", 0, true},
	} {
		n, err := Int(Opt{Name: "c", Arg: tc.arg}, 0, 65535)
		if (err != nil) != tc.err || n != tc.want {
			t.Errorf("Int(%q) = %d, %v", tc.arg, n, err)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "option -c needs a number from 0 to 65535") {
			t.Errorf("Int(%q) error %q", tc.arg, err)
		}
	}
}

func TestHelpOnly(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ops  []string
		ask  error // ErrHelp or ErrVersion
		err  bool  // another error
	}{
		{[]string{"rules.cdb", "rules.tmp"}, []string{"rules.cdb", "rules.tmp"}, nil, false},
		{[]string{"-h"}, nil, ErrHelp, false},
		{[]string{"--help", "x"}, nil, ErrHelp, false},
		{[]string{"--version"}, nil, ErrVersion, false},
		{[]string{"--", "-h"}, []string{"-h"}, nil, false},
		{[]string{"-x"}, nil, nil, true},
		{[]string{"--helpme"}, nil, nil, true},
		{[]string{"--version=1"}, nil, nil, true},
	} {
		ops, err := HelpOnly(tc.args)
		ask := err
		if err != ErrHelp && err != ErrVersion {
			ask = nil
		}
		if (err != nil && ask == nil) != tc.err || ask != tc.ask || !reflect.DeepEqual(ops, tc.ops) && len(ops)+len(tc.ops) > 0 {
			t.Errorf("HelpOnly(%q) = %q, %v", tc.args, ops, err)
		}
	}
}
