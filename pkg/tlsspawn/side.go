package tlsspawn

import (
	"strconv"
	"time"

	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// side is what the shared code asks of a ServerConfig or a ClientConfig:
// everything that differs between the two sides of TLS.
type side interface {
	common() *Common
	// engineArgs is tlswrap's argv for this side (argv[0] "tlswrap");
	// prestarted adds --prestarted (tlsserver's engine started ahead).
	engineArgs(prestarted bool) []string
	// keyHolderArgs is tlskeyholder's argv for the engine enginePID,
	// which runs as id.
	keyHolderArgs(id engineID, enginePID int) []string
	// load reads the files this side needs, as the environment names
	// them; bundles are the system CA bundles a client falls back to.
	load(env *ucspi.Env, bundles []string) (*material, error)
	// grant is what the key holder grants one engine.
	grant() keysign.Grant
	// setVerifyMode sets or removes TLSC_VERIFY for a delayed-mode app.
	setVerifyMode(env *ucspi.Env)
}

func (c *Common) common() *Common { return c }

// engineArgs are tlswrap's options for c's side, then the common ones.
func (c *ServerConfig) engineArgs(prestarted bool) []string {
	a := []string{engineName, "--server", "--sni-level", strconv.Itoa(c.SNILevel)}
	switch {
	case c.RequireClientCert:
		a = append(a, "--require-client-cert")
	case c.RequestClientCert:
		a = append(a, "--request-client-cert")
	case c.AnyClientCert:
		a = append(a, "--any-client-cert")
	}
	return c.Common.engineArgs(a, prestarted)
}

func (c *ClientConfig) engineArgs(prestarted bool) []string {
	a := []string{engineName, "--client"}
	if c.ServerName != "" {
		a = append(a, "--server-name", c.ServerName)
	}
	if c.NoVerify {
		a = append(a, "--no-verify-cert")
	}
	if c.VerifyReport {
		a = append(a, "--verify-report")
	}
	if c.SendClientCert {
		a = append(a, "--send-client-cert")
	}
	return c.Common.engineArgs(a, prestarted)
}

// engineArgs appends the options of both sides to a: the letters that
// mean the same in tlswrap as in tlsd and tlsc, and the long options of
// the engine's limits.
func (c *Common) engineArgs(a []string, prestarted bool) []string {
	a = append(a, "-K", strconv.Itoa(c.HandshakeMS))
	if c.IdleSecs > 0 {
		a = append(a, "-I", strconv.Itoa(c.IdleSecs))
	}
	if !c.CloseNotify {
		a = append(a, "-s")
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
		a = append(a, "--require-jail")
	}
	if c.EngineMemMiB > 0 {
		a = append(a, "--memory", strconv.Itoa(c.EngineMemMiB))
	}
	if prestarted {
		a = append(a, "--prestarted")
	}
	switch c.Verbosity {
	case logline.Quiet:
		a = append(a, "-q")
	case logline.Verbose:
		a = append(a, "-v")
	}
	return a
}

// keyHolderArgs name what the key holder must read to hold what this
// spawner held: the key pairs of the SNI level, the CAs when client
// certificates are verified, the OCSP staple; then holderArgs.
func (c *ServerConfig) keyHolderArgs(id engineID, enginePID int) []string {
	a := []string{keyHolderName, "--server", "--sni-level", strconv.Itoa(c.SNILevel)}
	switch {
	case c.RequireClientCert:
		a = append(a, "--require-client-cert")
	case c.RequestClientCert:
		a = append(a, "--request-client-cert")
	}
	if c.OCSPFile != "" {
		a = append(a, "--ocsp="+c.OCSPFile)
	}
	return c.Common.holderArgs(a, id, enginePID)
}

// keyHolderArgs: the client certificate, the CAs and TLSA records unless
// verification is off, the name TLSA_BASENAME defaults to.
func (c *ClientConfig) keyHolderArgs(id engineID, enginePID int) []string {
	a := []string{keyHolderName, "--client"}
	if c.ServerName != "" {
		a = append(a, "--server-name="+c.ServerName)
	}
	if c.NoVerify {
		a = append(a, "--no-verify-cert")
	}
	if c.SendClientCert {
		a = append(a, "--send-client-cert")
	}
	return c.Common.holderArgs(a, id, enginePID)
}

// holderArgs appends what both sides' key holders take: the engine's ids
// to drop to once the keys are read (a root spawner's: id.Cred is set),
// the grant's window, the engine's pid.
func (c *Common) holderArgs(a []string, id engineID, enginePID int) []string {
	if id.Cred != nil {
		a = append(a, "--as="+strconv.Itoa(id.UID)+":"+strconv.Itoa(id.GID))
	}
	return append(a, "-K", strconv.Itoa(c.HandshakeMS), "--", strconv.Itoa(enginePID))
}

// window is the handshake deadline as the key holder's window.
func (c *Common) window() time.Duration { return time.Duration(c.HandshakeMS) * time.Millisecond }

// grant: one signature, and the tickets a server with ticket keys seals
// and opens.
func (c *ServerConfig) grant() keysign.Grant { return keysign.ServerGrant(c.window(), true) }

// grant: the one signature of a client certificate.
func (c *ClientConfig) grant() keysign.Grant { return keysign.ClientGrant(c.window()) }
