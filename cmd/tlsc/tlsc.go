package main

import (
	"errors"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

const name = "tlsc"

const usage = "tlsc [-nqvyYSsJjZzU] [-k servername] [--no-verify-cert|--verify-report] [-K ms] [-I secs] [-m 1.2|1.3] [-a protocols] [-6 fd] [-7 fd] [-u user] [-g group] [-G groups] [--engine-uids n] [--engine-uid-dir dir] [--engine-gomaxprocs n] [--require-jail] [--engine-memory mib] [--check] prog..."

const help = "usage: " + usage + "\n\n" + tlsspawn.HelpDelayed + `  -k name     the server's name: sent as SNI and verified against its certificate (an IP address is verified, not sent) (also --server-name)
  --no-verify-cert  do not verify the server's certificate (anyone in the path can read and change the session)
  --verify-report   with -n: verify the server (PKIX, or DANE from TLSA) but never fail on it; report SSL_PEER_VERIFY for the app to decide
  -y          send the client certificate CERTFILE/KEYFILE when the server asks (also --send-client-cert)
  -Y          send no client certificate (default)
` +
	tlsspawn.HelpSession + `  -a list     ALPN protocols to offer, comma-separated, in order of preference (also --alpn)
  -6 fd       read from the network on fd (default 6)
  -7 fd       write to the network on fd (default 7)
` +
	tlsspawn.HelpAppAndEngine

// parseArgs reads the command line into a tlsspawn.ClientConfig and prog.
func parseArgs(args []string) (*tlsspawn.ClientConfig, []string, error) {
	c := tlsspawn.NewClientConfig()
	long := []string{"help", "version"}
	prog, err := c.Parse(args, "h", long, getopt.Asked)
	if err != nil {
		return nil, nil, err
	}
	// Without -k there is no name to check the certificate against.
	// TCPREMOTEHOST is not used: it comes from reverse DNS, which whoever
	// owns the address controls.
	if c.ServerName == "" && !c.NoVerify {
		return nil, nil, errors.New("no server name to verify: give -k name (or --no-verify-cert)")
	}
	if len(prog) == 0 {
		return nil, nil, errors.New("no program to run")
	}
	return c, prog, nil
}

// run performs the handshake on the network fds (6/7) and execs prog on
// cleartext pipes at fds 6/7. It returns only on failure.
func run(argv, envp []string) int {
	c, prog, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	return c.Run(name, prog, envp)
}
