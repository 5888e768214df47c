package main

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/imap"
	"github.com/tlschain/tlschain/pkg/lineproto/pop3"
	"github.com/tlschain/tlschain/pkg/lineproto/smtp"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsadns"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

const name = "ucspi-starttls"

const usage = "ucspi-starttls [-s|-c] [-m] [-p policy] [-P table] [-d domain] [-H host] [-e name] [-D prefix] [-r ip:port] [-g percent] [-q|-v] [-t secs] [-l bytes] smtp|pop3|imap prog..."

const help = "usage: " + usage + `

  -s       server mode: stand between a client and prog (default)
  -c       client mode: under tlsc -n, STARTTLS for an unmodified client prog (smtp, pop3 or imap)
  -m       mandatory: require STARTTLS before authentication and mail (also UCSPITLS=! or @)
  -t secs  cleartext-phase timeout: client silence, app greeting, handshake report (default 300)
  -l bytes longest command line, CRLF included (default smtp 512, pop3 512, imap 8192)
  -q       quiet: warnings only
  -v       verbose: log each STARTTLS step
  -p policy  client mode: none, may, encrypt, verify, secure, dane, dane-only, fingerprint (default $STARTTLS_POLICY, else may)
  -e name  client mode: the EHLO name (default $TCPLOCALHOST, else localhost)
  -P table client mode: per-destination policy table compiled by tlspolicy (doc/policy.md)
  -d domain  client mode: the destination domain looked up in -P (default $STARTTLS_DOMAIN)
  -D prefix  server mode (smtp): DANE client authentication: match the client certificate (tlsd -A) with the TLSA records at prefix.<EHLO name>, e.g. _25._tcp
  -r ip:port  with -D: the DNS resolver (default: the first nameserver of /etc/resolv.conf); AD is trusted from loopback only
  -g percent  server mode (smtp): answer MAIL before TLS with 451 4.7.0 in percent of sessions (0-100; $STARTTLS_DEGRADE overrides; $STARTTLS_DEGRADE_EXEMPT exempts)
  -H host  client mode: the MX host name checked against the entry's mx= (default $TLSA_BASENAME, else $TCPREMOTEHOST)
  -h       print this help (also --help)
  --version  print the version
`

// Exit codes of the session itself; otherwise the app's own exit status.
const (
	// Refused: the session was ended by policy (commands pipelined after
	// STARTTLS, PREAUTH in mandatory mode) or by a silent client.
	Refused = exitcode.Denied
)

// defaultTimeout is -t's default: RFC 5321 §4.5.3.2.7's server timeout
// (5 minutes awaiting the next command), which fits POP3 and IMAP before
// login too; a silent client never holds a cleartext session longer.
const defaultTimeout = 300 * time.Second

type config struct {
	proto      string
	mandatory  bool
	timeout    time.Duration
	maxLine    int
	level      int
	prog       []string
	client     bool   // -c
	policy     string // -p (client mode)
	helo       string // -e (client mode)
	table      string // -P (client mode)
	domain     string // -d (client mode)
	mxHost     string // -H (client mode)
	danePrefix string // -D (server mode)
	resolver   string // -r (server mode, with -D)
	degrade    int    // -g (server mode): percent of degraded sessions
}

func parseArgs(args []string) (*config, error) {
	c := &config{timeout: defaultTimeout, level: logline.Normal}
	p := getopt.New(args, "scmqvt:l:hp:e:P:d:H:D:r:g:", "help", "version")
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, err
		}
		switch o.Name {
		case "s":
			c.client = false
		case "c":
			c.client = true
		case "p":
			c.policy = o.Arg
		case "e":
			c.helo = o.Arg
		case "P":
			c.table = o.Arg
		case "d":
			c.domain = o.Arg
		case "H":
			c.mxHost = o.Arg
		case "g":
			n, err := getopt.Int(o, 0, 100)
			if err != nil {
				return nil, err
			}
			c.degrade = n
		case "D":
			if !tlsadns.ValidName(o.Arg + ".example") {
				return nil, exitcode.UsageError("option -D needs DNS labels, e.g. _25._tcp, not " + logline.Quote(o.Arg, 40))
			}
			c.danePrefix = strings.TrimSuffix(o.Arg, ".")
		case "r":
			if _, err := netip.ParseAddrPort(o.Arg); err != nil {
				return nil, exitcode.UsageError("option -r needs ip:port, not " + logline.Quote(o.Arg, 40))
			}
			c.resolver = o.Arg
		case "m":
			c.mandatory = true
		case "q":
			c.level = logline.Quiet
		case "v":
			c.level = logline.Verbose
		case "t":
			n, err := getopt.Int(o, 1, 86400)
			if err != nil {
				return nil, err
			}
			c.timeout = time.Duration(n) * time.Second
		case "l":
			n, err := getopt.Int(o, 64, 1<<20)
			if err != nil {
				return nil, err
			}
			c.maxLine = n
		case "h", "help":
			return nil, getopt.ErrHelp
		case "version":
			return nil, getopt.ErrVersion
		}
	}
	rest := p.Rest()
	if len(rest) < 2 {
		return nil, exitcode.UsageError("need a protocol and a program")
	}
	switch rest[0] {
	case "smtp", "pop3", "imap":
		c.proto = rest[0]
	default:
		return nil, exitcode.UsageError("unknown protocol " + rest[0] + " (smtp, pop3 or imap)")
	}
	c.prog = rest[1:]
	if c.danePrefix != "" && (c.client || c.proto != "smtp") {
		return nil, exitcode.UsageError("option -D is for server mode smtp")
	}
	return c, nil
}

// run runs one connection. It returns the app's exit status, or one of
// the codes in doc/ucspi-starttls.md.
func run(argv, envp []string) int {
	cfg, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	// Every line, and every app's, names the connection: by CONNPID (tlsd
	// or tlsc set it), else by this process, the listener's child.
	envp = logline.SetConn(envp)
	// Not dumpable: the app runs under our uid, and a dumpable process's
	// /proc/<pid>/fd, environ and mem are open to every process of that
	// uid. A cleartext app could otherwise open our pipes to the engine
	// through /proc/<ppid>/fd. Children are dumpable again at their exec.
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return exitcode.Report(name, exitcode.Temp("clear", "the dumpable flag", err))
	}
	// Before any child of our own exists: what is there now came from
	// tlsd (or tlsc) -n.
	kids := newReaper()
	if cfg.client {
		// Client mode starts prog once, after the cleartext phase: no
		// child of that phase is ever replaced, so there is nothing to
		// sweep and no need to adopt orphans.
		return clientMain(cfg, envp, kids)
	}
	log := logline.New(name)
	log.Level = cfg.level
	env := ucspi.NewEnv(envp)

	// UCSPITLS: unset or "-" = no STARTTLS, "!" or "@" = required, any
	// other value (empty too) = offered (doc/design.md §3.4).
	policy, set := env.Get(ucspi.UCSPITLS)
	offered := set && policy != "-"
	mandatory := cfg.mandatory || set && (policy == "!" || policy == "@")
	tls := &tlsFDs{ctl: -1, rd: -1, wr: -1}
	if offered || mandatory {
		tls, err = getTLSFDs(env)
		if err != nil {
			if mandatory {
				return exitcode.Report(name, err)
			}
			log.Debug("offer", "starttls", "no", "err", err.Error())
			tls = &tlsFDs{ctl: -1, rd: -1, wr: -1}
		}
	}
	if tls.ctl < 0 {
		declineTLS(env)
	} else if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		// Without it an orphan of the cleartext app would go to init,
		// out of the sweep's reach, and live on beside the fresh app.
		return exitcode.Report(name, exitcode.Temp("become", "a child subreaper", err))
	}
	lc := lineproto.Config{TLS: tls.ctl >= 0, Mandatory: mandatory, MaxLine: cfg.maxLine}
	var p lineproto.Session
	switch cfg.proto {
	case "smtp":
		sm := smtp.New(lc)
		if err := setupDegrade(sm, cfg, env, log, tls.ctl >= 0); err != nil {
			return exitcode.ReportUsage(name, usage, err)
		}
		p = sm
	case "pop3":
		p = pop3.New(lc)
	default:
		p = imap.New(lc)
	}

	// The app never gets the UCSPI-TLS fds: ucspi-starttls owns TLS.
	env.Unset(ucspi.SSLCtlFD, ucspi.SSLReadFD, ucspi.SSLWriteFD)
	env.Unset(ucspi.SSLClientDANE, ucspi.SSLClientDANEName) // only -D sets them, after TLS
	path, err := chain.LookPath(cfg.prog[0], env.Environ())
	if err != nil {
		return exitcode.Report(name, err)
	}
	s := &session{cfg: cfg, log: log, p: p, tls: tls, env: env, path: path, kids: kids}
	return s.run()
}

// tlsFDs are the UCSPI-TLS fds from tlsd -n.
type tlsFDs struct{ ctl, rd, wr int }

func getTLSFDs(env *ucspi.Env) (*tlsFDs, error) {
	var fds [3]int
	for i, n := range []string{ucspi.SSLCtlFD, ucspi.SSLReadFD, ucspi.SSLWriteFD} {
		v, ok := env.Get(n)
		if !ok {
			return nil, exitcode.UsageError(n + " not set: run under tlsd -n")
		}
		fd, err := strconv.Atoi(v)
		if err != nil || fd < 0 || !fdutil.Valid(fd) {
			return nil, exitcode.UsageError(n + " is not an open fd: " + logline.Safe(v))
		}
		fdutil.SetCloexec(fd, true)
		fds[i] = fd
	}
	return &tlsFDs{ctl: fds[0], rd: fds[1], wr: fds[2]}, nil
}

// declineTLS closes the UCSPI-TLS fds of a session that will not use
// them: the engine sees EOF on its control socket and exits at once (so
// does tlsd's key holder), instead of waiting for the whole session.
// Only fds above 2 are closed, whatever the variables say.
func declineTLS(env *ucspi.Env) {
	for _, n := range []string{ucspi.SSLCtlFD, ucspi.SSLReadFD, ucspi.SSLWriteFD} {
		v, _ := env.Get(n)
		if fd, err := strconv.Atoi(v); err == nil && fd > 2 && fdutil.Valid(fd) {
			unix.Close(fd)
		}
	}
}
