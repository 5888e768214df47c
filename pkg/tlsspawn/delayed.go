package tlsspawn

import (
	"errors"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/fdutil"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/privdrop"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// keyHolderName is the key holder's program name, found beside the
// spawner as the engine is.
const keyHolderName = "tlskeyholder"

// runDelayed is -n (UCSPI-TLS): the engine st has been spawned and waits
// for a command on the control socket; prog is exec'd at once with the
// raw connection where it was, and SSLCTLFD, SSLREADFD, SSLWRITEFD naming
// the control socket and the cleartext pipes. prog writes 'y' or 'Y' when
// it wants TLS, or closes SSLCTLFD to decline.
//
// Signatures: tlsd (or tlsc) is about to become prog, so the key channel
// is served by a key holder: tlskeyholder, as the user tlsd runs as (it
// reads the keys again, as tlsd just did to check them, then drops to the
// engine's ids: --as), with the key channel as its fd 0 and options that
// name what to read (keyHolderArgs). It ends at the first of: the engine closes the channel
// (after the handshake, or at once when prog declines), the grant is
// spent, a request beyond it, the grant's window (-K) from the engine's
// first request.
func (p *prepared) runDelayed(name string, st *started, held inherited, prog []string) int {
	argv := p.cfg.keyHolderArgs(p.id, st.pid)
	_, err := chain.Spawn(&chain.Child{Path: p.holderPath, Argv: argv, Env: p.env.Environ(), Files: []int{st.key, -1, 2}})
	closeAll(st.key)
	if err != nil {
		// Closing the control socket makes the engine decline and exit.
		closeAll(st.ctl, st.appRead, st.appWrite)
		return exitcode.Report(name, exitcode.New(exitcode.TLSSetup, "spawn", p.holderPath, errors.Unwrap(err)))
	}
	for _, fd := range [...]int{st.ctl, st.appRead, st.appWrite} {
		if err := fdutil.Move(fd, fd); err != nil {
			return exitcode.Report(name, exitcode.Temp("pass", "the UCSPI-TLS fds", err))
		}
	}
	p.env.Set(ucspi.SSLCtlFD, strconv.Itoa(st.ctl))
	p.env.Set(ucspi.SSLReadFD, strconv.Itoa(st.appRead))
	p.env.Set(ucspi.SSLWriteFD, strconv.Itoa(st.appWrite))
	p.cfg.setVerifyMode(p.env)
	envv := p.cfg.common().appEnv(p.env, nil)
	reapIfDone(st.pid)
	held.release()
	if err := privdrop.Apply(p.cred); err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.Report(name, chain.Exec(prog, envv))
}

// ServeKeys is tlskeyholder's work for a server's engine: load the files
// the environment envp names, as tlsd did, call confine (the holder gives
// up what it no longer needs), and serve the key channel on fd 0 under
// one handshake's grant. enginePID names the engine in log lines. It
// returns the exit code.
func (c *ServerConfig) ServeKeys(name string, enginePID int, envp []string, confine func() error) int {
	return serveKeys(name, c, enginePID, envp, confine)
}

// ServeKeys is tlskeyholder's work for a client's engine (tlsc -n).
func (c *ClientConfig) ServeKeys(name string, enginePID int, envp []string, confine func() error) int {
	return serveKeys(name, c, enginePID, envp, confine)
}

func serveKeys(name string, c side, enginePID int, envp []string, confine func() error) int {
	logline.SetConn(envp)
	env := ucspi.NewEnv(envp)
	m, err := c.load(env, systemBundles)
	if err != nil {
		return exitcode.Report(name, err)
	}
	keys, err := m.loadKeys()
	if err != nil {
		return exitcode.Report(name, err)
	}
	// Through the runtime's poller, so that the grant's window can end a
	// read that waits.
	unix.SetNonblock(0, true)
	ch := os.NewFile(0, "key channel")
	if err := confine(); err != nil {
		return exitcode.Report(name, err)
	}
	err = keysign.ServeStream(ch, keys, &m.Setup, c.grant())
	switch {
	case errors.Is(err, keysign.ErrOverGrant):
		warnEngine(name, logline.ProcConn(), enginePID, err)
		return exitcode.TLSSession
	case errors.Is(err, keysign.ErrWindow):
		return exitcode.OK // the engine's own deadline ends it
	case err != nil:
		return exitcode.Report(name, exitcode.Temp("serve", "the key channel", err))
	}
	return exitcode.OK
}

// setVerifyMode removes TLSC_VERIFY from a server's delayed-mode app:
// it is tlsc -n's.
func (c *ServerConfig) setVerifyMode(env *ucspi.Env) { env.Unset(ucspi.TLSCVerify) }

// setVerifyMode tells tlsc -n's app in TLSC_VERIFY how a server
// certificate that does not verify ends.
func (c *ClientConfig) setVerifyMode(env *ucspi.Env) { env.Set(ucspi.TLSCVerify, c.verifyMode()) }

// verifyMode is TLSC_VERIFY's value for tlsc -n's app: how a server
// certificate that does not verify ends (doc/tlsc.md).
func (c *ClientConfig) verifyMode() string {
	switch {
	case c.NoVerify:
		return ucspi.VerifyNone
	case c.VerifyReport:
		return ucspi.VerifyReport
	}
	return ucspi.VerifyEnforce
}
