package rules

import (
	"errors"
	"strconv"
	"strings"
)

// Rule is one line of a rules file: ADDRESS:allow or ADDRESS:deny, then
// ,NAME=value assignments.
type Rule struct {
	Addr string // the address as written: 1.2.3.4, 1.2.3., 10.2-3., =host, =.dom, =, "", INFO@..., 10.0.0.0/8
	Deny bool
	Env  []Var
}

// Var is one ,NAME=value assignment. Quote is the character the value was
// quoted with (any one character, as in ucspi-tcp), or 0 when it was not
// quoted.
type Var struct {
	Name, Value string
	Quote       byte
}

// SyntaxError is a line ParseRule refuses. Reason says why, for people;
// tcprules prints only the line unless the reason is about a CIDR prefix.
type SyntaxError struct {
	Line   string
	Reason string
	Addr   bool // the address is at fault (a bad range or CIDR prefix)
}

func (e *SyntaxError) Error() string { return "unable to parse " + e.Line + ": " + e.Reason }

// ErrSkip is returned by ParseRule for a line that holds no rule: empty,
// blank, or a comment.
var ErrSkip = errors.New("no rule on this line")

// cutSpace removes what ucspi-tcp strips from the end of a line (spaces and
// tabs) and a carriage return, so that CRLF files work.
func cutSpace(line string) string {
	for len(line) > 0 {
		switch line[len(line)-1] {
		case ' ', '\t', '\r', '\n':
			line = line[:len(line)-1]
			continue
		}
		break
	}
	return line
}

// ParseRule parses one line of a rules file (without its newline) the way
// ucspi-tcp 0.88 does, with the IPv6 patch's split: the address ends at the
// first ':' that is followed by "allow" or "deny", so "::1:allow" works and
// an address can never contain ":allow" or ":deny". A line with no such
// ':' is an error (ucspi-tcp ignores one without any ':'). Comments ('#'
// in column 0) and empty lines give ErrSkip. Besides ucspi-tcp's
// NAME=<q>value<q> with any quote character q, an unquoted NAME=value runs
// to the next ',' when the value starts with a letter or digit (see
// parseValue): the one place where a line ucspi-tcp accepts reads
// differently here.
func ParseRule(line string) (Rule, error) {
	line = cutSpace(line)
	if line == "" || line[0] == '#' {
		return Rule{}, ErrSkip
	}
	bad := func(reason string) (Rule, error) {
		return Rule{}, &SyntaxError{Line: line, Reason: reason}
	}
	if strings.IndexByte(line, 0) >= 0 || strings.IndexByte(line, '\n') >= 0 {
		return bad("NUL or newline in the line")
	}
	split := -1
	for i := 0; i < len(line); i++ {
		if line[i] == ':' && (strings.HasPrefix(line[i+1:], "allow") || strings.HasPrefix(line[i+1:], "deny")) {
			split = i
			break
		}
	}
	if split < 0 {
		return bad("no :allow or :deny")
	}
	r := Rule{Addr: line[:split]}
	rest := line[split+1:]
	if strings.HasPrefix(rest, "deny") {
		r.Deny, rest = true, rest[4:]
	} else {
		rest = rest[5:]
	}
	for rest != "" {
		if rest[0] != ',' {
			return bad("expected , after allow, deny or a value")
		}
		rest = rest[1:]
		eq := strings.IndexByte(rest, '=')
		if eq < 0 {
			return bad("expected NAME=value")
		}
		v := Var{Name: rest[:eq]}
		if !validName(v.Name) {
			return bad("bad variable name")
		}
		rest = rest[eq+1:]
		var ok bool
		v.Value, v.Quote, rest, ok = parseValue(rest)
		if !ok {
			return bad("missing closing quote")
		}
		r.Env = append(r.Env, v)
	}
	if _, err := r.Keys(); err != nil {
		return Rule{}, &SyntaxError{Line: line, Reason: err.Error(), Addr: true}
	}
	return r, nil
}

// validName refuses names ucspi-tcp accepts but that can only be mistakes:
// empty (",=x"), or holding a comma (",,X=y" reads as the name ",X"),
// a blank, or a control character.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c == ',' || c == 0x7f {
			return false
		}
	}
	return true
}

// parseValue reads a value at the start of s and returns it, its quote
// character (0 for none) and what follows it. A value starting with a
// letter or a digit is unquoted: it runs to the next ',' (so LINK=local is
// "local", where ucspi-tcp would take 'l' as the quote and read "oca").
// Otherwise ucspi-tcp's reading comes first: the first character is the
// quote and the value runs to its next occurrence, which must end the line
// or precede a ','. When that fails the value is unquoted too, unless it
// starts with '"' or '\”, where a missing closing quote is an error.
func parseValue(s string) (value string, quote byte, rest string, ok bool) {
	if s == "" {
		return "", 0, "", true
	}
	q := s[0]
	if !isAlnum(q) {
		if j := strings.IndexByte(s[1:], q); j >= 0 {
			after := s[1+j+1:]
			if after == "" || after[0] == ',' {
				return s[1 : 1+j], q, after, true
			}
		}
		if q == '"' || q == '\'' {
			return "", 0, "", false
		}
	}
	end := strings.IndexByte(s, ',')
	if end < 0 {
		end = len(s)
	}
	return s[:end], 0, s[end:], true
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// Data returns the cdb data of the rule, as tcprules writes it: "D\0" for
// deny, then "+NAME=value\0" for each assignment.
func (r Rule) Data() []byte {
	var d []byte
	if r.Deny {
		d = append(d, 'D', 0)
	}
	for _, v := range r.Env {
		d = append(d, '+')
		d = append(d, v.Name...)
		d = append(d, '=')
		d = append(d, v.Value...)
		d = append(d, 0)
	}
	return d
}

// Keys returns the cdb keys the rule's address stands for: the address
// itself, or, for an address without '=' or '@', the expansion of its
// first range (10.2-3. → 10.2., 10.3.) or of a CIDR prefix (prefix.go).
func (r Rule) Keys() ([]string, error) {
	a := r.Addr
	if strings.ContainsAny(a, "=@") {
		return []string{a}, nil
	}
	if strings.IndexByte(a, '/') >= 0 {
		return cidrKeys(a)
	}
	return rangeKeys(a)
}

// rangeKeys expands the first '-' of addr the way tcprules 0.88 does: the
// dotted component around it is FROM-TO, both decimal (either may be
// empty, meaning 0), TO is cut to 255, and each number in turn replaces
// the component (10.2-3. → 10.2., 10.3.; 1.2.3.7-5 → nothing).
func rangeKeys(addr string) ([]string, error) {
	dash := strings.IndexByte(addr, '-')
	if dash < 0 {
		return []string{addr}, nil
	}
	left := strings.LastIndexByte(addr[:dash], '.') + 1
	right := len(addr)
	if j := strings.IndexByte(addr[dash+1:], '.'); j >= 0 {
		right = dash + 1 + j
	}
	lo, ok1 := scanULong(addr[left:dash])
	hi, ok2 := scanULong(addr[dash+1 : right])
	if !ok1 || !ok2 {
		return nil, errors.New("bad range " + addr)
	}
	if hi > 255 {
		hi = 255
	}
	var keys []string
	for n := lo; n <= hi; n++ {
		keys = append(keys, addr[:left]+strconv.FormatUint(n, 10)+addr[right:])
	}
	return keys, nil
}

// scanULong reads s as djb's scan_ulong does when it must take all of s:
// digits only (an empty s is 0), wrapping on overflow.
func scanULong(s string) (uint64, bool) {
	var n uint64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + uint64(s[i]-'0')
	}
	return n, true
}
