package listener

import (
	"strconv"
	"strings"

	"github.com/tlschain/tlschain/pkg/ucspi"
)

// baseEnv is built once: tcpserver's own environment without every
// variable tcpserver owns (stale TCP* values from the parent are removed,
// never passed on) and without the socket-activation variables, plus
// PROTO=TCP and TCPLOCALHOST when -l gave it.
func baseEnv(envp []string, o *Options) []string {
	e := ucspi.NewEnv(envp)
	e.Unset(ucspi.TCPVars...)
	e.Unset(ucspi.ListenFDs, ucspi.ListenPID, ucspi.ListenFDNames)
	e.Unset(o.ids.EnvToRemove()...)
	e.Set(ucspi.Proto, ucspi.ProtoTCP)
	if o.hasLocalHost {
		e.Set(ucspi.TCPLocalHost, o.localHost)
	}
	return e.Environ()
}

// connEnv returns base plus this connection's variables, then the rule's
// variables. A rule's variable replaces one already there (a rule may
// override TCP* or an inherited value); the environment never holds a name
// twice, since the first of duplicates wins for getenv.
func connEnv(base []string, c *Conn, ruleEnv []string) []string {
	env := make([]string, len(base), len(base)+7+len(ruleEnv))
	copy(env, base)
	env = append(env,
		ucspi.TCPLocalIP+"="+c.local.Addr().String(),
		ucspi.TCPLocalPort+"="+strconv.Itoa(int(c.local.Port())),
		ucspi.TCPRemoteIP+"="+c.remote.Addr().String(),
		ucspi.TCPRemotePort+"="+strconv.Itoa(int(c.remote.Port())),
		ucspi.TCPConnNum+"="+strconv.Itoa(c.others),
	)
	if c.remoteHost != "" {
		env = append(env, ucspi.TCPRemoteHost+"="+c.remoteHost)
	}
	for _, kv := range ruleEnv {
		n, _, ok := strings.Cut(kv, "=")
		if !ok || n == "" {
			continue
		}
		replaced := false
		for i, old := range env {
			if len(old) > len(n) && old[len(n)] == '=' && old[:len(n)] == n {
				env[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			env = append(env, kv)
		}
	}
	return env
}
