package tlsspawn

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
)

// Common is the part of a command line that tlsd, tlsc and tlsserver
// share: the engine's session options, its identity and limits, the
// app's identity and the two modes. ServerConfig and ClientConfig embed
// it.
type Common struct {
	// Delayed is -n: exec prog at once with the UCSPI-TLS fds; prog
	// starts TLS itself (doc/ucspi-tls.md).
	Delayed bool
	// CheckOnly is --check: read and check what a connection would,
	// then exit without running anything.
	CheckOnly bool

	HandshakeMS    int    // -K: handshake deadline in ms, 0 = none; also the key holder's window
	IdleSecs       int    // -I: idle limit after the handshake, 0 = none
	CloseNotify    bool   // -S (default); false = -s (TCP half-close only)
	StrictTrunc    bool   // -J; false = -j
	MinVersion     string // -m: "1.2" or "1.3"
	ALPN           string // -a: comma-separated protocols
	Verbosity      int    // -q / -v
	KeepVars       bool   // -Z; false = -z
	EngineMaxProcs string // --engine-gomaxprocs: GOMAXPROCS for the engine ("" = leave unset)

	// UIDPool > 0 runs each engine under its own uid, TLS_UID ..
	// TLS_UID+UIDPool-1, chosen by a lock file in UIDLockDir.
	UIDPool    int
	UIDLockDir string

	// RequireJail makes the engine refuse to run without its Landlock
	// jail; EngineMemMiB > 0 caps its data segment.
	RequireJail  bool
	EngineMemMiB int

	// App is the app's identity (-u, -g, -G, -U), dropped by tlsd or
	// tlsc itself just before exec: the same code as the privdrop
	// program, without its exec.
	App privdrop.Options
}

// ServerConfig is the command line of tlsd (and of tlsserver's TLS part).
type ServerConfig struct {
	Common
	RequireClientCert bool   // -y: require a client certificate, verified
	RequestClientCert bool   // -Y: ask for one, verify it if given
	AnyClientCert     bool   // -A: ask for any, verify nothing
	SNILevel          int    // -k 0|1|2
	OCSPFile          string // -O, --ocsp: DER OCSP response to staple
}

// ClientConfig is the command line of tlsc.
type ClientConfig struct {
	Common
	ServerName     string // -k: SNI sent and name verified
	NoVerify       bool   // --no-verify-cert
	VerifyReport   bool   // --verify-report: report SSL_PEER_VERIFY, never fail on it
	SendClientCert bool   // -y: send CERTFILE/KEYFILE
	NetRead        int    // -6: the network's read fd
	NetWrite       int    // -7: the network's write fd
}

// Defaults of the common options.
const (
	defaultUIDLockDir = "/run/tlschain/engine-uids"
	defaultMaxProcs   = "1"
	// defaultHandshakeMS is -K's default: a peer that has not finished
	// its handshake by then frees its connection slot (without one, 40
	// silent sockets would hold every slot of tcpserver -c 40).
	defaultHandshakeMS = 30000
	maxHandshakeMS     = 3600 * 1000
	maxIdleSecs        = 30 * 24 * 3600
	maxUIDPool         = 1 << 20
	maxFD              = 1 << 20
)

func newCommon() Common {
	return Common{
		CloseNotify:    true,
		HandshakeMS:    defaultHandshakeMS,
		MinVersion:     "1.2",
		Verbosity:      logline.Normal,
		EngineMaxProcs: defaultMaxProcs,
		UIDLockDir:     defaultUIDLockDir,
	}
}

// NewServerConfig returns tlsd's defaults.
func NewServerConfig() *ServerConfig {
	return &ServerConfig{Common: newCommon(), SNILevel: 1}
}

// NewClientConfig returns tlsc's defaults.
func NewClientConfig() *ClientConfig {
	return &ClientConfig{Common: newCommon(), NetRead: 6, NetWrite: 7}
}

// commonShort are the option letters all spawners take.
const commonShort = "nqvK:I:sSjJzZm:a:u:g:G:U"

// CommonLong are the long options all spawners take.
var CommonLong = []string{
	"handshake-timeout=", "idle-timeout=", "close-notify", "half-close",
	"strict-truncation", "min-version=", "alpn=", "engine-uids=",
	"engine-uid-dir=", "engine-gomaxprocs=", "require-jail", "engine-memory=",
	"delayed", "check",
}

// ServerShort are the option letters of the server side that tlsd and
// tlsserver share beyond the common ones; ServerLong their long names,
// with --ocsp (tlsd's -O).
const ServerShort = "yYAk:"

// ServerLong: see ServerShort.
var ServerLong = []string{"sni-level=", "require-client-cert", "request-client-cert", "any-client-cert", "ocsp="}

// clientShort are tlsc's own letters; ClientLong its long options.
const clientShort = "yYk:6:7:"

// ClientLong: see clientShort.
var ClientLong = []string{"server-name=", "no-verify-cert", "verify-report", "send-client-cert"}

// The help lines of the options every spawner takes, in the order tlsd
// and tlsc print them around their own.
const (
	HelpDelayed = `  -n          delayed mode (UCSPI-TLS): exec prog at once with SSLCTLFD, SSLREADFD, SSLWRITEFD; prog starts TLS (also --delayed)
`
	HelpSession = `  -K ms       handshake deadline in milliseconds, also the key holder's; 0 = none (default 30000) (also --handshake-timeout)
  -I secs     idle limit after the handshake, in seconds; 0 = none (default) (also --idle-timeout)
  -S          on EOF from prog, send close_notify, then half-close TCP (default) (also --close-notify)
  -s          on EOF from prog, half-close TCP without close_notify; the peer can still send (also --half-close)
  -J          a peer EOF without close_notify is a truncation: exit 98 (also --strict-truncation)
  -j          a peer EOF without close_notify is a normal EOF (default)
  -Z          keep CERTFILE, KEYFILE, CAFILE, CADIR, TLS_UID, TLS_GID... in prog's environment
  -z          remove them (default)
  -m version  minimum TLS version, 1.2 (default) or 1.3 (also --min-version)
`
	HelpAppAndEngine = `  -u user     run prog as user (a name or a uid); a name also sets the gid and groups
  -g group    run prog with this primary group
  -G groups   run prog with exactly these supplementary groups
  -U          run prog as UID, GID, GIDLIST from the environment
  -q          log warnings only
  -v          log more
  --engine-uids n        run each engine as its own uid, TLS_UID .. TLS_UID+n-1
  --engine-uid-dir dir   lock files of --engine-uids (default /run/tlschain/engine-uids)
  --engine-gomaxprocs n  GOMAXPROCS for the engine (default 1; empty = unset)
  --require-jail         fail (97) where the engine cannot enter its whole jail, Landlock and seccomp (default: each part where available)
  --engine-memory mib    cap the engine's data segment at mib MiB, at least 128 (default: the engine's, 256)
  --check                read and check what a connection would (files, keys, identities, the engine, prog), then exit 0 without running anything
  -h          print this help (also --help)
  --version   print the version
`
)

// MinEngineMemMiB is the smallest --engine-memory the engine accepts: the
// Go runtime's own reservations take about 75 MiB of the data limit before
// the first connection byte (tlswrap checks the same number, and its
// tests check that the two agree).
const MinEngineMemMiB = 128

// ErrNotMine is returned by Option for an option it does not handle.
var ErrNotMine = errors.New("not a spawner's option")

// option applies one option all spawners share; it returns ErrNotMine for
// the others.
func (c *Common) option(o getopt.Opt) error {
	var err error
	switch o.Name {
	case "n", "delayed":
		c.Delayed = true
	case "check":
		c.CheckOnly = true
	case "q":
		c.Verbosity = logline.Quiet
	case "v":
		c.Verbosity = logline.Verbose
	case "K", "handshake-timeout":
		c.HandshakeMS, err = getopt.Int(o, 0, maxHandshakeMS)
	case "I", "idle-timeout":
		c.IdleSecs, err = getopt.Int(o, 0, maxIdleSecs)
	case "S", "close-notify":
		c.CloseNotify = true
	case "s", "half-close":
		c.CloseNotify = false
	case "J", "strict-truncation":
		c.StrictTrunc = true
	case "j":
		c.StrictTrunc = false
	case "Z":
		c.KeepVars = true
	case "z":
		c.KeepVars = false
	case "m", "min-version":
		switch o.Arg {
		case "1.2", "1.3":
			c.MinVersion = o.Arg
		default:
			err = errors.New("option " + dash(o.Name) + " needs 1.2 or 1.3, not " + strconv.Quote(o.Arg))
		}
	case "a", "alpn":
		err = checkALPN(o.Arg)
		c.ALPN = o.Arg
	case "engine-uids":
		c.UIDPool, err = getopt.Int(o, 0, maxUIDPool)
	case "engine-uid-dir":
		if !strings.HasPrefix(o.Arg, "/") {
			err = errors.New("option --engine-uid-dir needs an absolute path")
		}
		c.UIDLockDir = o.Arg
	case "require-jail":
		c.RequireJail = true
	case "engine-memory":
		c.EngineMemMiB, err = getopt.Int(o, MinEngineMemMiB, 1<<20)
	case "engine-gomaxprocs":
		if o.Arg != "" {
			_, err = getopt.Int(o, 1, 1024)
		}
		c.EngineMaxProcs = o.Arg
	default:
		if ok, err := c.App.Take(o); ok {
			return err
		}
		return ErrNotMine
	}
	return err
}

// Option applies one option of tlsd's (the common ones, -y, -Y, -A, -k,
// -O and their long names); it returns ErrNotMine for the others.
func (c *ServerConfig) Option(o getopt.Opt) error {
	var err error
	switch o.Name {
	case "y", "require-client-cert":
		c.RequireClientCert, c.RequestClientCert = true, false
	case "Y", "request-client-cert":
		c.RequestClientCert, c.RequireClientCert = true, false
	case "A", "any-client-cert":
		c.AnyClientCert = true
	case "k", "sni-level":
		c.SNILevel, err = getopt.Int(o, 0, 2)
	case "O", "ocsp":
		if o.Arg == "" {
			return errors.New("option " + dash(o.Name) + " needs a file")
		}
		c.OCSPFile = o.Arg
	default:
		return c.Common.option(o)
	}
	return err
}

// Option applies one option of tlsc's (the common ones, -y, -Y, -k, -6,
// -7 and the long names); it returns ErrNotMine for the others.
func (c *ClientConfig) Option(o getopt.Opt) error {
	var err error
	switch o.Name {
	case "y", "send-client-cert":
		c.SendClientCert = true
	case "Y":
		c.SendClientCert = false
	case "k", "server-name":
		err = checkServerName(o.Arg)
		c.ServerName = o.Arg
	case "no-verify-cert":
		c.NoVerify = true
	case "verify-report":
		c.VerifyReport = true
	case "6":
		c.NetRead, err = getopt.Int(o, 0, maxFD)
	case "7":
		c.NetWrite, err = getopt.Int(o, 0, maxFD)
	default:
		return c.Common.option(o)
	}
	return err
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

// checkALPN accepts a comma-separated list of 1–255 byte protocol names
// without control characters (RFC 7301 §3.1).
func checkALPN(list string) error {
	if list == "" {
		return errors.New("option -a needs at least one protocol")
	}
	for _, p := range strings.Split(list, ",") {
		if p == "" || len(p) > 255 {
			return errors.New("bad ALPN protocol name in " + strconv.Quote(list))
		}
		for i := 0; i < len(p); i++ {
			if p[i] <= 0x20 || p[i] >= 0x7f {
				return errors.New("bad ALPN protocol name in " + strconv.Quote(list))
			}
		}
	}
	return nil
}

// Check finds contradictions between options once all are read.
func (c *ServerConfig) Check() error {
	if c.RequireClientCert && c.RequestClientCert {
		return errors.New("options -y and -Y exclude each other")
	}
	if c.AnyClientCert && (c.RequireClientCert || c.RequestClientCert) {
		return errors.New("option -A excludes -y and -Y")
	}
	return nil
}

// Check finds contradictions between options once all are read.
func (c *ClientConfig) Check() error {
	if c.NoVerify && c.VerifyReport {
		return errors.New("options --no-verify-cert and --verify-report exclude each other")
	}
	if c.VerifyReport && !c.Delayed {
		return errors.New("option --verify-report needs -n: only a delayed-mode app reads the report")
	}
	if c.NetRead == c.NetWrite {
		return errors.New("options -6 and -7 need two different fds")
	}
	return nil
}

// Parse reads tlsd's command line: the server's options (ServerShort,
// ServerLong and the common ones) go to c, the program's own (short and
// long, added to those) to own. It checks c and returns the operands
// (prog), which may be empty.
func (c *ServerConfig) Parse(args []string, short string, long []string, own func(getopt.Opt) error) ([]string, error) {
	return parse(args, short+ServerShort, append(long, ServerLong...), c.Option, own, c.Check)
}

// Parse reads tlsc's command line, as ServerConfig.Parse does tlsd's.
func (c *ClientConfig) Parse(args []string, short string, long []string, own func(getopt.Opt) error) ([]string, error) {
	return parse(args, short+clientShort, append(long, ClientLong...), c.Option, own, c.Check)
}

// parse is the option loop of Parse: the spawner's options go to mine,
// the program's own to own, and check runs at the end.
func parse(args []string, short string, long []string, mine, own func(getopt.Opt) error, check func() error) ([]string, error) {
	p := getopt.New(args, short+commonShort, append(long, CommonLong...)...)
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := mine(o); err != ErrNotMine {
			if err != nil {
				return nil, err
			}
			continue
		}
		if err := own(o); err != nil {
			return nil, err
		}
	}
	if err := check(); err != nil {
		return nil, err
	}
	return p.Rest(), nil
}

func dash(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
