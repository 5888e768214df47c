package main

import (
	"errors"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/listener"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

const name = "tlsserver"

const usage = "tlsserver [-1UXoDNhHpPqQvROyYASsJjZz] [-c n] [-C n] [-b n] [-x rules.cdb] [-B banner] [-d fd] [-l name] [-t n] [-k 0|1|2] [-K ms] [-I secs] [-m 1.2|1.3] [-a protocols] [--ocsp file] [-u user] [-g group] [-G groups] [--engine-uids n] [--engine-uid-dir dir] [--engine-gomaxprocs n] [--require-jail] [--engine-memory mib] [--check] [host port] prog..."

// help is what --help prints: the listener's options,
// then tlsd's, then the app's identity.
const help = "usage: " + usage + "\n\n" + listener.Help + `  -y         require a client certificate, verified against CAFILE/CADIR (also --require-client-cert)
  -Y         request a client certificate; a client without one is accepted (also --request-client-cert)
  -A         request any client certificate and verify nothing: report its hashes (SSL_CLIENT_VERIFY=GENEROUS) for prog to check (also --any-client-cert)
  -k level   SNI: 0 = CERTFILE/KEYFILE only, 1 = CERTFILE:name pairs, then the default (default), 2 = pairs only (SNI mandatory) (also --sni-level)
` + tlsspawn.HelpSession + `  -a list    ALPN protocols the server accepts, comma-separated, in order of preference (also --alpn)
  --ocsp file  staple the DER OCSP response in file (tlsd's -O; -O is ucspi-tcp's here)
  -u user    run prog as user (a name or a uid); a name also sets the gid and groups; the listener stays root
  -g group   run prog with this primary group
  -G groups  run prog with exactly these supplementary groups
  -U         run prog as UID, GID, GIDLIST from the environment
  --engine-uids n        run each engine as its own uid, TLS_UID .. TLS_UID+n-1
  --engine-uid-dir dir   lock files of --engine-uids (default /run/tlschain/engine-uids)
  --engine-gomaxprocs n  GOMAXPROCS for the engine (default 1; empty = unset)
  --require-jail         fail (97) where the engine cannot enter its Landlock jail (default: jail where available)
  --engine-memory mib    cap the engine's data segment at mib MiB, at least 128 (default: the engine's, 256)
  --check    read and check what a connection would (files, keys, identities, the engine, prog), then exit 0 without listening
  --help     print this text
  --version  print the version
`

// tlsShort are tlsd's letters that tlsserver takes beside the listener's;
// -n is there to be refused by name. -O (OCSP in tlsd) is --ocsp here.
const tlsShort = tlsspawn.ServerShort + "nK:I:sSjJzZm:a:"

var long = []string{
	"help", "version",
	"ocsp=", "sni-level=", "require-client-cert", "request-client-cert", "any-client-cert",
	"handshake-timeout=", "idle-timeout=", "close-notify", "half-close",
	"strict-truncation", "min-version=", "alpn=", "engine-uids=",
	"engine-uid-dir=", "engine-gomaxprocs=", "require-jail", "engine-memory=",
	"check",
}

// errDelayed refuses -n: in delayed mode the app starts TLS when it
// likes, so whoever holds the key must serve that connection's key channel
// for as long as the connection lives; tlsd does that with a key holder
// process of its own.
var errDelayed = errors.New("option -n (delayed mode) is not supported: use tcpserver ... tlsd -n")

// parseArgs reads the command line: the listener's options and tlsd's, the
// identity options for the app.
func parseArgs(args, envp []string) (*listener.Options, *tlsspawn.ServerConfig, error) {
	c := tlsspawn.NewServerConfig()
	o, err := listener.Parse(args, envp, tlsShort, long, func(opt getopt.Opt) (bool, error) {
		switch opt.Name {
		case "n":
			return true, errDelayed
		case "O":
			return false, nil // ucspi-tcp's no-op, not tlsd's OCSP file
		case "q", "Q":
			c.Verbosity = logline.Quiet
			return false, nil // the listener's too
		case "v":
			c.Verbosity = logline.Verbose
			return false, nil
		}
		if err := c.Option(opt); err != tlsspawn.ErrNotMine {
			return true, err
		}
		return false, nil
	})
	if err != nil {
		return nil, nil, err
	}
	if err := c.Check(); err != nil {
		return nil, nil, err
	}
	return o, c, nil
}

// run listens, then accepts connections and does tlsd's work for each
// one, spawning prog on the cleartext pipes, until SIGTERM or SIGINT. It
// returns the exit code.
func run(argv, envp []string) int {
	o, c, err := parseArgs(argv[1:], envp)
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	if c.CheckOnly {
		// tlsd --check's work, for a run script to test its
		// configuration with the very line it runs.
		return c.Run(name, o.Prog(), envp)
	}
	return listener.Run(name, usage, o, envp, newHandler(tlsspawn.NewInline(name, c, o.Prog())))
}
