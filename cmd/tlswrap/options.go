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

const usage = "tlswrap -s|-c [ -k name ] [ -N | -V ] [ -y | -Y | -A ] [ -z level ] [ -K ms ] [ -I secs ] [ -S | -H ] [ -J ] [ -m 1.2|1.3 ] [ -a protos ] [ -j ] [ -L ] [ -M mib ] [ -W ] [ -q | -v ]"

const help = "usage: " + usage + `

  -s         server side of TLS
  -c         client side of TLS
  -k name    client: send name as SNI and verify the server certificate for it
  -N         client: do not verify the server certificate
  -V         client: verify the server certificate but never fail on it: report the result as SSL_PEER_VERIFY
  -y         server: require a client certificate; client: send the certificate of pair 0
  -Y         server: ask for an optional client certificate
  -A         server: ask for any client certificate, verify nothing, report its hashes (SSL_CLIENT_VERIFY=GENEROUS)
  -z level   server SNI mode: 0 default pair only, 1 named pairs then default, 2 named pairs only (default 1)
  -K ms      handshake deadline in milliseconds, 0 = none (default 30000)
  -I secs    idle timeout after the handshake in seconds, 0 = none (default 0)
  -S         on EOF from the app send close_notify, then half-close TCP (default)
  -H         on EOF from the app half-close TCP without close_notify
  -J         peer EOF without close_notify is a truncation: exit 98 (default: normal EOF)
  -m version minimum TLS version, 1.2 or 1.3 (default 1.2)
  -a protos  ALPN protocols, comma-separated, most preferred first
  -j         require the Landlock jail: exit 97 where the kernel lacks it (default: jail when available)
  -L         started by the spawner inside the Landlock jail, with no_new_privs: check it, make no jail of its own
  -M mib     limit the engine's data segment to mib MiB, 0 = no limit (default 256)
  -W         started ahead of the connection: wait for the network socket on the key channel first
  -q         log warnings only (no tls and end lines)
  -v         log details too
  -h         print this help (also --help)
  --version  print the version
`

// options is the parsed command line.
type options struct {
	server       bool
	serverName   string
	noVerify     bool
	verifyReport bool // -V
	clientCert   bool // -y
	optionalCert bool // -Y
	anyCert      bool // -A: request, never verify (the app checks the hashes)
	sniLevel     int
	handshake    time.Duration
	idle         time.Duration
	closeNotify  bool
	strictEOF    bool
	minVersion   uint16
	alpn         []string
	requireJail  bool
	bornJailed   bool // -L
	memLimitMiB  int
	warm         bool // -W: the network socket comes on the key channel
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
	p := getopt.New(args, "hsck:NVyYAz:K:I:SHJm:a:jLM:Wqv", "help", "version")
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
		case "s", "c":
			if side != "" && side != opt.Name {
				return nil, errors.New("options -s and -c exclude each other")
			}
			side = opt.Name
		case "k":
			if opt.Arg == "" || strings.ContainsAny(opt.Arg, "\x00/ ") {
				return nil, errors.New("option -k needs a server name, not \"" + logline.Printable(opt.Arg, 40) + "\"")
			}
			o.serverName = opt.Arg
		case "N":
			o.noVerify = true
		case "V":
			o.verifyReport = true
		case "y":
			o.clientCert, o.optionalCert, o.anyCert = true, false, false
		case "Y":
			o.optionalCert, o.clientCert, o.anyCert = true, false, false
		case "A":
			o.anyCert, o.clientCert, o.optionalCert = true, false, false
		case "z":
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
		case "W":
			o.warm = true
		case "S":
			o.closeNotify = true
		case "H":
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
		case "j":
			o.requireJail = true
		case "L":
			o.bornJailed = true
		case "M":
			n, err := getopt.Int(opt, 0, 1<<20)
			if err != nil {
				return nil, err
			}
			if n != 0 && n < minMemLimitMiB {
				return nil, errors.New("option -M needs 0 or at least " + itoa(minMemLimitMiB) + " MiB")
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
		return nil, errors.New("one of -s and -c is needed")
	case "s":
		o.server = true
		if o.serverName != "" || o.noVerify || o.verifyReport {
			return nil, errors.New("options -k, -N and -V are for the client side (-c)")
		}
	case "c":
		if o.optionalCert || o.anyCert {
			return nil, errors.New("options -Y and -A are for the server side (-s)")
		}
		if o.noVerify && o.verifyReport {
			return nil, errors.New("options -N and -V exclude each other")
		}
		if o.serverName == "" && !o.noVerify {
			return nil, errors.New("option -c needs -k name (or -N: no verification)")
		}
	}
	return o, nil
}

// minMemLimitMiB is the smallest data limit -M accepts: below it the Go
// runtime cannot map its first heap arenas (measured; doc/tlswrap.md).
const minMemLimitMiB = 128
