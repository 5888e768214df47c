// Package getopt parses command lines the POSIX way chainloaders need:
// grouped short flags (-Uv), option arguments attached or separate (-c100,
// -c 100), "--" ends the options, and parsing stops at the first operand, so
// that in "tlsd -n ucspi-starttls -m smtp prog" tlsd never sees -m. Long
// options (--name, --name=value, --name value) are accepted where a program
// declares them. Not the flag package: it cannot group flags, accepts -x and
// --x alike, and links fmt and reflect into every chainloader.
package getopt

import "errors"

// Parser holds the state of one parse.
type Parser struct {
	short string   // like getopt(3): "c:nv" means -c takes an argument
	long  []string // "name" takes no argument, "name=" takes one
	args  []string
	i     int    // index of the next argument to look at
	group string // rest of a -abc group being taken apart
}

// Opt is one parsed option: Name is the letter ("c") or the long name
// ("close-notify"); Arg is its argument, if it takes one.
type Opt struct {
	Name string
	Arg  string
}

// ErrDone is returned by Next when the options are over.
var ErrDone = errors.New("no more options")

// ErrHelp and ErrVersion are what a program's option parsing returns for
// -h (or --help) and --version: Main then prints the help text or the
// version line and exits 0 (exitcode.CommandLine).
var (
	ErrHelp    = errors.New("help")
	ErrVersion = errors.New("version")
)

// New returns a parser for args (without the program name).
func New(args []string, short string, long ...string) *Parser {
	return &Parser{short: short, long: long, args: args}
}

// Next returns the next option, ErrDone at the first operand or after
// "--", or an error naming the bad option.
func (p *Parser) Next() (Opt, error) {
	if p.group == "" {
		if p.i >= len(p.args) {
			return Opt{}, ErrDone
		}
		a := p.args[p.i]
		if a == "--" {
			p.i++
			return Opt{}, ErrDone
		}
		if len(a) < 2 || a[0] != '-' {
			return Opt{}, ErrDone
		}
		p.i++
		if a[1] == '-' {
			return p.longOpt(a[2:])
		}
		p.group = a[1:]
	}
	c := p.group[0]
	p.group = p.group[1:]
	k := indexByte(p.short, c)
	if k < 0 || c == ':' {
		p.group = ""
		return Opt{}, errors.New("unknown option -" + string(c))
	}
	o := Opt{Name: string(c)}
	if k+1 < len(p.short) && p.short[k+1] == ':' {
		switch {
		case p.group != "":
			o.Arg, p.group = p.group, ""
		case p.i < len(p.args):
			o.Arg = p.args[p.i]
			p.i++
		default:
			return Opt{}, errors.New("option -" + o.Name + " needs an argument")
		}
	}
	return o, nil
}

func (p *Parser) longOpt(a string) (Opt, error) {
	name, val, hasVal := a, "", false
	if j := indexByte(a, '='); j >= 0 {
		name, val, hasVal = a[:j], a[j+1:], true
	}
	for _, l := range p.long {
		takesArg := len(l) > 0 && l[len(l)-1] == '='
		if takesArg {
			l = l[:len(l)-1]
		}
		if l != name {
			continue
		}
		switch {
		case !takesArg && hasVal:
			return Opt{}, errors.New("option --" + name + " takes no argument")
		case takesArg && !hasVal:
			if p.i >= len(p.args) {
				return Opt{}, errors.New("option --" + name + " needs an argument")
			}
			val = p.args[p.i]
			p.i++
		}
		return Opt{Name: name, Arg: val}, nil
	}
	return Opt{}, errors.New("unknown option --" + name)
}

// Rest returns the operands: what follows the options.
func (p *Parser) Rest() []string { return p.args[p.i:] }

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// Int returns o.Arg as a decimal integer in [lo, hi], or an error naming
// the option.
func Int(o Opt, lo, hi int) (int, error) {
	n, ok := atoi(o.Arg)
	if !ok || n < lo || n > hi {
		return 0, errors.New("option " + dash(o.Name) + " needs a number from " + itoa(lo) + " to " + itoa(hi) + ", not " + quote(o.Arg))
	}
	return n, nil
}

func dash(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return "\"" + s + "\""
}

// atoi parses a non-negative decimal number of at most 18 digits.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// HelpOnly parses the command line of a program whose only options are
// -h / --help and --version: it returns the operands, or ErrHelp or
// ErrVersion when one was asked for.
func HelpOnly(args []string) (operands []string, err error) {
	p := New(args, "h", "help", "version")
	o, err := p.Next()
	switch {
	case err == ErrDone:
		return p.Rest(), nil
	case err != nil:
		return nil, err
	}
	return nil, Asked(o)
}

// Asked maps -h, --help and --version to ErrHelp and ErrVersion, and any
// other option to nil: the handler of a program whose only own options
// are those.
func Asked(o Opt) error {
	switch o.Name {
	case "h", "help":
		return ErrHelp
	case "version":
		return ErrVersion
	}
	return nil
}
