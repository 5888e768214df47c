package tlsspawn

import (
	"errors"
	"strconv"
	"strings"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
)

// Config is what the command line of tlsd or tlsc asks of the engine and
// of the hand-over to the app. The zero value is not the default: start
// from NewConfig.
type Config struct {
	Server bool // tlsd; false for tlsc

	// Delayed is -n: exec prog at once with the UCSPI-TLS fds; prog
	// starts TLS itself (doc/ucspi-tls.md).
	Delayed bool
	// KeyHolder is the internal --key-holder=pid mode: serve the key
	// channel on fd 0 for the engine (pid EnginePID, for log lines) of a
	// delayed-mode session. Args are the options the key holder is
	// started with (the program's own).
	KeyHolder bool
	EnginePID int
	Args      []string
	// CheckOnly is --check: read and check what a connection would,
	// then exit without running anything.
	CheckOnly bool

	// Engine options, passed on to tlswrap.
	ServerName     string // tlsc -k: SNI sent and name verified
	NoVerify       bool   // tlsc --no-verify-cert
	VerifyReport   bool   // tlsc --verify-report: report SSL_PEER_VERIFY, never fail on it
	ClientCert     bool   // tlsd -y: require one; tlsc -y: send CERTFILE/KEYFILE
	RequestCert    bool   // tlsd -Y: ask for an optional client certificate
	AnyClientCert  bool   // tlsd -A: ask for any client certificate, verify nothing (tlswrap -A)
	SNILevel       int    // tlsd -k 0|1|2
	HandshakeMS    int    // -K: handshake deadline in ms, 0 = none; also the key holder's window
	IdleSecs       int    // -I: idle limit after the handshake, 0 = none
	CloseNotify    bool   // -S (default); false = -s (TCP half-close only)
	StrictTrunc    bool   // -J; false = -j
	MinVersion     string // -m: "1.2" or "1.3"
	ALPN           string // -a: comma-separated protocols
	OCSPFile       string // tlsd -O: DER OCSP response to staple
	Verbosity      int    // -q / -v
	KeepVars       bool   // -Z; false = -z
	NetRead        int    // network fds: 0/1 for tlsd, 6/7 (-6/-7) for tlsc
	NetWrite       int    //
	EngineMaxProcs string // GOMAXPROCS for the engine ("" = leave unset)

	// UIDPool > 0 runs each engine under its own uid, TLS_UID ..
	// TLS_UID+UIDPool-1, chosen by a lock file in UIDLockDir.
	UIDPool    int
	UIDLockDir string

	// RequireJail makes the engine refuse to run without its Landlock
	// jail (tlswrap -j); EngineMemMiB > 0 caps its data segment (-M).
	RequireJail  bool
	EngineMemMiB int

	// warm starts the engine ahead of its connection (tlswrap -W; set by
	// Inline.Prestart only).
	warm bool

	// App is the app's identity (-u, -g, -G, -U), dropped by tlsd or
	// tlsc itself just before exec: the same code as the privdrop
	// program, without its exec.
	App privdrop.Options
}

// Defaults shared by tlsd and tlsc.
const (
	DefaultUIDLockDir = "/run/tlschain/engine-uids"
	DefaultMaxProcs   = "1"
	// DefaultHandshakeMS is -K's default: a peer that has not finished
	// its handshake by then frees its connection slot (without one, 40
	// silent sockets would hold every slot of tcpserver -c 40).
	DefaultHandshakeMS = 30000
	maxHandshakeMS     = 3600 * 1000
	maxIdleSecs        = 30 * 24 * 3600
	maxUIDPool         = 1 << 20
)

// NewConfig returns the defaults for the server (tlsd) or client (tlsc).
func NewConfig(server bool) *Config {
	c := &Config{
		Server:         server,
		SNILevel:       1,
		CloseNotify:    true,
		HandshakeMS:    DefaultHandshakeMS,
		MinVersion:     "1.2",
		Verbosity:      logline.Normal,
		NetRead:        0,
		NetWrite:       1,
		EngineMaxProcs: DefaultMaxProcs,
		UIDLockDir:     DefaultUIDLockDir,
	}
	if !server {
		c.NetRead, c.NetWrite = 6, 7
	}
	return c
}

// Common option letters (both programs): the short-option string and the
// long names each program adds to its own.
const (
	CommonShort = "nqvK:I:sSjJzZm:a:u:g:G:U"
)

// CommonLong are the long options both programs accept.
var CommonLong = []string{
	"handshake-timeout=", "idle-timeout=", "close-notify", "half-close",
	"strict-truncation", "min-version=", "alpn=", "engine-uids=",
	"engine-uid-dir=", "engine-gomaxprocs=", "require-jail", "engine-memory=",
	"delayed", KeyHolderOption, "check",
}

// KeyHolderOption is the long option of the internal key-holder mode; its
// argument is the engine's pid.
const KeyHolderOption = "key-holder="

// The help lines of the options every spawner takes (CommonShort,
// CommonLong), in the order tlsd and tlsc print them around their own.
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
  --require-jail         fail (97) where the engine cannot enter its Landlock jail (default: jail where available)
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
var ErrNotMine = errors.New("not a common option")

// Option applies one option both programs share; it returns ErrNotMine for
// the others so that the program can handle its own.
func (c *Config) Option(o getopt.Opt) error {
	var err error
	switch o.Name {
	case "n", "delayed":
		c.Delayed = true
	case KeyHolderOption[:len(KeyHolderOption)-1]:
		c.KeyHolder = true
		c.EnginePID, err = getopt.Int(o, 1, 1<<22)
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

// ServerShort are the option letters of the server side that tlsd and
// tlsserver share beyond CommonShort; ServerOption applies them (and their
// long names).
const ServerShort = "yYAk:"

// ServerOption applies one server-side option (-y, -Y, -A, -k, --ocsp and
// their long names); it returns ErrNotMine for the others.
func (c *Config) ServerOption(o getopt.Opt) error {
	var err error
	switch o.Name {
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
			return errors.New("option " + dash(o.Name) + " needs a file")
		}
		c.OCSPFile = o.Arg
	default:
		return ErrNotMine
	}
	return err
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
func (c *Config) Check() error {
	if c.Server && c.ClientCert && c.RequestCert {
		return errors.New("options -y and -Y exclude each other")
	}
	if c.Server && c.AnyClientCert && (c.ClientCert || c.RequestCert) {
		return errors.New("option -A excludes -y and -Y")
	}
	if c.NoVerify && c.VerifyReport {
		return errors.New("options --no-verify-cert and --verify-report exclude each other")
	}
	if c.VerifyReport && !c.Delayed {
		return errors.New("option --verify-report needs -n: only a delayed-mode app reads the report")
	}
	if !c.Server && c.NetRead == c.NetWrite {
		return errors.New("options -6 and -7 need two different fds")
	}
	return nil
}

// EngineArgs returns tlswrap's argv (without the program path in [0]
// replaced: argv[0] is "tlswrap").
func (c *Config) EngineArgs() []string {
	a := []string{"tlswrap"}
	if c.Server {
		a = append(a, "-s", "-z", strconv.Itoa(c.SNILevel))
		if c.ClientCert {
			a = append(a, "-y")
		} else if c.RequestCert {
			a = append(a, "-Y")
		} else if c.AnyClientCert {
			a = append(a, "-A")
		}
	} else {
		a = append(a, "-c")
		if c.ServerName != "" {
			a = append(a, "-k", c.ServerName)
		}
		if c.NoVerify {
			a = append(a, "-N")
		}
		if c.VerifyReport {
			a = append(a, "-V")
		}
		if c.ClientCert {
			a = append(a, "-y")
		}
	}
	a = append(a, "-K", strconv.Itoa(c.HandshakeMS))
	if c.IdleSecs > 0 {
		a = append(a, "-I", strconv.Itoa(c.IdleSecs))
	}
	if !c.CloseNotify {
		a = append(a, "-H")
	}
	if c.StrictTrunc {
		a = append(a, "-J")
	}
	if c.MinVersion != "" && c.MinVersion != "1.2" {
		a = append(a, "-m", c.MinVersion)
	}
	if c.ALPN != "" {
		a = append(a, "-a", c.ALPN)
	}
	if c.RequireJail {
		a = append(a, "-j")
	}
	if c.EngineMemMiB > 0 {
		a = append(a, "-M", strconv.Itoa(c.EngineMemMiB))
	}
	if c.warm {
		a = append(a, "-W")
	}
	switch c.Verbosity {
	case logline.Quiet:
		a = append(a, "-q")
	case logline.Verbose:
		a = append(a, "-v")
	}
	return a
}

func dash(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// Parse runs the option loop tlsd and tlsc share: the common options go
// to c.Option, the program's own (short and long, added to the common
// ones) to own. It checks c, records the options in c.Args and returns
// the operands (prog), which may be empty.
func (c *Config) Parse(args []string, short string, long []string, own func(getopt.Opt) error) ([]string, error) {
	p := getopt.New(args, short+CommonShort, append(long, CommonLong...)...)
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return nil, err
		}
		if err := c.Option(o); err != ErrNotMine {
			if err != nil {
				return nil, err
			}
			continue
		}
		if err := own(o); err != nil {
			return nil, err
		}
	}
	if err := c.Check(); err != nil {
		return nil, err
	}
	prog := p.Rest()
	c.Args = args[:len(args)-len(prog)]
	return prog, nil
}
