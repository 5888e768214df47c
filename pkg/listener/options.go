package listener

import (
	"errors"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
)

// Short is the listener's option letters for getopt: a program adds its
// own. -u, -g, -G and -U set the listener's identity unless the
// program's own function takes them first (tlsserver: the app's).
const Short = "1UXoDNhHpPqQvROrc:C:b:x:B:d:l:u:g:G:t:"

// Help describes the listener's options but the identity ones, for a
// program's --help. -h is taken by ucspi-tcp's meaning (look up the
// client's name), so help is --help only.
const Help = `  -1         after listening, print the bound port and a newline on stdout
  -c n       at most n children at once; at the limit stop accepting (default 40)
  -C n       at most n connections at once from one IP; over it close (default no limit)
  -b n       listen backlog (default 128)
  -x cdb     check each connection against the rules database cdb before spawning
  -X         with -x, allow connections while cdb does not exist
  -B banner  write banner to each client right after accept, before the rules
  -d fd      once listening, write a newline to fd and close it (s6 readiness)
  -o         set SO_REUSEPORT on the listening socket
  -D         set TCP_NODELAY on connections (default; ucspi-tcp's -D)
  -N         leave Nagle's algorithm on (no TCP_NODELAY)
  -h         look up the client's name into TCPREMOTEHOST
  -H         do not look up the client's name (default)
  -p         with -h, drop a name whose addresses do not include the client
  -P         do not check the name found by -h (default)
  -l name    set TCPLOCALHOST to name
  -q         log warnings only
  -Q         log warnings only (ucspi-tcp's spelling)
  -v         log details too
  -R         no ident lookup (always; accepted for ucspi-tcp)
  -O         accepted for ucspi-tcp; does nothing
  -t n       accepted for ucspi-tcp (ident timeout); does nothing
`

// Defaults.
const (
	defaultMaxConn = 40
	defaultBacklog = 128
	maxConnLimit   = 65536
	maxBacklog     = 65535
	maxFD          = 1 << 20
)

// Options is a parsed command line.
type Options struct {
	printPort      bool
	maxConn        int // -c
	maxPerIP       int // -C; 0 = no limit
	backlog        int
	rulesPath      string
	rulesMissingOK bool // -X
	banner         string
	hasBanner      bool
	readyFD        int // -d; -1 = none
	reusePort      bool
	noDelay        bool // on unless -N
	lookup         bool // -h
	paranoid       bool // -p
	localHost      string
	hasLocalHost   bool
	ids            privdrop.Options // -u -g -G -U
	level          int
	identTimeout   string // -t, kept only to round-trip

	// Operands. host and port are empty when the listening socket is
	// inherited (activation, from fd inherited).
	host, port string
	prog       []string
	inherited  int // -1: none
}

// Prog is the program to run for each connection, with its arguments.
func (o *Options) Prog() []string { return o.prog }

// Parse parses args (without the program name) with the environment envp,
// which says whether a listening socket came with the process (socket
// activation): then the operands are prog... only, host and port
// omitted. short and long are the program's own options beside Short
// (long holds "help" and "version"); own sees each option first and says
// whether it took it alone. A nil own takes none.
func Parse(args, envp []string, short string, long []string, own func(getopt.Opt) (bool, error)) (*Options, error) {
	inherited := inheritedFD(envp)
	o, err := parse(args, inherited >= 0, short, long, own)
	if err != nil {
		return nil, err
	}
	o.inherited = inherited
	return o, nil
}

// parse is Parse with the activation already known.
func parse(args []string, inherited bool, short string, long []string, own func(getopt.Opt) (bool, error)) (*Options, error) {
	o := &Options{
		maxConn:   defaultMaxConn,
		backlog:   defaultBacklog,
		readyFD:   -1,
		noDelay:   true,
		level:     logline.Normal,
		inherited: -1,
	}
	p := getopt.New(args, Short+short, long...)
	for {
		opt, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, err
		}
		took := false
		if own != nil {
			if took, err = own(opt); err != nil {
				return nil, err
			}
		}
		if !took {
			if err := o.take(opt); err != nil {
				return nil, err
			}
		}
	}
	if err := o.operands(p.Rest(), inherited); err != nil {
		return nil, err
	}
	return o, nil
}

// take applies one listener option.
func (o *Options) take(opt getopt.Opt) error {
	var err error
	switch opt.Name {
	case "help":
		return getopt.ErrHelp
	case "version":
		return getopt.ErrVersion
	case "1":
		o.printPort = true
	case "c":
		if o.maxConn, err = getopt.Int(opt, 1, maxConnLimit); err != nil {
			return err
		}
	case "C":
		if o.maxPerIP, err = getopt.Int(opt, 0, maxConnLimit); err != nil {
			return err
		}
	case "b":
		if o.backlog, err = getopt.Int(opt, 1, maxBacklog); err != nil {
			return err
		}
	case "x":
		if opt.Arg == "" {
			return errors.New("option -x needs a file name")
		}
		o.rulesPath = opt.Arg
	case "X":
		o.rulesMissingOK = true
	case "B":
		o.banner, o.hasBanner = opt.Arg, true
	case "d":
		if o.readyFD, err = getopt.Int(opt, 3, maxFD); err != nil {
			return err
		}
	case "o":
		o.reusePort = true
	case "O", "R":
	case "D":
		o.noDelay = true
	case "N":
		// Not ucspi-tcp's -d: here -d is the readiness fd.
		o.noDelay = false
	case "h":
		o.lookup = true
	case "H":
		o.lookup = false
	case "p":
		o.paranoid = true
	case "P":
		o.paranoid = false
	case "l":
		o.localHost, o.hasLocalHost = opt.Arg, true
	case "u", "g", "G", "U":
		if _, err := o.ids.Take(opt); err != nil {
			return err
		}
	case "q", "Q":
		o.level = logline.Quiet
	case "v":
		o.level = logline.Verbose
	case "t":
		if _, err := getopt.Int(opt, 0, 1<<31-1); err != nil {
			return err
		}
		o.identTimeout = opt.Arg
	case "r":
		return errors.New("option -r (ident lookup) is not supported")
	}
	return err
}

// operands takes host and port (unless a socket is inherited) and prog.
func (o *Options) operands(rest []string, inherited bool) error {
	if !inherited {
		if len(rest) < 2 {
			return errors.New("host and port missing")
		}
		o.host, o.port, rest = rest[0], rest[1], rest[2:]
		if o.port == "" {
			return errors.New("empty port")
		}
	}
	if len(rest) == 0 || rest[0] == "" {
		return errors.New("no program to run")
	}
	o.prog = rest
	return nil
}
