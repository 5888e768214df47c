package main

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

const name = "tlsc"

const usage = "tlsc [-nqvyYSsJjZzU] [-k servername] [--no-verify-cert|--verify-report] [-K ms] [-I secs] [-m 1.2|1.3] [-a protocols] [-6 fd] [-7 fd] [-u user] [-g group] [-G groups] [--engine-uids n] [--engine-uid-dir dir] [--engine-gomaxprocs n] [--require-jail] [--engine-memory mib] [--check] prog..."

const help = "usage: " + usage + "\n\n" + tlsspawn.HelpDelayed + `  -k name     the server's name: sent as SNI and verified against its certificate (an IP address is verified, not sent) (also --server-name)
  --no-verify-cert  do not verify the server's certificate (anyone in the path can read and change the session)
  --verify-report   with -n: verify the server (PKIX, or DANE from TLSA) but never fail on it; report SSL_PEER_VERIFY for the app to decide
  -y          send the client certificate CERTFILE/KEYFILE when the server asks
  -Y          send no client certificate (default)
` +
	tlsspawn.HelpSession + `  -a list     ALPN protocols to offer, comma-separated, in order of preference (also --alpn)
  -6 fd       read from the network on fd (default 6)
  -7 fd       write to the network on fd (default 7)
` +
	tlsspawn.HelpAppAndEngine

// maxFD bounds -6 and -7.
const maxFD = 1 << 20

// parseArgs reads the command line into a tlsspawn.Config and prog.
func parseArgs(args []string) (*tlsspawn.Config, []string, error) {
	c := tlsspawn.NewConfig(false)
	long := []string{"help", "version", "no-verify-cert", "verify-report", "server-name="}
	prog, err := c.Parse(args, "hyYk:6:7:", long, func(o getopt.Opt) error {
		var err error
		switch o.Name {
		case "h", "help":
			return getopt.ErrHelp
		case "version":
			return getopt.ErrVersion
		case "y":
			c.ClientCert = true
		case "Y":
			c.ClientCert = false
		case "k", "server-name":
			if err := checkServerName(o.Arg); err != nil {
				return err
			}
			c.ServerName = o.Arg
		case "no-verify-cert":
			c.NoVerify = true
		case "verify-report":
			c.VerifyReport = true
		case "6":
			c.NetRead, err = getopt.Int(o, 0, maxFD)
		case "7":
			c.NetWrite, err = getopt.Int(o, 0, maxFD)
		}
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if c.KeyHolder {
		return c, nil, nil
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

// checkServerName accepts a host name or an IP address.
func checkServerName(s string) error {
	if _, err := netip.ParseAddr(s); err == nil {
		return nil
	}
	bad := s == "" || len(s) > 253 || s[0] == '.' || s[0] == '-' || strings.Contains(s, "..")
	for i := 0; i < len(s) && !bad; i++ {
		ch := s[i]
		bad = !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.' || ch == '_')
	}
	if bad {
		return errors.New("option -k needs a host name or an IP address, not " + logline.Quote(s, 60))
	}
	return nil
}

// run performs the handshake on the network fds (6/7) and execs prog on
// cleartext pipes at fds 6/7. It returns only on failure.
func run(argv, envp []string) int {
	c, prog, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	if c.KeyHolder {
		return tlsspawn.ServeKeys(name, c, envp)
	}
	return tlsspawn.Run(name, c, prog, envp, ucspi.ClientReadFD, ucspi.ClientWriteFD)
}
