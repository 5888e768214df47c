package main

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/privdrop"
)

// Families -4 and -6 restrict the remote addresses to.
const (
	familyAny = 0
	family4   = 4
	family6   = 6
)

// Verbosity, as set by -q, -Q and -v (ucspi-tcp's levels).
const (
	quiet   = 0 // -q: fatal errors only
	normal  = 1 // -Q: and a warning per failed address (default)
	verbose = 2 // -v: and an info line on connect
)

// Default connect timeouts, ucspi-tcp's 2+58: every address gets 2 s, then
// the addresses that timed out get 58 s more each.
const (
	defaultFirst  = 2 * time.Second
	defaultSecond = 58 * time.Second
	maxTimeout    = 24 * time.Hour
)

// config is a parsed command line.
type config struct {
	host, port  string // operands as given
	remotePort  uint16
	family      int
	localIP     netip.Addr // -i; invalid when not given
	localPort   uint16     // -p; 0 when not given
	localHost   string     // -l
	localHostOK bool       // -l was given
	lookup      bool       // -h: reverse-resolve TCPREMOTEHOST (and TCPLOCALHOST)
	delay       bool       // -d: leave Nagle on
	verbosity   int
	first       time.Duration // -T x
	second      time.Duration // -T +y
	ids         privdrop.Options
	prog        []string
}

const shortOpts = "46hHdDqQvRi:p:T:l:" + privdrop.Letters

func parseArgs(args []string) (config, error) {
	cfg := config{verbosity: normal, first: defaultFirst, second: defaultSecond}
	p := getopt.New(args, shortOpts, "help", "version")
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return cfg, err
		}
		if ok, err := cfg.ids.Take(o); ok {
			if err != nil {
				return cfg, err
			}
			continue
		}
		switch o.Name {
		case "4":
			cfg.family = family4
		case "6":
			cfg.family = family6
		case "h":
			cfg.lookup = true
		case "H":
			cfg.lookup = false
		case "d":
			cfg.delay = true
		case "D":
			cfg.delay = false
		case "q":
			cfg.verbosity = quiet
		case "Q":
			cfg.verbosity = normal
		case "v":
			cfg.verbosity = verbose
		case "R":
			// No ident, which is all tcpclient does: accepted so that
			// ucspi-tcp command lines (tcpclient -RHl0 …) run unchanged.
		case "i":
			ip, err := netip.ParseAddr(o.Arg)
			if err != nil {
				return cfg, errors.New("option -i needs an IP address, not " + strconv.Quote(o.Arg))
			}
			cfg.localIP = ip.Unmap()
		case "p":
			n, err := parsePort(o.Arg, true)
			if err != nil {
				return cfg, errors.New("option -p needs a port number, not " + strconv.Quote(o.Arg))
			}
			cfg.localPort = n
		case "T":
			x, y, err := parseTimeout(o.Arg, cfg.second)
			if err != nil {
				return cfg, err
			}
			cfg.first, cfg.second = x, y
		case "l":
			cfg.localHost, cfg.localHostOK = o.Arg, true
		case "help":
			return cfg, getopt.ErrHelp
		case "version":
			return cfg, getopt.ErrVersion
		}
	}
	rest := p.Rest()
	if len(rest) == 0 && cfg.lookup {
		return cfg, getopt.ErrHelp // "tcpclient -h" alone asks for help
	}
	if len(rest) < 3 {
		return cfg, errors.New("need host, port and a program to run")
	}
	cfg.host, cfg.port, cfg.prog = rest[0], rest[1], rest[2:]
	n, err := parsePort(cfg.port, false)
	if err != nil {
		return cfg, err
	}
	cfg.remotePort = n
	if cfg.localIP.IsValid() {
		f := family6
		if cfg.localIP.Is4() {
			f = family4
		}
		if cfg.family != familyAny && cfg.family != f {
			return cfg, errors.New("option -i " + cfg.localIP.String() + " is not of the family -" + strconv.Itoa(cfg.family) + " asks for")
		}
		cfg.family = f
	}
	return cfg, nil
}

// parsePort reads a port number; the remote port must not be 0. Service
// names are looked up in /etc/services by the resolver (see lookupPort).
func parsePort(s string, local bool) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err == nil {
		if n == 0 && !local {
			return 0, errors.New("port 0 cannot be connected to")
		}
		return uint16(n), nil
	}
	if s == "" || strings.IndexFunc(s, notServiceChar) >= 0 || isDigits(s) {
		return 0, errors.New("bad port " + strconv.Quote(s))
	}
	n2, err := lookupPort(s)
	if err != nil {
		return 0, errors.New("unknown service " + strconv.Quote(s))
	}
	return n2, nil
}

func notServiceChar(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '+')
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseTimeout reads -T's "x+y" or "x" (then y stays what it was, as in
// ucspi-tcp), each in seconds with up to three decimals. x must be more
// than 0; y = 0 means no second pass.
func parseTimeout(s string, second time.Duration) (x, y time.Duration, err error) {
	xs, ys, plus := strings.Cut(s, "+")
	x, ok := parseSeconds(xs)
	if !ok || x == 0 {
		return 0, 0, errors.New("option -T needs x or x+y in seconds, x more than 0, not " + strconv.Quote(s))
	}
	y = second
	if plus {
		if y, ok = parseSeconds(ys); !ok {
			return 0, 0, errors.New("option -T needs x or x+y in seconds, not " + strconv.Quote(s))
		}
	}
	return x, y, nil
}

// parseSeconds reads "12" or "0.25" (at most three decimals) up to
// maxTimeout.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, dot := strings.Cut(s, ".")
	if whole == "" || len(whole) > 6 || !isDigits(whole) || (dot && (frac == "" || len(frac) > 3 || !isDigits(frac))) {
		return 0, false
	}
	w, _ := strconv.Atoi(whole)
	d := time.Duration(w) * time.Second
	if dot {
		f, _ := strconv.Atoi(frac + strings.Repeat("0", 3-len(frac)))
		d += time.Duration(f) * time.Millisecond
	}
	if d > maxTimeout {
		return 0, false
	}
	return d, true
}
