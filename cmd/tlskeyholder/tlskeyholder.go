package main

import (
	"errors"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

const name = "tlskeyholder"

const usage = "tlskeyholder --server [--sni-level level] [--require-client-cert|--request-client-cert] [--ocsp file] [-K ms] enginepid\n       tlskeyholder --client [--server-name name] [--no-verify-cert] [--send-client-cert] [-K ms] enginepid"

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
  -K ms      the grant's window, from the engine's first request; 0 = none (default 30000)
  -h         print this help (also --help)
  --version  print the version
`

var long = []string{
	"help", "version", "server", "client", "sni-level=", "require-client-cert",
	"request-client-cert", "ocsp=", "server-name=", "no-verify-cert", "send-client-cert",
}

// maxPID bounds the engine's pid (the kernel's PID_MAX_LIMIT).
const maxPID = 1 << 22

// holder is what the command line asks: the key channel of one engine,
// of a server or a client.
type holder interface {
	Option(getopt.Opt) error
	ServeKeys(name string, enginePID int, envp []string) int
}

// serverOnly and clientOnly are the options of one side.
var (
	serverOnly = map[string]bool{"sni-level": true, "require-client-cert": true, "request-client-cert": true, "ocsp": true}
	clientOnly = map[string]bool{"server-name": true, "no-verify-cert": true, "send-client-cert": true}
)

// parseArgs reads the command line: the side, its options (applied as
// tlsd's and tlsc's own parsers apply them) and the engine's pid.
func parseArgs(args []string) (holder, int, error) {
	p := getopt.New(args, "hK:", long...)
	var opts []getopt.Opt
	side := ""
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, 0, err
		}
		switch o.Name {
		case "h", "help":
			return nil, 0, getopt.ErrHelp
		case "version":
			return nil, 0, getopt.ErrVersion
		case "server", "client":
			if side != "" && side != o.Name {
				return nil, 0, errors.New("options --server and --client exclude each other")
			}
			side = o.Name
		default:
			opts = append(opts, o)
		}
	}
	var h holder
	switch side {
	case "server":
		h = tlsspawn.NewServerConfig()
	case "client":
		h = tlsspawn.NewClientConfig()
	default:
		return nil, 0, errors.New("one of --server and --client is needed")
	}
	for _, o := range opts {
		if side == "server" && clientOnly[o.Name] || side == "client" && serverOnly[o.Name] {
			return nil, 0, errors.New("option --" + o.Name + " is not for the --" + side + " side")
		}
		if err := h.Option(o); err != nil {
			return nil, 0, err
		}
	}
	rest := p.Rest()
	if len(rest) != 1 {
		return nil, 0, errors.New("need the engine's pid, and nothing after it")
	}
	pid, err := getopt.Int(getopt.Opt{Name: "engine pid", Arg: rest[0]}, 1, maxPID)
	if err != nil {
		return nil, 0, errors.New("bad engine pid " + logline.Quote(rest[0], 20))
	}
	return h, pid, nil
}

// run serves the key channel on fd 0 and returns the exit code.
func run(argv, envp []string) int {
	h, pid, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	return h.ServeKeys(name, pid, envp)
}
