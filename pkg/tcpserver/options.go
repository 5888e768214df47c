package tcpserver

import (
	"errors"
	"strconv"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
)

const name = "tcpserver"

const usage = "tcpserver [-1UXoDNhHpPqQvRO] [-c n] [-C n] [-b n] [-x rules.cdb] [-B banner] [-d fd] [-l name] [-u user] [-g group] [-G groups] [-t n] [--exec-tlsd] [host port] prog..."

// help is printed by --help after the usage line. -h is taken by
// ucspi-tcp's meaning (look up the client's name), so help is --help only.
const help = `
  -1         after listening, print the bound port and a newline on stdout
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
  -u user    after binding, run as user (a name also sets its gid and groups)
  -g group   after binding, set the gid (and the groups, without -G) to group
  -G groups  after binding, set exactly these supplementary groups (comma-separated)
  -U         after binding, take the uid, gid and groups from UID, GID and GIDLIST
  -q         log warnings only
  -Q         log warnings only (ucspi-tcp's spelling)
  -v         log details too
  -R         no ident lookup (always; accepted for ucspi-tcp)
  -O         accepted for ucspi-tcp; does nothing
  -t n       accepted for ucspi-tcp (ident timeout); does nothing
  --exec-tlsd  exec tlsd per connection; by default, when prog is the tlsd beside tcpserver, tcpserver does its work itself
  --help     print this text
  --version  print the version
`

// Defaults.
const (
	defaultMaxConn = 40
	defaultBacklog = 128
	maxConnLimit   = 65536
	maxBacklog     = 65535
	maxFD          = 1 << 20
)

// options is a parsed command line.
type options struct {
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
	execTLSD       bool   // --exec-tlsd: never do tlsd's work in-process

	// Operands. host and port are empty when the listening socket is
	// inherited (activation).
	host, port string
	prog       []string
}

// errHelp asks Main to print the help text; errVersion, the version.
var (
	errHelp    = errors.New("help")
	errVersion = errors.New("version")
)

// parseArgs parses args (without the program name). inherited says that a
// listening socket came with the process (socket activation), so the
// operands are prog... only, host and port omitted.
func parseArgs(args []string, inherited bool) (*options, error) {
	o := &options{
		maxConn: defaultMaxConn,
		backlog: defaultBacklog,
		readyFD: -1,
		noDelay: true,
		level:   logline.Normal,
	}
	p := getopt.New(args, "1UXoDNhHpPqQvROrc:C:b:x:B:d:l:u:g:G:t:", "help", "version", "exec-tlsd")
	for {
		opt, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, err
		}
		switch opt.Name {
		case "help":
			return nil, errHelp
		case "version":
			return nil, errVersion
		case "exec-tlsd":
			o.execTLSD = true
		case "1":
			o.printPort = true
		case "c":
			if o.maxConn, err = getopt.Int(opt, 1, maxConnLimit); err != nil {
				return nil, err
			}
		case "C":
			if o.maxPerIP, err = getopt.Int(opt, 0, maxConnLimit); err != nil {
				return nil, err
			}
		case "b":
			if o.backlog, err = getopt.Int(opt, 1, maxBacklog); err != nil {
				return nil, err
			}
		case "x":
			if opt.Arg == "" {
				return nil, errors.New("option -x needs a file name")
			}
			o.rulesPath = opt.Arg
		case "X":
			o.rulesMissingOK = true
		case "B":
			o.banner, o.hasBanner = opt.Arg, true
		case "d":
			if o.readyFD, err = getopt.Int(opt, 3, maxFD); err != nil {
				return nil, err
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
				return nil, err
			}
		case "q", "Q":
			o.level = logline.Quiet
		case "v":
			o.level = logline.Verbose
		case "t":
			if _, err := getopt.Int(opt, 0, 1<<31-1); err != nil {
				return nil, err
			}
			o.identTimeout = opt.Arg
		case "r":
			return nil, errors.New("option -r (ident lookup) is not supported")
		}
	}
	rest := p.Rest()
	if !inherited {
		if len(rest) < 2 {
			return nil, errors.New("host and port missing")
		}
		o.host, o.port, rest = rest[0], rest[1], rest[2:]
		if o.port == "" {
			return nil, errors.New("empty port")
		}
	}
	if len(rest) == 0 || rest[0] == "" {
		return nil, errors.New("no program to run")
	}
	o.prog = rest
	return o, nil
}

// argv returns a command line that parses back to o (the fuzz target's
// round trip).
func (o *options) argv() []string {
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
	flag(o.execTLSD, "--exec-tlsd")
	a = append(a, "--")
	if o.port != "" {
		a = append(a, o.host, o.port)
	}
	return append(a, o.prog...)
}
