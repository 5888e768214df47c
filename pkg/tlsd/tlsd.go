// Package tlsd is the server side of TLS in immediate mode: with the
// client's socket on fds 0 and 1 (from tcpserver), it spawns the TLS
// engine as an unprivileged user, keeps the private keys and signs for it,
// waits for the handshake, sets the SSL_* variables and execs prog with
// cleartext pipes on fds 0 and 1. See doc/tlsd.md.
package tlsd

import (
	"errors"
	"os"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
	"github.com/tlschain/tlschain/pkg/ucspi"
	"github.com/tlschain/tlschain/pkg/version"
)

const name = "tlsd"

const usage = "tlsd [-nqvyYASsJjZzU] [-k 0|1|2] [-K ms] [-I secs] [-m 1.2|1.3] [-a protocols] [-O ocspfile] [-u user] [-g group] [-G groups] [--engine-uids n] [--engine-uid-dir dir] [--engine-gomaxprocs n] [--require-jail] [--engine-memory mib] [--check] prog..."

const help = "usage: " + usage + "\n\n" + tlsspawn.HelpDelayed + `  -y          require a client certificate, verified against CAFILE/CADIR (also --require-client-cert)
  -Y          request a client certificate; a client without one is accepted (also --request-client-cert)
  -A          request any client certificate and verify nothing: report its hashes (SSL_CLIENT_VERIFY=GENEROUS) for prog to check
  --any-client-cert  the same as -A
  -k level    SNI: 0 = CERTFILE/KEYFILE only, 1 = CERTFILE:name pairs, then the default (default), 2 = pairs only (SNI mandatory) (also --sni-level)
` +
	tlsspawn.HelpSession + `  -a list     ALPN protocols the server accepts, comma-separated, in order of preference (also --alpn)
  -O file     staple the DER OCSP response in file (also --ocsp)
` +
	tlsspawn.HelpAppAndEngine

var (
	errHelp    = errors.New("help")
	errVersion = errors.New("version")
)

// parseArgs reads the command line into a tlsspawn.Config and prog.
func parseArgs(args []string) (*tlsspawn.Config, []string, error) {
	c := tlsspawn.NewConfig(true)
	long := []string{"help", "version", "ocsp=", "sni-level=", "require-client-cert", "request-client-cert", "any-client-cert"}
	prog, err := c.Parse(args, "hyYAk:O:", long, func(o getopt.Opt) error {
		var err error
		switch o.Name {
		case "h", "help":
			return errHelp
		case "version":
			return errVersion
		case "y", "require-client-cert":
			c.ClientCert, c.RequestCert = true, false
		case "Y", "request-client-cert":
			c.RequestCert, c.ClientCert = true, false
		case "A", "any-client-cert":
			c.AnyClientCert = true
		case "k", "sni-level":
			c.SNILevel, err = getopt.Int(o, 0, 2)
		case "O", "ocsp":
			if o.Arg == "" {
				return errors.New("option -O needs a file")
			}
			c.OCSPFile = o.Arg
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if c.KeyHolder {
		return c, nil, nil
	}
	if len(prog) == 0 {
		return nil, nil, errors.New("no program to run")
	}
	return c, prog, nil
}

// Main performs the handshake on fds 0/1 and execs prog on cleartext
// pipes. It returns only on failure.
func Main(argv, envp []string) int {
	c, prog, err := parseArgs(argv[1:])
	if err == errHelp {
		os.Stdout.WriteString(help)
		return exitcode.OK
	}
	if err == errVersion {
		os.Stdout.WriteString(version.Line(name))
		return exitcode.OK
	}
	if err != nil {
		return exitcode.ReportUsage(name, usage, err)
	}
	if c.KeyHolder {
		return tlsspawn.ServeKeys(name, c, envp)
	}
	return tlsspawn.Run(name, c, prog, envp, ucspi.ServerReadFD, ucspi.ServerWriteFD)
}

// Inline returns tlsd's work for the command line argv (argv[0] is tlsd
// itself) to be done in-process by a long-lived server, or nil when argv
// must run as a program: help, a usage error (tlsd reports it on each
// connection), delayed mode.
func Inline(argv []string) *tlsspawn.Inline {
	c, prog, err := parseArgs(argv[1:])
	if err != nil {
		return nil
	}
	return tlsspawn.NewInline(name, c, prog)
}
