package rules

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
)

type ruleTest struct {
	name string
	line string
	keys []string // nil: an error (or ErrSkip when skip)
	data string
	skip bool
}

var ruleTests = []ruleTest{
	{name: "comment", line: "# 1.2.3.4:deny", skip: true},
	{name: "empty", line: "", skip: true},
	{name: "blank", line: " \t ", skip: true},
	{name: "relay", line: `127.0.0.1:allow,RELAYCLIENT=""`, keys: []string{"127.0.0.1"}, data: "+RELAYCLIENT=\x00"},
	{name: "two vars", line: `127.0.0.1:allow,RELAYCLIENT="",UCSPITLS="!"`, keys: []string{"127.0.0.1"}, data: "+RELAYCLIENT=\x00+UCSPITLS=!\x00"},
	{name: "deny with var", line: `1.2.3.4:deny,X="y"`, keys: []string{"1.2.3.4"}, data: "D\x00+X=y\x00"},
	{name: "any quote", line: `10.2-3.:allow,X=/a"b/`, keys: []string{"10.2.", "10.3."}, data: "+X=a\"b\x00"},
	{name: "host", line: "=host.test:deny", keys: []string{"=host.test"}, data: "D\x00"},
	{name: "domain", line: "=.example.com:allow", keys: []string{"=.example.com"}},
	{name: "any host", line: "=:allow", keys: []string{"="}},
	{name: "default", line: ":allow", keys: []string{""}},
	{name: "default deny", line: ":deny", keys: []string{""}, data: "D\x00"},
	{name: "info ip", line: "joe@1.2.3.4-5:allow", keys: []string{"joe@1.2.3.4-5"}},
	{name: "info host", line: "joe@=h.test:allow", keys: []string{"joe@=h.test"}},
	{name: "prefix", line: "1.2.3.:allow", keys: []string{"1.2.3."}},
	{name: "range 17", line: "1.2.3.37-53:allow", keys: rng("1.2.3.", 37, 53, "")},
	{name: "range clamp", line: "1.2.3.250-260:allow", keys: rng("1.2.3.", 250, 255, "")},
	{name: "range empty from", line: "1.2.3.-5:allow", keys: rng("1.2.3.", 0, 5, "")},
	{name: "range backwards", line: "1.2.3.7-5:allow", keys: []string{}},
	{name: "range first component", line: "1-2.3:allow", keys: []string{"1.3", "2.3"}},
	{name: "range leading zero", line: "1.2.3.04-6:allow", keys: []string{"1.2.3.4", "1.2.3.5", "1.2.3.6"}},
	{name: "range overflow wraps then clamps", line: "1.2.3.250-99999999999999999999:allow", keys: rng("1.2.3.", 250, 255, "")},
	{name: "range junk", line: "1.2.3.4x-5:allow"},
	{name: "range two dashes", line: "1.2.3.4-5-6:allow"},
	{name: "range v6", line: "::1-3:allow"},
	{name: "v6 address", line: `::1:allow,A="1"`, keys: []string{"::1"}, data: "+A=1\x00"},
	{name: "v6 prefix", line: "2001:db8::1:deny", keys: []string{"2001:db8::1"}, data: "D\x00"},
	{name: "colon in address", line: "a:b:allow", keys: []string{"a:b"}},
	{name: "deny in value", line: `1.2.3.4:allow,X="a:deny"`, keys: []string{"1.2.3.4"}, data: "+X=a:deny\x00"},
	{name: "v6 allow in value", line: `::1:deny,X=":allow"`, keys: []string{"::1"}, data: "D\x00+X=:allow\x00"},
	{name: "unquoted", line: "1.2.3.4:allow,X=abc,Y=1", keys: []string{"1.2.3.4"}, data: "+X=abc\x00+Y=1\x00"},
	{name: "unquoted empty", line: "1.2.3.4:allow,X=,Y=", keys: []string{"1.2.3.4"}, data: "+X=\x00+Y=\x00"},
	{name: "unquoted alnum never a quote", line: "1.2.3.4:allow,X=abca,Y=101", keys: []string{"1.2.3.4"}, data: "+X=abca\x00+Y=101\x00"},
	{name: "unquoted ab ba", line: "1.2.3.4:allow,X=ab,Y=ba", keys: []string{"1.2.3.4"}, data: "+X=ab\x00+Y=ba\x00"},
	{name: "punctuation quote spans commas", line: "1.2.3.4:allow,X=/a,Y=/", keys: []string{"1.2.3.4"}, data: "+X=a,Y=\x00"},
	{name: "punctuation unquoted when no closing", line: "1.2.3.4:allow,X=-,Y=/tmp/x", keys: []string{"1.2.3.4"}, data: "+X=-\x00+Y=/tmp/x\x00"},
	{name: "single quotes", line: "1.2.3.4:allow,X='a\"b'", keys: []string{"1.2.3.4"}, data: "+X=a\"b\x00"},
	{name: "missing single quote", line: "1.2.3.4:allow,X='ab"},
	{name: "missing closing quote", line: `1.2.3.4:allow,X="abc`},
	{name: "junk after quote", line: `1.2.3.4:allow,X="a"x`},
	{name: "doubled quote", line: `1.2.3.4:allow,X=""""`},
	{name: "allowx", line: "1.2.3.4:allowx"},
	{name: "allowdeny", line: "1.2.3.4:allowdeny"},
	{name: "trailing comma", line: "1.2.3.4:deny,"},
	{name: "no equals", line: "1.2.3.4:allow,X"},
	{name: "empty name", line: `1.2.3.4:allow,="x"`},
	{name: "comma name", line: `1.2.3.4:allow,X="a",,Y="b"`},
	{name: "space before allow", line: "1.2.3.4: allow"},
	{name: "no colon", line: "1.2.3.4"},
	{name: "colon no verb", line: "1.2.3.4:"},
	{name: "allow allow", line: "1.2.3.4:allow:allow"},
	{name: "tab inside", line: "1.2.3.4:allow,X=\"a\"\t,Y=\"b\""},
	{name: "trailing blanks", line: "1.2.3.4:deny \t ", keys: []string{"1.2.3.4"}, data: "D\x00"},
	{name: "CRLF", line: "1.2.3.4:deny\r", keys: []string{"1.2.3.4"}, data: "D\x00"},
	{name: "CR inside value", line: "1.2.3.4:allow,X=\"a\rb\"", keys: []string{"1.2.3.4"}, data: "+X=a\rb\x00"},
	{name: "leading space kept", line: " 1.2.3.4:allow", keys: []string{" 1.2.3.4"}},
	{name: "NUL", line: "1.2.3.4:allow,X=\"a\x00b\""},
	{name: "NUL in address", line: "1.2\x00.3.4:allow"},
	{name: "64 KiB value", line: `1.2.3.4:allow,X="` + strings.Repeat("v", 64<<10) + `"`, keys: []string{"1.2.3.4"}, data: "+X=" + strings.Repeat("v", 64<<10) + "\x00"},
	{name: "64 KiB junk", line: strings.Repeat("x", 64<<10)},
	{name: "cidr v4 /8", line: "10.0.0.0/8:allow", keys: []string{"10."}},
	{name: "cidr v4 /24", line: "192.0.2.0/24:deny", keys: []string{"192.0.2."}, data: "D\x00"},
	{name: "cidr v4 /32", line: "192.0.2.7/32:deny", keys: []string{"192.0.2.7"}, data: "D\x00"},
	{name: "cidr v4 /20", line: "10.1.16.0/20:allow", keys: rng("10.1.", 16, 31, ".")},
	{name: "cidr v4 /30", line: "10.1.1.4/30:allow", keys: rng("10.1.1.", 4, 7, "")},
	{name: "cidr v4 /0", line: "0.0.0.0/0:allow", keys: rng("", 0, 255, ".")},
	{name: "cidr host bits", line: "10.1.2.3/8:allow"},
	{name: "cidr junk", line: "10.0.0.0/33:allow"},
	{name: "cidr v6 /32", line: "2001:db8::/32:deny", keys: []string{"2001:db8:"}, data: "D\x00"},
	{name: "cidr v6 /48 zero end", line: "2001:db8:0::/48:allow", keys: []string{"2001:db8:0:", "2001:db8::"}},
	{name: "cidr v6 /64 two zeros", line: "2001:db8:0:0::/64:allow", keys: []string{"2001:db8:0:0:", "2001:db8::"}},
	{name: "cidr v6 /64 inner zero", line: "2001:0:5:1::/64:allow", keys: []string{"2001:0:5:1:"}},
	{name: "cidr v6 /128", line: "2001:db8::1/128:allow", keys: []string{"2001:db8::1"}},
	{name: "cidr v6 /32 zero", line: "::/32:allow", keys: []string{"0:0:", "::"}},
	{name: "cidr v6 inner run", line: "2001:0:0:1::/64:allow"},
	{name: "cidr v6 long tail", line: "2001:db8::/80:allow"},
	{name: "cidr v6 odd length", line: "2001:db8::/33:allow"},
	{name: "cidr v6 /0", line: "::/0:allow"},
	{name: "cidr with info is literal", line: "joe@10.0.0.0/8:allow", keys: []string{"joe@10.0.0.0/8"}},
}

func rng(pre string, lo, hi int, post string) []string {
	var keys []string
	for i := lo; i <= hi; i++ {
		keys = append(keys, pre+itoa(i)+post)
	}
	return keys
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestParseRule(t *testing.T) {
	for _, tc := range ruleTests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseRule(tc.line)
			switch {
			case tc.skip:
				if !errors.Is(err, ErrSkip) {
					t.Fatalf("got %+v, %v; want ErrSkip", r, err)
				}
				return
			case tc.keys == nil:
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("got %.80v, %v; want a syntax error", r, err)
				}
				return
			case err != nil:
				t.Fatalf("error %.200v", err)
			}
			keys, err := r.Keys()
			if err != nil || !slices.Equal(keys, tc.keys) && !(len(keys) == 0 && len(tc.keys) == 0) {
				t.Errorf("keys %q, %v; want %q", keys, err, tc.keys)
			}
			if d := string(r.Data()); d != tc.data {
				t.Errorf("data %.80q; want %.80q", d, tc.data)
			}
			r2, err := ParseRule(r.String())
			if err != nil || !r.Equal(r2) {
				t.Errorf("round trip %.80q gave %.80v, %v", r.String(), r2, err)
			}
		})
	}
}

// String returns the rule as a line ParseRule reads back to an equal Rule.
func (r Rule) String() string {
	var b strings.Builder
	b.WriteString(r.Addr)
	if r.Deny {
		b.WriteString(":deny")
	} else {
		b.WriteString(":allow")
	}
	for _, v := range r.Env {
		b.WriteByte(',')
		b.WriteString(v.Name)
		b.WriteByte('=')
		if v.Quote != 0 {
			b.WriteByte(v.Quote)
		}
		b.WriteString(v.Value)
		if v.Quote != 0 {
			b.WriteByte(v.Quote)
		}
	}
	return b.String()
}

// Equal reports whether r and o mean the same: same address, decision and
// assignments (quote characters aside).
func (r Rule) Equal(o Rule) bool {
	if r.Addr != o.Addr || r.Deny != o.Deny || len(r.Env) != len(o.Env) {
		return false
	}
	for i := range r.Env {
		if r.Env[i].Name != o.Env[i].Name || r.Env[i].Value != o.Env[i].Value {
			return false
		}
	}
	return true
}
