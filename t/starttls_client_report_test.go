package t

import (
	"strconv"
	"strings"
	"testing"
)

// Outbound STARTTLS behind a tlsc -n started without --verify-report
// (doc/ucspi-starttls.md, Policies; doc/tlsc.md, TLSC_VERIFY): tlsc -n
// tells its app how a certificate that does not verify ends, and a
// policy that takes such servers refuses the chain instead of deferring
// the mail of every one of them.

// stcChain runs tcpclient … tlsc -n -k localhost tlscArgs… ucspi-starttls
// -c -p policy smtp send.sh against port.
func stcChain(t *testing.T, port int, policy string, env []string, tlscArgs ...string) result {
	t.Helper()
	args := append([]string{"-T", "5", "127.0.0.1", strconv.Itoa(port), "tlsc", "-n", "-k", "localhost"}, tlscArgs...)
	args = append(args, "ucspi-starttls", "-c", "-t", "5", "-p", policy, "smtp", stcData("send.sh"))
	return run(t, env, "", bin("tcpclient"), args...)
}

// TestStarttlsClientNeedsVerifyReport: may, encrypt and dane under a tlsc
// -n without --verify-report stop at once with one line naming the
// option, before prog starts (send.sh prints a line first thing) and
// before anything is sent; a TLSC_VERIFY=report left in the environment
// does not get through tlsc. Without the refusal, prog would run and get
// the 421 of a failed handshake. With --verify-report (or
// --no-verify-cert) the same policies send; verify needs neither.
func TestStarttlsClientNeedsVerifyReport(t *testing.T) {
	dir := certDir(t)
	good := stcServer(t, dir, "server", true)
	rogue := stcServer(t, dir, "roguesrv", true)
	env := baseEnv("CAFILE=" + dir + "/ca.crt")
	for _, policy := range []string{"may", "encrypt", "dane"} {
		t.Run(policy, func(t *testing.T) {
			for _, port := range []int{rogue, good} {
				r := stcChain(t, port, policy, append(env, "TLSC_VERIFY=report"))
				want := fatalEnd(100, "policy "+policy+` needs tlsc -n --verify-report (TLSC_VERIFY="enforce"): `+
					"without it a server whose certificate does not verify fails the handshake and the mail is deferred")
				if r.Code != 100 || r.Stdout != "" || !strings.HasSuffix(r.Stderr, want) || strings.Count(r.Stderr, "\n") != 1 {
					t.Fatalf("without --verify-report: exit %d\nstdout %q\nstderr %q\nwant 100 and %q", r.Code, r.Stdout, r.Stderr, want)
				}
			}
			r := stcChain(t, rogue, policy, env, "--verify-report")
			if r.Code != 0 || !strings.Contains(r.Stdout, "SSL_PEER_VERIFY=untrusted:unknown-authority") || !strings.Contains(r.Stdout, "result sent") {
				t.Fatalf("--verify-report: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
			}
			r = stcChain(t, rogue, policy, env, "--no-verify-cert")
			if r.Code != 0 || !strings.Contains(r.Stdout, "SSL_PEER_VERIFY=none") || !strings.Contains(r.Stdout, "result sent") {
				t.Fatalf("--no-verify-cert: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
			}
		})
	}
	t.Run("verify", func(t *testing.T) {
		r := stcChain(t, good, "verify", env)
		if r.Code != 0 || !strings.Contains(r.Stdout, "SSL_PEER_VERIFY=verified") || !strings.Contains(r.Stdout, "result sent") {
			t.Fatalf("verify, good server: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
		}
		r = stcChain(t, rogue, "verify", env)
		if r.Code != 75 || !strings.Contains(r.Stdout, "421 4.7.0 TLS policy verify: handshake-failed") {
			t.Fatalf("verify, untrusted server: exit %d\nstdout %s\nstderr %s", r.Code, r.Stdout, r.Stderr)
		}
	})
}

// TestTLSCVerifyVariable: tlsc -n sets TLSC_VERIFY for its app (enforce,
// report, none), tlsc in immediate mode removes a stale one, and
// ucspi-starttls -c never passes it to prog.
func TestTLSCVerifyVariable(t *testing.T) {
	dir := certDir(t)
	good := stcServer(t, dir, "server", true)
	env := baseEnv("CAFILE="+dir+"/ca.crt", "TLSC_VERIFY=stale")
	show := []string{"sh", "-c", "echo TLSC_VERIFY=${TLSC_VERIFY-unset}"}
	for _, tc := range []struct {
		args []string
		want string
	}{{nil, "enforce"}, {[]string{"--verify-report"}, "report"}, {[]string{"--no-verify-cert"}, "none"}} {
		args := append(append([]string{"127.0.0.1", strconv.Itoa(good), "tlsc", "-n", "-k", "localhost"}, tc.args...), show...)
		if r := run(t, env, "", bin("tcpclient"), args...); r.Stdout != "TLSC_VERIFY="+tc.want+"\n" {
			t.Errorf("tlsc -n %q: exit %d, stdout %q, stderr %q", tc.args, r.Code, r.Stdout, r.Stderr)
		}
	}
	s := tlsdServe(t, tlsdEnv(dir), "cat")
	if r := run(t, env, "", bin("tcpclient"), append([]string{"127.0.0.1", strconv.Itoa(s.Port), "tlsc", "-k", "localhost"}, show...)...); r.Stdout != "TLSC_VERIFY=unset\n" {
		t.Errorf("tlsc: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
	args := append([]string{"127.0.0.1", strconv.Itoa(good), "tlsc", "-n", "-k", "localhost", "ucspi-starttls", "-c", "-p", "none", "smtp"}, show...)
	if r := run(t, env, "", bin("tcpclient"), args...); r.Stdout != "TLSC_VERIFY=unset\n" {
		t.Errorf("ucspi-starttls -c's prog: exit %d, stdout %q, stderr %q", r.Code, r.Stdout, r.Stderr)
	}
}
