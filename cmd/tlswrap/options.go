package main

import (
	"crypto/tls"
	"errors"
	"strings"
	"time"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
)

const name = "tlswrap"

const usage = "tlswrap --server|--client [ --server-name name ] [ --no-verify-cert | --verify-report ] [ --send-client-cert ] [ --require-client-cert | --request-client-cert | --any-client-cert ] [ --sni-level level ] [ -K ms ] [ -I secs ] [ -S | -s ] [ -J ] [ -m 1.2|1.3 ] [ -a protos ] [ --require-jail ] [ --memory mib ] [ --confined ] [ --prestarted ] [ -q | -v ]"

const help = "usage: " + usage + `

  --server               server side of TLS
  --client               client side of TLS
  --server-name name     client: send name as SNI and verify the server certificate for it
  --no-verify-cert       client: do not verify the server certificate
  --verify-report        client: verify the server certificate but never fail on it: report the result as SSL_PEER_VERIFY
  --send-client-cert     client: send the certificate of pair 0
  --require-client-cert  server: require a client certificate
  --request-client-cert  server: ask for an optional client certificate
  --any-client-cert      server: ask for any client certificate, verify nothing, report its hashes (SSL_CLIENT_VERIFY=GENEROUS)
  --sni-level level      server: 0 default pair only, 1 named pairs then default, 2 named pairs only (default 1)
  -K ms      handshake deadline in milliseconds, 0 = none (default 30000)
  -I secs    idle timeout after the handshake in seconds, 0 = none (default 0)
  -S         on EOF from the app send close_notify, then half-close TCP (default)
  -s         on EOF from the app half-close TCP without close_notify
  -J         peer EOF without close_notify is a truncation: exit 98 (default: normal EOF)
  -m version minimum TLS version, 1.2 or 1.3 (default 1.2)
  -a protos  ALPN protocols, comma-separated, most preferred first
  --require-jail         require the whole jail: exit 97 where the kernel lacks Landlock or seccomp filters (default: each part when available)
  --memory mib           limit the engine's data segment to mib MiB, 0 = no limit (default 256)
  --confined             started by the spawner inside the Landlock jail, with no_new_privs: check it, make no jail of its own
  --prestarted           started ahead of the connection: wait for the network socket on the key channel first
  -q         log warnings only (no tls and end lines)
  -v         log details too
  -h         print this help (also --help)
  --version  print the version
`

// long are tlswrap's long options. Where a letter would mean something
// else in tlsd, tlsc or tlsserver, the engine has a long name instead
// (doc/tlswrap.md, "One letter, one meaning"); most are the spawners' own
// long names for the same thing.
var long = []string{
	"help", "version", "server", "client", "server-name=", "no-verify-cert", "verify-report",
	"send-client-cert", "require-client-cert", "request-client-cert", "any-client-cert",
	"sni-level=", "require-jail", "memory=", "confined", "prestarted",
}

// options is the parsed command line.
type options struct {
	server       bool
	serverName   string
	noVerify     bool
	verifyReport bool // --verify-report
	clientCert   bool // --require-client-cert (server), --send-client-cert (client)
	optionalCert bool // --request-client-cert
	anyCert      bool // --any-client-cert: request, never verify (the app checks the hashes)
	sniLevel     int
	handshake    time.Duration
	idle         time.Duration
	closeNotify  bool
	strictEOF    bool
	minVersion   uint16
	alpn         []string
	requireJail  bool
	bornJailed   bool // --confined
	memLimitMiB  int
	warm         bool // --prestarted: the network socket comes on the key channel
	level        int
	help         bool
}

// parseOptions reads tlswrap's command line (without argv[0]). tlswrap
// takes no operands.
// defaultHandshake is -K's default: a peer that does not finish its
// handshake frees its connection by then (the spawners pass their own -K,
// whose default is the same).
const defaultHandshake = 30 * time.Second

func parseOptions(args []string) (*options, error) {
	o := &options{sniLevel: 1, minVersion: tls.VersionTLS12, memLimitMiB: 256, level: logline.Normal, handshake: defaultHandshake, closeNotify: true}
	side := ""
	sendCert := false // --send-client-cert: the client's clientCert
	p := getopt.New(args, "hK:I:SsJm:a:qv", long...)
	for {
		opt, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, err
		}
		switch opt.Name {
		case "h", "help":
			return nil, getopt.ErrHelp
		case "version":
			return nil, getopt.ErrVersion
		case "server", "client":
			if side != "" && side != opt.Name {
				return nil, errors.New("options --server and --client exclude each other")
			}
			side = opt.Name
		case "server-name":
			if opt.Arg == "" || strings.ContainsAny(opt.Arg, "\x00/ ") {
				return nil, errors.New("option --server-name needs a server name, not \"" + logline.Printable(opt.Arg, 40) + "\"")
			}
			o.serverName = opt.Arg
		case "no-verify-cert":
			o.noVerify = true
		case "verify-report":
			o.verifyReport = true
		case "send-client-cert":
			sendCert = true
		case "require-client-cert":
			o.clientCert, o.optionalCert, o.anyCert = true, false, false
		case "request-client-cert":
			o.optionalCert, o.clientCert, o.anyCert = true, false, false
		case "any-client-cert":
			o.anyCert, o.clientCert, o.optionalCert = true, false, false
		case "sni-level":
			n, err := getopt.Int(opt, 0, 2)
			if err != nil {
				return nil, err
			}
			o.sniLevel = n
		case "K":
			n, err := getopt.Int(opt, 0, 86400000)
			if err != nil {
				return nil, err
			}
			o.handshake = time.Duration(n) * time.Millisecond
		case "I":
			n, err := getopt.Int(opt, 0, 86400*366)
			if err != nil {
				return nil, err
			}
			o.idle = time.Duration(n) * time.Second
		case "prestarted":
			o.warm = true
		case "S":
			o.closeNotify = true
		case "s":
			o.closeNotify = false
		case "J":
			o.strictEOF = true
		case "m":
			switch opt.Arg {
			case "1.2":
				o.minVersion = tls.VersionTLS12
			case "1.3":
				o.minVersion = tls.VersionTLS13
			default:
				return nil, errors.New("option -m needs 1.2 or 1.3, not \"" + logline.Printable(opt.Arg, 40) + "\"")
			}
		case "a":
			o.alpn = nil
			for _, a := range strings.Split(opt.Arg, ",") {
				if a == "" || len(a) > 255 {
					return nil, errors.New("option -a needs protocol names of 1 to 255 bytes, not \"" + logline.Printable(opt.Arg, 40) + "\"")
				}
				o.alpn = append(o.alpn, a)
			}
		case "require-jail":
			o.requireJail = true
		case "confined":
			o.bornJailed = true
		case "memory":
			n, err := getopt.Int(opt, 0, 1<<20)
			if err != nil {
				return nil, err
			}
			if n != 0 && n < minMemLimitMiB {
				return nil, errors.New("option --memory needs 0 or at least " + itoa(minMemLimitMiB) + " MiB")
			}
			o.memLimitMiB = n
		case "q":
			o.level = logline.Quiet
		case "v":
			o.level = logline.Verbose
		}
	}
	if len(p.Rest()) > 0 {
		return nil, errors.New("unexpected operand \"" + logline.Printable(p.Rest()[0], 40) + "\"")
	}
	switch side {
	case "":
		return nil, errors.New("one of --server and --client is needed")
	case "server":
		o.server = true
		if o.serverName != "" || o.noVerify || o.verifyReport || sendCert {
			return nil, errors.New("options --server-name, --no-verify-cert, --verify-report and --send-client-cert are for the client side (--client)")
		}
	case "client":
		if o.clientCert || o.optionalCert || o.anyCert {
			return nil, errors.New("options --require-client-cert, --request-client-cert and --any-client-cert are for the server side (--server)")
		}
		o.clientCert = sendCert
		if o.noVerify && o.verifyReport {
			return nil, errors.New("options --no-verify-cert and --verify-report exclude each other")
		}
		if o.serverName == "" && !o.noVerify {
			return nil, errors.New("option --client needs --server-name name (or --no-verify-cert: no verification)")
		}
	}
	return o, nil
}

// minMemLimitMiB is the smallest data limit --memory accepts: below it the Go
// runtime cannot map its first heap arenas (measured; doc/tlswrap.md).
const minMemLimitMiB = 128
