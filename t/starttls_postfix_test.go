package t

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ucspi-starttls -c against a real third-party SMTP server: Debian's
// Postfix, run by the test as its own instance (postfix -c dir) on two
// loopback ports, one offering STARTTLS (smtpd_tls_security_level = may),
// one without TLS (none). Every message goes to the discard transport:
// nothing is delivered anywhere, and the instance's own log says which
// message was accepted, over TLS or not.

// postfixInst is one running Postfix instance.
type postfixInst struct {
	dir                string // holds etc/, spool/, data/, maillog
	tlsPort, clearPort int
}

func (p *postfixInst) config() string  { return filepath.Join(p.dir, "etc") }
func (p *postfixInst) maillog() string { return filepath.Join(p.dir, "maillog") }

func (p *postfixInst) log() string {
	b, _ := os.ReadFile(p.maillog())
	return string(b)
}

// postfixProcs lists the live processes of the instance: Postfix passes
// MAIL_CONFIG to every daemon it starts, and the postfix command names
// the directory on its command line. Zombies are dead already.
func postfixProcs(config string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err != nil ||
			strings.Contains(string(st), ") Z ") {
			continue
		}
		if cl, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline"); strings.Contains(string(cl), "\x00"+config+"\x00") {
			pids = append(pids, pid)
			continue
		}
		env, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil {
			continue
		}
		for _, v := range strings.Split(string(env), "\x00") {
			if v == "MAIL_CONFIG="+config {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// postfixCmd runs the postfix command on the instance, bounded.
func postfixCmd(config string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/usr/sbin/postfix", append([]string{"-c", config}, args...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	return cmd.CombinedOutput()
}

// startPostfix writes a configuration with the test's server certificate
// and starts the instance; Cleanup stops it and waits until every one of
// its processes is gone (killing leftovers by pid, as a failure).
func startPostfix(t *testing.T) *postfixInst {
	t.Helper()
	needRoot(t)
	need(t, "/usr/sbin/postfix")
	// Not t.TempDir: Postfix's daemons run as the postfix user and must
	// reach the queue, so every directory on the path is 0755, and the
	// queue directory is root's (postfix-script checks both).
	dir, err := os.MkdirTemp("", "tlschain-postfix-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	p := &postfixInst{dir: dir, tlsPort: freePort(t, "tcp4", "127.0.0.1:0"), clearPort: freePort(t, "tcp4", "127.0.0.1:0")}
	for p.clearPort == p.tlsPort {
		p.clearPort = freePort(t, "tcp4", "127.0.0.1:0")
	}
	for _, d := range []string{"etc", "spool", "data"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// data_directory belongs to the mail owner (Postfix's own layout).
	out, err := exec.Command("chown", "postfix", filepath.Join(dir, "data")).CombinedOutput()
	if err != nil {
		t.Fatalf("chown postfix: %v %s (is the postfix user there?)", err, out)
	}
	certs(t).Server.write(t, dir)
	mainCf := `compatibility_level = 3.6
queue_directory = ` + dir + `/spool
data_directory = ` + dir + `/data
mail_owner = postfix
setgid_group = postdrop
myhostname = localhost
mydomain = localdomain
myorigin = localhost
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
local_transport = discard:local
default_transport = discard:default
relay_transport = discard:relay
smtpd_tls_cert_file = ` + dir + `/server.crt
smtpd_tls_key_file = ` + dir + `/server.key
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
maillog_file_prefixes = ` + dir + `
maillog_file = ` + dir + `/maillog
biff = no
smtputf8_enable = no
`
	// Only the services a queue needs, and two smtpd listeners on
	// loopback; no pickup from maildrop matters, no local delivery.
	masterCf := `127.0.0.1:` + strconv.Itoa(p.tlsPort) + ` inet n - n - - smtpd
127.0.0.1:` + strconv.Itoa(p.clearPort) + ` inet n - n - - smtpd -o smtpd_tls_security_level=none
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
`
	if err := os.WriteFile(filepath.Join(dir, "etc", "main.cf"), []byte(mainCf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "master.cf"), []byte(masterCf), 0o644); err != nil {
		t.Fatal(err)
	}
	config := p.config()
	t.Cleanup(func() {
		postfixCmd(config, "stop")
		stopped := time.Now()
		if waitFor(15*time.Second, func() bool { return len(postfixProcs(config)) == 0 }) {
			t.Logf("postfix stopped in %v", time.Since(stopped).Round(time.Millisecond))
			return
		}
		left := postfixProcs(config)
		for _, pid := range left {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		t.Errorf("postfix processes still running after stop: %v (killed)", left)
		waitFor(5*time.Second, func() bool { return len(postfixProcs(config)) == 0 })
	})
	// master -w (postfix start) returns once the listeners are bound.
	if out, err := postfixCmd(config, "start"); err != nil {
		t.Fatalf("postfix start: %v %s\nmaillog:\n%s", err, out, p.log())
	}
	for _, port := range []int{p.tlsPort, p.clearPort} {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if !waitFor(hangLimit, func() bool {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err == nil
		}) {
			t.Fatalf("postfix does not listen on %s\nmaillog:\n%s", addr, p.log())
		}
	}
	return p
}

var queuedRe = regexp.MustCompile(`<- 250 2\.0\.0 Ok: queued as ([0-9A-F]+)`)

// smtpdSession returns the log lines (from offset on) of the one smtpd
// connection of a test case, from its "connect from" to its "disconnect
// from", waiting for the disconnect. Lines are grouped by smtpd pid;
// connections without a command (startPostfix's readiness probes, whose
// lines may come late and interleaved) are skipped.
func (p *postfixInst) smtpdSession(t *testing.T, offset int) []string {
	t.Helper()
	var sess []string
	ok := waitFor(10*time.Second, func() bool {
		log := p.log()
		if len(log) < offset {
			return false
		}
		open := map[string][]string{}
		for _, l := range lines(log[offset:]) {
			i := strings.Index(l, "postfix/smtpd[")
			if i < 0 {
				continue
			}
			pid, _, _ := strings.Cut(l[i+len("postfix/smtpd["):], "]")
			if strings.Contains(l, ": connect from ") {
				open[pid] = nil
			}
			open[pid] = append(open[pid], l)
			if strings.Contains(l, ": disconnect from ") {
				if !strings.Contains(l, " commands=0/0") {
					sess = open[pid]
					return true
				}
				delete(open, pid)
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no whole smtpd session in the log:\n%s", p.log()[offset:])
	}
	return sess
}

// TestStarttlsClientPostfix: ucspi-starttls -c under tcpclient and tlsc
// against Postfix. verify with the test CA: the message goes through
// inside TLS and Postfix queues and "delivers" it (discard); verify with
// a CA that did not sign Postfix's certificate: prog gets 421, Postfix
// sees STARTTLS and QUIT, no MAIL; encrypt: TLS without verification;
// against the listener without TLS, may delivers in clear (and says so in
// its log line) and encrypt defers with nothing sent.
func TestStarttlsClientPostfix(t *testing.T) {
	pf := startPostfix(t)
	dir := certDir(t)
	send := func(port int, policy, cafile string) result {
		env := baseEnv("CAFILE=" + cafile)
		return run(t, env, "", bin("tcpclient"), "-T", "5", "127.0.0.1", strconv.Itoa(port),
			"tlsc", "-n", "-k", "localhost", "--verify-report", "ucspi-starttls", "-c", "-t", "10", "-p", policy, "smtp",
			filepath.Join(dataDir(), "starttls-client", "send.sh"))
	}
	tests := []struct {
		name   string
		port   int
		policy string
		ca     string
		want   string // sentTLS, sentClear, deferred
		verify string
		reason string
	}{
		{"verify right CA", pf.tlsPort, "verify", "ca.crt", sentTLS, "verified", ""},
		{"verify wrong CA", pf.tlsPort, "verify", "rogue.crt", deferred, "", "verification-untrusted:unknown-authority"},
		{"encrypt untrusted", pf.tlsPort, "encrypt", "rogue.crt", sentTLS, "untrusted:unknown-authority", ""},
		{"encrypt", pf.tlsPort, "encrypt", "ca.crt", sentTLS, "verified", ""},
		{"may", pf.tlsPort, "may", "ca.crt", sentTLS, "verified", ""},
		{"may without TLS", pf.clearPort, "may", "ca.crt", sentClear, "", "starttls-not-offered"},
		{"encrypt without TLS", pf.clearPort, "encrypt", "ca.crt", deferred, "", "starttls-not-offered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			offset := len(pf.log())
			start := time.Now()
			r := send(tc.port, tc.policy, filepath.Join(dir, tc.ca))
			elapsed := time.Since(start)
			sess := pf.smtpdSession(t, offset)
			joined := strings.Join(sess, "\n")
			l := logLineOf(t, r.Stderr)
			if !strings.Contains(l, " policy="+tc.policy+" ") || !strings.Contains(l, tc.reason) {
				t.Errorf("log line %q", l)
			}
			tlsSeen := strings.Contains(joined, "TLS connection established from localhost[127.0.0.1]: TLSv1.3")
			switch tc.want {
			case sentTLS, sentClear:
				m := queuedRe.FindStringSubmatch(r.Stdout)
				if r.Code != 0 || m == nil || !strings.Contains(r.Stdout, "result sent") ||
					!strings.Contains(r.Stdout, "<- 220 localhost ESMTP Postfix") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s\npostfix:\n%s", r.Code, r.Stdout, r.Stderr, joined)
				}
				qid := m[1]
				if !strings.Contains(joined, qid+": client=localhost[127.0.0.1]") {
					t.Errorf("queue id %s not in the session:\n%s", qid, joined)
				}
				var sent string
				if !waitFor(hangLimit, func() bool {
					for _, x := range lines(pf.log()[offset:]) {
						if strings.Contains(x, "postfix/discard[") && strings.Contains(x, qid+": to=<b@example.test>") &&
							strings.Contains(x, "status=sent") {
							sent = x
							return true
						}
					}
					return false
				}) {
					t.Fatalf("message %s not delivered:\n%s", qid, pf.log()[offset:])
				}
				if tc.want == sentTLS {
					if !tlsSeen || !strings.Contains(joined, "starttls=1") || !strings.Contains(l, " result=tls") ||
						!strings.Contains(r.Stdout, "SSL_PEER_VERIFY="+tc.verify+" ") || !strings.Contains(l, " verify="+tc.verify) {
						t.Fatalf("not TLS: stdout:\n%s\nstderr:\n%s\npostfix:\n%s", r.Stdout, r.Stderr, joined)
					}
					// Postfix saw no cleartext EHLO from prog: its one
					// EHLO before TLS is ucspi-starttls's (ehlo=2 in all).
					if !strings.Contains(joined, " ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 ") {
						t.Errorf("command counts: %s", sess[len(sess)-1])
					}
				} else {
					if tlsSeen || strings.Contains(joined, "starttls=") || !strings.Contains(l, "info: ") ||
						!strings.Contains(l, " verify=cleartext result=cleartext reason=starttls-not-offered") {
						t.Fatalf("clear: stdout:\n%s\nstderr:\n%s\npostfix:\n%s", r.Stdout, r.Stderr, joined)
					}
				}
				t.Logf("%s: %s in %v; %s", tc.name, qid, elapsed.Round(time.Millisecond), sent[strings.Index(sent, "to=<"):])
			case deferred:
				if r.Code != 75 || !strings.Contains(r.Stdout, "<- 421 4.7.0 TLS policy "+tc.policy+": "+tc.reason) ||
					strings.Contains(r.Stdout, "-> MAIL") || !strings.Contains(l, "warning: ") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
				// Postfix got no MAIL, in clear or otherwise, and queued
				// nothing; the session ended with QUIT.
				if strings.Contains(joined, "client=localhost") || strings.Contains(joined, "mail=") ||
					!strings.Contains(joined, "quit=1") {
					t.Fatalf("postfix session:\n%s", joined)
				}
				if tc.reason == "starttls-not-offered" && tlsSeen {
					t.Errorf("TLS on the listener without TLS:\n%s", joined)
				}
			}
		})
	}
}

// dataDir is t/testdata, absolute.
func dataDir() string {
	p, _ := filepath.Abs("testdata")
	return p
}
