package main

import (
	"errors"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
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

// parseArgs reads the command line into a tlsspawn.ServerConfig and prog.
func parseArgs(args []string) (*tlsspawn.ServerConfig, []string, error) {
	c := tlsspawn.NewServerConfig()
	long := []string{"help", "version"}
	prog, err := c.Parse(args, "hO:", long, getopt.Asked)
	if err != nil {
		return nil, nil, err
	}
	if len(prog) == 0 {
		return nil, nil, errors.New("no program to run")
	}
	return c, prog, nil
}

// run performs the handshake on fds 0/1 and execs prog on cleartext
// pipes. It returns only on failure.
func run(argv, envp []string) int {
	c, prog, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	return c.Run(name, prog, envp)
}
