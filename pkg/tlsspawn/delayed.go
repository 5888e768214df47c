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

// runDelayed is -n (UCSPI-TLS): the engine is spawned and waits for a
// command on the control socket; prog is exec'd at once with the raw
// connection where it was, and SSLCTLFD, SSLREADFD, SSLWRITEFD naming the
// control socket and the cleartext pipes. prog writes 'y' or 'Y' when it
// wants TLS, or closes SSLCTLFD to decline.
//
// Signatures: tlsd (or tlsc) is about to become prog, so the key channel
// is served by a key holder: the same binary started again with
// --key-holder, as the user tlsd runs as (it reads the keys again, as
// tlsd just did to check them), with the key channel as its fd 0. It ends
// at the first of: the engine closes the channel (after the handshake, or
// at once when prog declines), the grant is spent, a request beyond it,
// the grant's window (-K) from the engine's first request.
func runDelayed(name string, c *Config, st *started, held Inherited, cred privdrop.Cred, prog []string, env *ucspi.Env) int {
	self, err := os.Executable()
	if err != nil {
		closeAll(st.ctl, st.key, st.appRead, st.appWrite)
		return exitcode.Report(name, exitcode.New(exitcode.TLSSetup, "find", "the key holder", err))
	}
	argv := append([]string{name, "--" + KeyHolderOption + strconv.Itoa(st.pid)}, c.Args...)
	_, err = chain.Spawn(&chain.Child{Path: self, Argv: argv, Env: env.Environ(), Files: []int{st.key, -1, 2}})
	closeAll(st.key)
	if err != nil {
		// Closing the control socket makes the engine decline and exit.
		closeAll(st.ctl, st.appRead, st.appWrite)
		return exitcode.Report(name, exitcode.New(exitcode.TLSSetup, "spawn", "the key holder "+self, err))
	}
	for _, fd := range [...]int{st.ctl, st.appRead, st.appWrite} {
		if err := fdutil.Move(fd, fd); err != nil {
			return exitcode.Report(name, exitcode.Temp("pass", "the UCSPI-TLS fds", err))
		}
	}
	env.Set(ucspi.SSLCtlFD, strconv.Itoa(st.ctl))
	env.Set(ucspi.SSLReadFD, strconv.Itoa(st.appRead))
	env.Set(ucspi.SSLWriteFD, strconv.Itoa(st.appWrite))
	if c.Server {
		env.Unset(ucspi.TLSCVerify)
	} else {
		env.Set(ucspi.TLSCVerify, c.verifyMode())
	}
	envv := AppEnv(c, env, nil)
	ReapIfDone(st.pid)
	held.Release()
	if err := privdrop.Apply(cred); err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.Report(name, chain.Exec(prog, envv))
}

// ServeKeys is the key holder of a delayed-mode session (--key-holder):
// load the same files as the spawner and serve the key channel on fd 0
// under one handshake's grant (Config.grant).
func ServeKeys(name string, c *Config, envp []string) int {
	logline.SetConn(envp)
	env := ucspi.NewEnv(envp)
	m, err := Load(c, env, SystemBundles)
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
	err = keysign.ServeStream(ch, keys, &m.Setup, c.grant())
	switch {
	case errors.Is(err, keysign.ErrOverGrant):
		warnEngine(name, logline.ProcConn(), c.EnginePID, err)
		return exitcode.TLSSession
	case errors.Is(err, keysign.ErrWindow):
		return exitcode.OK // the engine's own deadline ends it
	case err != nil:
		return exitcode.Report(name, exitcode.Temp("serve", "the key channel", err))
	}
	return exitcode.OK
}

// verifyMode is TLSC_VERIFY's value for tlsc -n's app: how a server
// certificate that does not verify ends (doc/tlsc.md).
func (c *Config) verifyMode() string {
	switch {
	case c.NoVerify:
		return ucspi.VerifyNone
	case c.VerifyReport:
		return ucspi.VerifyReport
	}
	return ucspi.VerifyEnforce
}
