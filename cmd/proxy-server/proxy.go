package main

import (
	"errors"
	"net/netip"
	"strconv"
	"time"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/proxyproto"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

const name = "proxy-server"

const usage = "proxy-server -p ip[/len][,...] [-12ocsqv] [-t ms] [--before-tlsd|--after-tlsd] prog..."

const help = "usage: " + usage + `

  -p list      trusted proxies: addresses and prefixes, comma-separated (repeatable); required
  -1           accept PROXY protocol version 1 only (also --only-v1)
  -2           accept PROXY protocol version 2 only (also --only-v2)
  -t ms        the whole header must arrive within ms milliseconds, else exit 99; 0 waits forever
  -o           optional header: a connection that does not start with one passes on unchanged (fd 0 must be a socket)
  -s           set the SSL_* session variables from a v2 SSL TLV (the proxy terminated TLS)
  -c           as -s, and the client-certificate ones too (the proxy verified client certificates)
  --before-tlsd  the header comes on the raw connection, before tlsd (fd 0 must be a socket)
  --after-tlsd   the header comes inside the TLS session, after tlsd (fd 0 is tlsd's pipe)
  -q           log nothing but errors
  -v           log the header's TLVs too
  -h           print this help (also --help)
  --version    print the version
`

// Chain positions.
const (
	anywhere = iota
	beforeTLSD
	afterTLSD
)

type config struct {
	trusted    []netip.Prefix // peers that may send a header
	versions   int
	timeout    int // ms, 0 = none
	optional   bool
	sslVars    bool
	certClaims bool // -c: the proxy verified client certificates
	position   int
	verbose    int
	prog       []string
}

// errUntrusted: a peer not named by -p offered a header (or must send
// one); run has logged the warning, so Main exits 1 without a fatal line.
var errUntrusted = errors.New("untrusted peer")

func parseArgs(args []string) (config, error) {
	cfg := config{versions: proxyproto.Both, timeout: 5000, verbose: logline.Normal}
	p := getopt.New(args, "12ocsp:t:qvh", "only-v1", "only-v2", "before-tlsd", "after-tlsd", "help", "version")
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return cfg, err
		}
		switch o.Name {
		case "1", "only-v1":
			cfg.versions = proxyproto.V1
		case "2", "only-v2":
			cfg.versions = proxyproto.V2
		case "t":
			if cfg.timeout, err = getopt.Int(o, 0, 86400000); err != nil {
				return cfg, err
			}
		case "o":
			cfg.optional = true
		case "s":
			cfg.sslVars = true
		case "c":
			cfg.sslVars, cfg.certClaims = true, true
		case "p":
			list, err := parseTrusted(o.Arg)
			if err != nil {
				return cfg, err
			}
			cfg.trusted = append(cfg.trusted, list...)
		case "before-tlsd":
			cfg.position = beforeTLSD
		case "after-tlsd":
			cfg.position = afterTLSD
		case "q":
			cfg.verbose = logline.Quiet
		case "v":
			cfg.verbose = logline.Verbose
		case "h", "help":
			return cfg, getopt.ErrHelp
		case "version":
			return cfg, getopt.ErrVersion
		}
	}
	// tlsd removes or replaces every SSL_* variable, and in delayed mode
	// (-n) they would describe a session that has not happened: -s there
	// could only mislead.
	if cfg.sslVars && cfg.position == beforeTLSD {
		return cfg, errors.New("options -s or -c and --before-tlsd conflict: tlsd replaces the SSL_* variables")
	}
	// Nothing can be peeked at on tlsd's pipe.
	if cfg.optional && cfg.position == afterTLSD {
		return cfg, errors.New("options -o and --after-tlsd conflict: -o needs the socket on fd 0")
	}
	// Without a list every header would have to be refused: that is a
	// configuration error, not a connection's fault, so say so at once.
	if len(cfg.trusted) == 0 {
		return cfg, errors.New("no trusted proxies: name them with -p")
	}
	cfg.prog = p.Rest()
	if len(cfg.prog) == 0 {
		return cfg, errors.New("no program to run")
	}
	return cfg, nil
}

// run reads the header from fd 0, rewrites the environment and execs the
// rest of argv. It returns only on failure.
func run(argv, envp []string) int {
	cfg, err := parseArgs(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, help, err); done {
		return code
	}
	logline.SetConn(envp)
	log := logline.New(name)
	log.Level = cfg.verbose
	env, err := handle(&cfg, envp, log)
	if err == errUntrusted {
		return exitcode.Denied
	}
	if err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.Report(name, chain.Exec(cfg.prog, env))
}

// run reads the header and returns prog's environment.
func handle(cfg *config, envp []string, log *logline.Logger) ([]string, error) {
	fd := ucspi.ServerReadFD
	if (cfg.optional || cfg.position == beforeTLSD) && !fdutil.IsSocket(fd) {
		why := "--before-tlsd"
		if cfg.optional {
			why = "-o"
		}
		return nil, exitcode.UsageError("fd 0 is not a socket, as " + why + " requires")
	}
	var deadline time.Time
	if cfg.timeout > 0 {
		deadline = time.Now().Add(time.Duration(cfg.timeout) * time.Millisecond)
	}
	peer := peerOf(envp)
	ip, _ := ucspi.Getenv(envp, ucspi.TCPRemoteIP)
	// Decide before reading a byte: a header is only a claim, and only a
	// proxy the operator named may make it.
	isTrusted := trusted(cfg.trusted, ip)
	if !cfg.optional && !isTrusted {
		return nil, refuse(log)
	}
	if cfg.optional {
		present, err := headerAhead(fd, cfg.versions, deadline)
		if err != nil {
			return nil, readError(err, peer, cfg.timeout)
		}
		if !present {
			log.Info("header", "version", "none")
			return ucspi.Without(envp, ucspi.ProxyRemoteIP, ucspi.ProxyRemotePort), nil
		}
		if !isTrusted {
			return nil, refuse(log)
		}
	}
	h, _, err := proxyproto.Read(fd, cfg.versions, deadline)
	if err != nil {
		return nil, readError(err, peer, cfg.timeout)
	}
	e := ucspi.NewEnv(envp)
	applyHeader(e, h, cfg.sslVars, cfg.certClaims)
	logHeader(log, h)
	return e.Environ(), nil
}

// refuse logs that the peer may not send a header and returns
// errUntrusted.
func refuse(log *logline.Logger) error {
	log.Warn("untrusted", "status", strconv.Itoa(exitcode.Denied), "err", "not in -p, header refused")
	return errUntrusted
}

// readError classifies a failed read: a bad header is a denial (1, as in
// s6-networking), a timeout an access timeout (99), a system call 111.
func readError(err error, peer string, timeout int) error {
	const op = "read PROXY header from"
	var pe *proxyproto.Error
	switch {
	case errors.As(err, &pe):
		return exitcode.New(exitcode.Denied, op, peer, err)
	case err == proxyproto.ErrTimeout:
		return exitcode.New(exitcode.AccessTimeout, op, peer, errors.New("timed out after "+strconv.Itoa(timeout)+" ms"))
	}
	return exitcode.Temp(op, peer, err)
}

// peerOf names the real peer (the proxy) for log lines.
func peerOf(envp []string) string {
	ip, ok := ucspi.Getenv(envp, ucspi.TCPRemoteIP)
	if !ok {
		return "fd 0"
	}
	port, _ := ucspi.Getenv(envp, ucspi.TCPRemotePort)
	return "ip " + logline.Safe(ip) + " port " + logline.Safe(port)
}

// logHeader writes the header line: the connection as tcpserver saw it
// (the proxy's address), then the client's address the header gave
// (srcip and srcport, which the next programs see as TCPREMOTEIP and
// TCPREMOTEPORT), or "local" for a LOCAL header.
func logHeader(log *logline.Logger, h *proxyproto.Header) {
	v := "v" + strconv.Itoa(h.Version)
	if !h.Proxied() {
		log.Info("header", "version", v, "srcip", "local", "srcport", "-")
	} else {
		log.Info("header", "version", v, "srcip", h.Src.Addr().Unmap().String(), "srcport", strconv.Itoa(int(h.Src.Port())))
	}
	if log.Level < logline.Verbose || h.Version != 2 {
		return
	}
	f := []string{"alpn", logline.Safe(h.ALPN), "authority", logline.Safe(h.Authority),
		"unique-id", logline.Safe(h.UniqueID), "netns", logline.Safe(h.NetNS)}
	if h.CRC {
		f = append(f, "crc32c", "ok")
	}
	if s := h.SSL; s != nil {
		f = append(f, "ssl", strconv.Itoa(int(s.Client)), "verify", strconv.FormatUint(uint64(s.Verify), 10),
			"version", logline.Safe(s.Version), "cipher", logline.Safe(s.Cipher), "cn", logline.Safe(s.CN))
	}
	log.Debug("tlv", f...)
}
