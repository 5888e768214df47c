package main

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/dane"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsadns"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

const name = "tlsa-lookup"

const usage = "tlsa-lookup [-qv] [-A] [-p port] [-r ip:port] [-t secs] host prog..."

const help = "usage: " + usage + `

  -p port    the service port: query _port._tcp.host (default 25)
  -r ip:port the resolver to ask (default: the first nameserver of /etc/resolv.conf, port 53)
  -A         trust the AD bit from a resolver that is not on a loopback address
  -t secs    timeout of each of the two tries (default 5)
  -q         log warnings only
  -v         log the outcome of each lookup
  -h         print this help (also --help)
  --version  print the version
`

type config struct {
	port     int
	resolver string
	trustAny bool
	timeout  time.Duration
	level    int
	host     string
	prog     []string
}

func parseArgs(args []string) (*config, error) {
	c := &config{port: 25, timeout: 5 * time.Second, level: logline.Normal}
	p := getopt.New(args, "hqvAp:r:t:", "help", "version")
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, err
		}
		switch o.Name {
		case "h", "help":
			return nil, getopt.ErrHelp
		case "version":
			return nil, getopt.ErrVersion
		case "q":
			c.level = logline.Quiet
		case "v":
			c.level = logline.Verbose
		case "A":
			c.trustAny = true
		case "p":
			if c.port, err = getopt.Int(o, 1, 65535); err != nil {
				return nil, err
			}
		case "r":
			if _, err := netip.ParseAddrPort(o.Arg); err != nil {
				return nil, errors.New("option -r needs ip:port (e.g. 127.0.0.1:53 or [::1]:53)")
			}
			c.resolver = o.Arg
		case "t":
			n, err := getopt.Int(o, 1, 300)
			if err != nil {
				return nil, err
			}
			c.timeout = time.Duration(n) * time.Second
		}
	}
	rest := p.Rest()
	if len(rest) < 2 {
		return nil, errors.New("need a host and a program")
	}
	c.host = strings.ToLower(strings.TrimSuffix(rest[0], "."))
	if !tlsadns.ValidName("_25._tcp." + c.host) {
		return nil, errors.New("bad host name " + strconv.Quote(rest[0]))
	}
	c.prog = rest[1:]
	return c, nil
}

// run looks up the records and execs prog. It returns only on failure.
func run(argv, envp []string) int {
	c, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	log := logline.New(name)
	log.Level = c.level
	env := ucspi.NewEnv(envp)
	env.Unset(ucspi.TLSA, ucspi.TLSABaseName)

	server := c.resolver
	if server == "" {
		if server, err = tlsadns.SystemResolver(); err != nil {
			return exitcode.Report(name, err)
		}
	}
	ap, _ := netip.ParseAddrPort(server)
	qname := "_" + strconv.Itoa(c.port) + "._tcp." + c.host
	a, err := tlsadns.Lookup(ap, qname, c.timeout)
	if err != nil {
		// RFC 7672 §2.2: a failed TLSA lookup makes the host unusable
		// (it may be an attack on a signed zone): defer, do not go on
		// without DANE.
		return exitcode.Report(name, exitcode.Temp("look up", "TLSA "+qname+" at "+server, err))
	}
	records := dane.Usable(nil)
	outcome := ""
	switch {
	case a.Rcode == 3 || a.Rcode == 0 && len(a.Records) == 0:
		outcome = "none"
	case a.Rcode != 0:
		return exitcode.Report(name, exitcode.Temp("look up", "TLSA "+qname+" at "+server,
			errors.New("resolver answered rcode "+strconv.Itoa(a.Rcode))))
	case !a.AD:
		outcome = "insecure"
	case !c.trustAny && !ap.Addr().Unmap().IsLoopback():
		outcome = "insecure"
		log.Warn("resolver", "host", c.host, "resolver", server, "err", "AD bit not trusted from a non-loopback resolver (use -A)")
	default:
		records = a.Records
		outcome = "secure"
		env.Set(ucspi.TLSA, dane.Format(records))
		env.Set(ucspi.TLSABaseName, c.host)
	}
	log.Debug("tlsa", "host", c.host, "result", outcome, "records", strconv.Itoa(len(records)), "usable", strconv.Itoa(len(dane.Usable(records))))
	return exitcode.Report(name, chain.Exec(c.prog, env.Environ()))
}
