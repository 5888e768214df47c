package main

import (
	"errors"
	"strings"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

const name = "tlskeyholder"

const usage = "tlskeyholder --server [--sni-level level] [--require-client-cert|--request-client-cert] [--ocsp file] [--as uid:gid] [-K ms] enginepid\n       tlskeyholder --client [--server-name name] [--no-verify-cert] [--send-client-cert] [--as uid:gid] [-K ms] enginepid"

const help = "usage: " + usage + `

  --server               the engine is a server's (tlsd -n): read CERTFILE/KEYFILE and the SNI pairs, TLS_TICKETKEYS
  --sni-level level      server: the SNI level, which pairs to read (default 1)
  --require-client-cert  server: the engine verifies client certificates: read CAFILE/CADIR
  --request-client-cert  server: the same
  --ocsp file            server: read the OCSP response to staple from file
  --client               the engine is a client's (tlsc -n): read CAFILE/CADIR or the system's CAs, TLSA
  --server-name name     client: the name TLSA_BASENAME defaults to
  --no-verify-cert       client: read no CA and no TLSA
  --send-client-cert     client: read CERTFILE/KEYFILE and sign for the client certificate
  --as uid:gid           once the files are read, run as uid:gid (the engine's), no other group (needs root; default: the user it runs as)
  -K ms      the grant's window, from the engine's first request; 0 = none (default 30000)
  -h         print this help (also --help)
  --version  print the version
`

var long = []string{
	"help", "version", "server", "client", "sni-level=", "require-client-cert",
	"request-client-cert", "ocsp=", "server-name=", "no-verify-cert", "send-client-cert", "as=",
}

// maxPID bounds the engine's pid (the kernel's PID_MAX_LIMIT).
const maxPID = 1 << 22

// holder is what the command line asks: the key channel of one engine,
// of a server or a client.
type holder interface {
	Option(getopt.Opt) error
	ServeKeys(name string, enginePID int, envp []string, confine func() error) int
}

// config is the command line: the side's options, --as, the engine.
type config struct {
	h         holder
	as        *privdrop.Cred
	enginePID int
}

// serverOnly and clientOnly are the options of one side.
var (
	serverOnly = map[string]bool{"sni-level": true, "require-client-cert": true, "request-client-cert": true, "ocsp": true}
	clientOnly = map[string]bool{"server-name": true, "no-verify-cert": true, "send-client-cert": true}
)

// parseArgs reads the command line: the side, its options (applied as
// tlsd's and tlsc's own parsers apply them) and the engine's pid.
func parseArgs(args []string) (config, error) {
	p := getopt.New(args, "hK:", long...)
	var opts []getopt.Opt
	var c config
	side := ""
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return c, err
		}
		switch o.Name {
		case "h", "help":
			return c, getopt.ErrHelp
		case "version":
			return c, getopt.ErrVersion
		case "as":
			cred, err := parseAs(o.Arg)
			if err != nil {
				return c, err
			}
			c.as = &cred
		case "server", "client":
			if side != "" && side != o.Name {
				return c, errors.New("options --server and --client exclude each other")
			}
			side = o.Name
		default:
			opts = append(opts, o)
		}
	}
	switch side {
	case "server":
		c.h = tlsspawn.NewServerConfig()
	case "client":
		c.h = tlsspawn.NewClientConfig()
	default:
		return c, errors.New("one of --server and --client is needed")
	}
	for _, o := range opts {
		if side == "server" && clientOnly[o.Name] || side == "client" && serverOnly[o.Name] {
			return c, errors.New("option --" + o.Name + " is not for the --" + side + " side")
		}
		if err := c.h.Option(o); err != nil {
			return c, err
		}
	}
	rest := p.Rest()
	if len(rest) != 1 {
		return c, errors.New("need the engine's pid, and nothing after it")
	}
	pid, err := getopt.Int(getopt.Opt{Name: "engine pid", Arg: rest[0]}, 1, maxPID)
	if err != nil {
		return c, errors.New("bad engine pid " + logline.Quote(rest[0], 20))
	}
	c.enginePID = pid
	return c, nil
}

// parseAs reads --as uid:gid, numbers (the spawner's, not names).
func parseAs(s string) (privdrop.Cred, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := getopt.Int(getopt.Opt{Name: "as", Arg: u}, 1, 1<<31-1)
	gid, err2 := getopt.Int(getopt.Opt{Name: "as", Arg: g}, 1, 1<<31-1)
	if !ok || err1 != nil || err2 != nil {
		return privdrop.Cred{}, errors.New("bad --as " + logline.Quote(s, 40) + ": want uid:gid, numbers, not 0")
	}
	return privdrop.Cred{Set: true, UID: uid, GID: gid}, nil
}

// run serves the key channel on fd 0 and returns the exit code.
func run(argv, envp []string) int {
	c, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	return c.h.ServeKeys(name, c.enginePID, envp, func() error { return confine(c.as) })
}
