package t

import (
	"bytes"
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

// The examples/ service directories, run for real: under s6-svscan (the
// execline run, finish and log/run scripts), as plain sh run scripts, and
// the outbound send scripts. The test copies each directory and writes only
// its env/ files (ports, certificates, users, log directory): the scripts
// that run are the repository's.

// exServices are the long-running examples.
var exServices = []string{"smtp-25", "submission-587", "smtps-465", "pop3-110", "pop3s-995", "imap-143", "imaps-993", "https-cgi"}

// exListener is the program that listens in svc's run scripts: tlsserver
// for https-cgi, which shows it; tcpserver (… tlsd …) for the others.
func exListener(svc string) string {
	if svc == "https-cgi" {
		return "tlsserver"
	}
	return "tcpserver"
}

// exFixture holds what every example run needs: certificates, a CVM
// password file, a maildir, a stand-in IMAP server.
type exFixture struct {
	base, certs string
}

// exPublicTemp is a temp directory every uid can traverse (the app runs as
// daemon, the logger as nobody).
func exPublicTemp(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	os.Chmod(d, 0o755)
	os.Chmod(filepath.Dir(d), 0o755)
	return d
}

func exSetup(t *testing.T) *exFixture {
	t.Helper()
	needRoot(t)
	need(t, "s6-svscan", "s6-svwait", "s6-svstat", "s6-svc", "s6-svok", "s6-log", "s6-envdir", "s6-envuidgid", "s6-permafailon", "execlineb", "swaks", "openssl", "curl", "/usr/sbin/mailfront", "/usr/bin/cvm-pwfile")
	f := &exFixture{base: exPublicTemp(t), certs: certDir(t)}
	mb := filepath.Join(f.base, "mb", "Maildir")
	for _, d := range []string{"new", "cur", "tmp"} {
		if err := os.MkdirAll(filepath.Join(mb, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(mb, "new", "1.example"), []byte("Subject: hi\n\nhello\n"), 0o600)
	filepath.Walk(filepath.Join(f.base, "mb"), func(p string, _ os.FileInfo, _ error) error { return os.Chown(p, 65534, 65534) })
	os.WriteFile(filepath.Join(f.base, "passwd"), []byte("alice:secret:65534:65534:Alice:"+filepath.Join(f.base, "mb")+":/bin/false\n"), 0o644)
	os.WriteFile(filepath.Join(f.base, "imapd"), []byte("#!/bin/sh\necho \"* OK stand-in IMAP server for $USER\"\n"), 0o755)
	// For the failure cases: an app that is not executable, a password
	// file only root can read.
	os.WriteFile(filepath.Join(f.base, "noexec"), []byte("#!/bin/sh\n"), 0o644)
	os.WriteFile(filepath.Join(f.base, "passwd-root"), []byte("alice:secret:65534:65534:Alice:/:/bin/false\n"), 0o600)
	return f
}

// exCopy copies examples/<svc> to dst (cp -a keeps the modes) and writes
// the env files a test run needs, then the overrides.
func (f *exFixture) exCopy(t *testing.T, svc, dst string, port int, over map[string]string) {
	t.Helper()
	if out, err := exec.Command("cp", "-a", filepath.Join("..", "examples", svc), dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	env := map[string]string{
		"IP": "127.0.0.1", "PORT": strconv.Itoa(port),
		"CERTFILE": filepath.Join(f.certs, "server.crt"), "KEYFILE": filepath.Join(f.certs, "server.key"),
		"TLS_UID": "65534", "TLS_GID": "65534", "APPUSER": "daemon",
		"LOGDIR": filepath.Join(f.base, "log", filepath.Base(dst)), "LOGUSER": "nobody",
		"PATH":            binDir + ":/usr/lib/execline/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"CVM_PWFILE_PATH": filepath.Join(f.base, "passwd"), "IMAPD": filepath.Join(f.base, "imapd"),
	}
	for k, v := range over {
		env[k] = v
	}
	for k, v := range env {
		p := filepath.Join(dst, "env", k)
		if _, err := os.Stat(p); err != nil && k != "LOGDIR" && k != "LOGUSER" {
			continue // only the settings the example has
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// exStep is one line to send once the output holds n copies of after.
type exStep struct {
	after string
	n     int
	send  string
}

// exTalk runs a client, sends each step's line when its condition holds
// (lock step, as a user types), keeps stdin open until the output holds
// want (or hangLimit passes), then closes stdin and waits up to 5 s more.
func exTalk(t *testing.T, steps []exStep, want string, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*hangLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		if !waitFor(hangLimit, func() bool { return strings.Count(out.String(), st.after) >= st.n }) {
			t.Errorf("%s %v: no %d x %q before %q in:\n%s", path, args, st.n, st.after, st.send, out)
			break
		}
		in.Write([]byte(st.send))
	}
	ok := waitFor(hangLimit, func() bool { return strings.Contains(out.String(), want) })
	in.Close()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	if !ok {
		t.Errorf("%s %v: no %q in:\n%s", path, args, want, out)
	}
	return out.String()
}

// exClient talks to one example on port the way a user's client would and
// fails the test unless the service did its job.
func (f *exFixture) exClient(t *testing.T, svc string, port int) {
	t.Helper()
	ca := filepath.Join(f.certs, "ca.crt")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	swaks := func(want int, args ...string) string {
		t.Helper()
		a := append([]string{"--server", addr, "--tls-verify", "--tls-ca-path", ca, "--to", "bob@example.org", "--from", "alice@example.org"}, args...)
		r := run(t, baseEnv(), "", "/usr/bin/swaks", a...)
		if r.Code != want {
			t.Errorf("%s: swaks %v: exit %d, want %d:\n%s%s", svc, args, r.Code, want, r.Stdout, r.Stderr)
		}
		return r.Stdout
	}
	auth := []string{"-a", "PLAIN", "-au", "alice", "-ap", "secret"}
	sclient := func(proto string) []string {
		a := []string{"s_client", "-quiet", "-no_ign_eof", "-crlf", "-connect", addr, "-CAfile", ca, "-verify_return_error", "-verify_hostname", "localhost"}
		if proto != "" {
			a = append(a, "-starttls", proto)
		}
		return a
	}
	switch svc {
	case "smtp-25":
		out := swaks(0, "--tls")
		if !strings.Contains(out, "250 Received") {
			t.Errorf("smtp-25: message not taken:\n%s", out)
		}
		swaks(0) // opportunistic: cleartext still works
	case "submission-587":
		swaks(0, append([]string{"--tls"}, auth...)...)
		out := swaks(23) // MAIL before STARTTLS
		if !strings.Contains(out, "530 5.7.0") {
			t.Errorf("submission-587: no 530 before STARTTLS:\n%s", out)
		}
		swaks(23, "--tls") // MAIL before AUTH: require-auth
	case "smtps-465":
		swaks(0, append([]string{"--tls-on-connect"}, auth...)...)
	case "pop3-110", "pop3s-995":
		proto := ""
		if svc == "pop3-110" {
			proto = "pop3"
		}
		// One command per reply: pop3front-auth execs pop3front-maildir
		// after PASS, so a pipelined STAT would be lost with its buffer.
		// (With STLS the stale pre-TLS greeting is the first +OK.)
		steps := []exStep{{"+OK", 1, "USER alice\n"}, {"+OK", 2, "PASS secret\n"}, {"+OK", 3, "STAT\n"}, {"+OK 1 ", 1, "QUIT\n"}}
		exTalk(t, steps, "+OK 1 ", "openssl", sclient(proto)...)
	case "imap-143", "imaps-993":
		proto := ""
		if svc == "imap-143" {
			proto = "imap"
		}
		exTalk(t, []exStep{{"OK", 1, "a LOGIN alice secret\n"}}, "stand-in IMAP server for alice", "openssl", sclient(proto)...)
	case "https-cgi":
		r := run(t, baseEnv(), "", "/usr/bin/curl", "-sS", "--max-time", "10", "--cacert", ca,
			"--resolve", "localhost:"+strconv.Itoa(port)+":127.0.0.1", "https://localhost:"+strconv.Itoa(port)+"/")
		if r.Code != 0 || !strings.Contains(r.Stdout, "hello from tlschain: TLSv1.3") {
			t.Errorf("https-cgi: curl exit %d: %s%s", r.Code, r.Stdout, r.Stderr)
		}
	default:
		t.Fatalf("no client for %s", svc)
	}
}

// exS6 is a running s6-svscan on a temp scan directory.
type exS6 struct {
	t    *testing.T
	scan string
	cmd  *exec.Cmd
	done chan struct{}
}

func exStartS6(t *testing.T, scan string) *exS6 {
	t.Helper()
	s := &exS6{t: t, scan: scan, done: make(chan struct{})}
	s.cmd = exec.Command("s6-svscan", scan)
	s.cmd.Env = baseEnv()
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out := &syncBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		var pids []int
		entries, _ := os.ReadDir(scan)
		for _, e := range entries {
			if p := s.pid(e.Name()); p > 0 {
				pids = append(pids, p)
			}
		}
		exec.Command("s6-svscanctl", "-t", scan).Run()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			s.cmd.Process.Kill()
			<-s.done
		}
		for _, p := range pids { // a service the supervisor left behind
			syscall.Kill(p, syscall.SIGKILL)
		}
		if t.Failed() {
			t.Logf("s6-svscan output:\n%s", out)
		}
	})
	return s
}

func (s *exS6) svc(name string) string { return filepath.Join(s.scan, name) }

// pid is the service's pid (0 when down or unknown).
func (s *exS6) pid(name string) int {
	out, _ := exec.Command("s6-svstat", "-o", "pid", s.svc(name)).Output()
	p, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	if p < 0 {
		return 0
	}
	return p
}

// up says whether s6-svstat reports the service up.
func (s *exS6) up(name string) bool {
	out, _ := exec.Command("s6-svstat", "-o", "up", s.svc(name)).Output()
	return strings.TrimSpace(string(out)) == "true"
}

// held says whether the service is down and s6-supervise will not start
// it again (finish exited 125, or s6-svc -d).
func (s *exS6) held(name string) bool {
	out, _ := exec.Command("s6-svstat", "-o", "up,wantedup", s.svc(name)).Output()
	return strings.TrimSpace(string(out)) == "false false"
}

// ready waits until s6-supervise runs the service, then until it is up and
// ready (s6-svwait -U: the notification-fd newline from tcpserver -d 3).
func (s *exS6) ready(name string) {
	s.t.Helper()
	s.readyWithin(name, 15*time.Second)
}

// readyWithin is ready with a deadline for s6-svwait.
func (s *exS6) readyWithin(name string, d time.Duration) {
	s.t.Helper()
	if !waitFor(hangLimit, func() bool { return exec.Command("s6-svstat", s.svc(name)).Run() == nil }) {
		s.t.Fatalf("%s: s6-supervise did not start", name)
	}
	if out, err := exec.Command("s6-svwait", "-U", "-t", strconv.Itoa(int(d/time.Millisecond)), s.svc(name)).CombinedOutput(); err != nil {
		st, _ := exec.Command("s6-svstat", s.svc(name)).CombinedOutput()
		log, _ := os.ReadFile(filepath.Join(s.svc(name), "env", "LOGDIR"))
		cur, _ := os.ReadFile(filepath.Join(strings.TrimSpace(string(log)), "current"))
		s.t.Fatalf("%s: not ready: %v %s\ns6-svstat: %s\nlog:\n%s", name, err, out, st, cur)
	}
}

// exLog reads the s6-log current file of a service.
func (f *exFixture) exLog(name string) string {
	b, _ := os.ReadFile(filepath.Join(f.base, "log", name, "current"))
	return string(b)
}

func TestExamplesS6(t *testing.T) {
	f := exSetup(t)
	scan := filepath.Join(f.base, "scan")
	os.Mkdir(scan, 0o755)
	ports := map[string]int{}
	for _, svc := range exServices {
		ports[svc] = freePort(t, "tcp4", "127.0.0.1:0")
		f.exCopy(t, svc, filepath.Join(scan, svc), ports[svc], nil)
	}
	// The failure cases (exBad): configurations every connection would
	// fail with, which must keep the service down; and a port another
	// process holds, which must be retried until it is free.
	badPorts := map[string]int{}
	for _, c := range exBad {
		badPorts[c.name] = freePort(t, "tcp4", "127.0.0.1:0")
		f.exCopy(t, c.svc, filepath.Join(scan, c.name), badPorts[c.name], f.exBadEnv(c))
		f.exEdit(t, filepath.Join(scan, c.name, "run"), c.runEdit)
	}
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	busyPort := held.Addr().(*net.TCPAddr).Port
	f.exCopy(t, "smtps-465", filepath.Join(scan, "busy-port"), busyPort, nil)

	start := time.Now()
	s6 := exStartS6(t, scan)
	for _, svc := range exServices {
		s6.ready(svc)
	}
	t.Logf("%d services up and ready in %v", len(exServices), time.Since(start).Round(time.Millisecond))

	for _, svc := range exServices {
		t.Run(svc, func(t *testing.T) {
			f.exClient(t, svc, ports[svc])
			// The logger has the per-connection lines.
			if !waitFor(hangLimit, func() bool {
				l := f.exLog(svc)
				return strings.Contains(l, exListener(svc)+": info: accept conn=") && strings.Contains(l, exListener(svc)+": info: end conn=")
			}) {
				t.Errorf("%s: log has no accept/end lines:\n%s", svc, f.exLog(svc))
			}
			if svc == "smtp-25" || svc == "submission-587" || svc == "pop3-110" || svc == "imap-143" {
				if !strings.Contains(f.exLog(svc), "ucspi-starttls: info: starttls conn=") {
					t.Errorf("%s: log has no starttls line:\n%s", svc, f.exLog(svc))
				}
			}
			var unstamped []string
			for _, l := range lines(f.exLog(svc)) {
				if !strings.HasPrefix(l, "@4000") {
					t.Errorf("%s: log line without a TAI64N stamp: %q", svc, l)
				}
				_, rest, _ := strings.Cut(l, " ")
				unstamped = append(unstamped, rest)
			}
			// Every line of the suite's programs, after s6-log, in the
			// one format.
			checkLog(t, svc, strings.Join(unstamped, "\n"))
		})
	}

	t.Run("restart", func(t *testing.T) {
		const svc = "smtps-465"
		old := s6.pid(svc)
		if old == 0 {
			t.Fatal("smtps-465 has no pid")
		}
		t0 := time.Now()
		if out, err := exec.Command("s6-svc", "-t", s6.svc(svc)).CombinedOutput(); err != nil {
			t.Fatalf("s6-svc -t: %v %s", err, out)
		}
		if !waitFor(hangLimit, func() bool { p := s6.pid(svc); return p != 0 && p != old }) {
			t.Fatalf("no new pid after s6-svc -t (old %d)", old)
		}
		s6.ready(svc)
		t.Logf("restart: pid %d -> %d, ready in %v", old, s6.pid(svc), time.Since(t0).Round(time.Millisecond))
		f.exClient(t, svc, ports[svc])
		if n := strings.Count(f.exLog(svc), "tcpserver: info: start "); n != 2 {
			t.Errorf("want 2 start lines after one restart, got %d:\n%s", n, f.exLog(svc))
		}
	})

	t.Run("bad-config", func(t *testing.T) {
		// Each is held down (s6-supervise wants it down: finish exited
		// 125), said so once, and never listened.
		waitFor(30*time.Second, func() bool {
			for _, c := range exBad {
				if !s6.held(c.name) {
					return false
				}
			}
			return true
		})
		before := map[string]string{}
		for _, c := range exBad {
			before[c.name] = f.exLog(c.name)
		}
		// Held down, it is not restarted: the log stays as it is (a
		// service restarted every second would have added lines).
		time.Sleep(3 * time.Second)
		for _, c := range exBad {
			log := f.exLog(c.name)
			t.Logf("%s: log:\n%s", c.name, log)
			if log != before[c.name] {
				t.Errorf("%s: restarted after it was held down", c.name)
			}
			if !s6.held(c.name) || s6.up(c.name) {
				t.Errorf("%s: not held down", c.name)
			}
			line := strings.ReplaceAll(c.line, "CERTS", f.certs)
			line = strings.ReplaceAll(line, "BASE", f.base)
			held := c.svc + ": fatal: held status=" + strconv.Itoa(c.code) + ` err="configuration error: fix it, then s6-svc -u (s6-rc: s6-rc -u change ` + c.svc + `)"`
			var fatal []string
			for _, l := range lines(log) {
				if strings.Contains(l, ": fatal: ") {
					fatal = append(fatal, l[strings.IndexByte(l, ' ')+1:]) // without the TAI64N stamp
				}
			}
			if len(fatal) != 2 || fatal[0] != line || fatal[1] != held {
				t.Errorf("%s: fatal lines %q, want exactly\n%q\n%q", c.name, fatal, line, held)
			}
			if strings.Contains(log, exListener(c.svc)+": info: start") {
				t.Errorf("%s: %s started", c.name, exListener(c.svc))
			}
			if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(badPorts[c.name]), 5*time.Second); err == nil {
				conn.Close()
				t.Errorf("%s: listens on its port", c.name)
			}
		}
	})

	t.Run("busy-port", func(t *testing.T) {
		// A port in use is a transient failure: retried, with a growing
		// wait, never held down. Four tries fail while the port is held
		// (the old finish held it down after three), then it comes up.
		bind := exFatal("tcpserver", 111, "unable to bind 127.0.0.1 port "+strconv.Itoa(busyPort)+": address already in use")
		waitFor(90*time.Second, func() bool { return strings.Count(f.exLog("busy-port"), bind) >= 4 || s6.held("busy-port") })
		if s6.held("busy-port") {
			t.Fatalf("busy-port: held down:\n%s", f.exLog("busy-port"))
		}
		if strings.Count(f.exLog("busy-port"), bind) < 4 {
			t.Fatalf("busy-port: not retried 4 times:\n%s", f.exLog("busy-port"))
		}
		if !strings.Contains(f.exLog("busy-port"), `smtps-465: warning: restart status=111 err="3 times in a minute: next try in 10 s"`) {
			t.Errorf("busy-port: no backoff line:\n%s", f.exLog("busy-port"))
		}
		held.Close()
		s6.readyWithin("busy-port", 90*time.Second)
		f.exClient(t, "smtps-465", busyPort)
		t.Logf("busy-port: log:\n%s", f.exLog("busy-port"))
		if strings.Contains(f.exLog("busy-port"), ": fatal: held ") {
			t.Errorf("busy-port: held down on the way")
		}
	})
}

// exBadConfig is a service directory with one mistake that every
// connection would fail on: the run script must find it before it listens
// and exit with the connection's code (line: the one fatal line; CERTS and
// BASE stand for the fixture's directories), and finish must hold it down.
type exBadConfig struct {
	name, svc string
	env       map[string]string
	runEdit   [2]string // replace [0] with [1] in run
	shEdit    [2]string // the same in run.sh
	line      string
	code      int
}

var exBad = []exBadConfig{
	{name: "bad-nocert", svc: "smtps-465", env: map[string]string{"CERTFILE": "/nonexistent/cert.pem"},
		line: exFatal("tlsd", 96, "unable to read CERTFILE /nonexistent/cert.pem: no such file or directory"), code: 96},
	{name: "bad-keypair", svc: "submission-587", env: map[string]string{"KEYFILE": "CERTS/other.key"},
		line: exFatal("tlsd", 96, "unable to load CERTFILE CERTS/server.crt and KEYFILE CERTS/other.key: the private key does not match the certificate's public key"), code: 96},
	{name: "bad-tlsuid0", svc: "pop3-110", env: map[string]string{"TLS_UID": "0"},
		line: exFatal("tlsd", 100, "TLS_UID is 0: the TLS engine never runs as root"), code: 100},
	{name: "bad-tlsuid", svc: "https-cgi", env: map[string]string{"TLS_UID": "tlschain-nosuchuser"},
		line: exFatal("tlsserver", 100, `bad TLS_UID: "tlschain-nosuchuser"`), code: 100},
	{name: "bad-appuser", svc: "smtps-465", env: map[string]string{"APPUSER": "tlschain-nosuchuser"},
		line: "s6-envuidgid: fatal: unknown user: tlschain-nosuchuser", code: 1},
	{name: "bad-noapp", svc: "submission-587", runEdit: [2]string{"define APP /usr/sbin/mailfront\n", "define APP /nonexistent/mailfront\n"},
		shEdit: [2]string{"app=/usr/sbin/mailfront\n", "app=/nonexistent/mailfront\n"},
		line:   exFatal("submission-587", 127, "unable to run /nonexistent/mailfront: no such file or directory"), code: 127},
	{name: "bad-noexec", svc: "smtp-25", runEdit: [2]string{"define APP /usr/sbin/mailfront\n", "define APP BASE/noexec\n"},
		shEdit: [2]string{"app=/usr/sbin/mailfront\n", "app=BASE/noexec\n"},
		line:   exFatal("smtp-25", 126, "unable to run BASE/noexec as daemon: permission denied"), code: 126},
	{name: "bad-directapp", svc: "imaps-993", runEdit: [2]string{"/usr/sbin/imapfront-auth", "/nonexistent/imapfront-auth"},
		shEdit: [2]string{"/usr/sbin/imapfront-auth", "/nonexistent/imapfront-auth"},
		line:   exFatal("tlsd", 127, "unable to run /nonexistent/imapfront-auth: no such file or directory"), code: 127},
	{name: "bad-pwfile", svc: "submission-587", env: map[string]string{"CVM_PWFILE_PATH": "BASE/passwd-root"},
		line: exFatal("submission-587", 100, "daemon cannot read CVM_PWFILE_PATH BASE/passwd-root: cvm-pwfile runs as APPUSER"), code: 100},
}

// exFatal is prog's fatal line with exit code and err msg, without its
// newline.
func exFatal(prog string, code int, msg string) string {
	return strings.TrimSuffix(fatalLine(prog, code, msg), "\n")
}

// exBadEnv is c's env overrides with the fixture's directories in place.
func (f *exFixture) exBadEnv(c exBadConfig) map[string]string {
	m := map[string]string{}
	for k, v := range c.env {
		m[k] = strings.ReplaceAll(strings.ReplaceAll(v, "CERTS", f.certs), "BASE", f.base)
	}
	return m
}

// exEdit replaces every edit[0] with edit[1] in a copied script (BASE: the
// fixture's directory); the script must hold edit[0].
func (f *exFixture) exEdit(t *testing.T, p string, edit [2]string) {
	t.Helper()
	if edit[0] == "" {
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), edit[0]) {
		t.Fatalf("%s: no %q to edit", p, edit[0])
	}
	if err := os.WriteFile(p, []byte(strings.ReplaceAll(string(b), edit[0], strings.ReplaceAll(edit[1], "BASE", f.base))), 0o755); err != nil {
		t.Fatal(err)
	}
}

// TestExamplesShellRun runs each run.sh (the runit / daemontools form):
// start, one client, TERM.
func TestExamplesShellRun(t *testing.T) {
	f := exSetup(t)
	for _, svc := range exServices {
		t.Run(svc, func(t *testing.T) {
			port := freePort(t, "tcp4", "127.0.0.1:0")
			dir := filepath.Join(f.base, "sh-"+svc)
			f.exCopy(t, svc, dir, port, nil)
			cmd := exec.Command("/bin/sh", "./run.sh")
			cmd.Dir = dir
			cmd.Env = []string{"PATH=/usr/bin:/bin"} // run.sh takes PATH from ./env
			out := &syncBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			defer func() {
				syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("run.sh after TERM: %v\n%s", err, out)
					}
				case <-time.After(hangLimit):
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					t.Errorf("run.sh did not stop on TERM")
					<-done
				}
			}()
			if !waitFor(hangLimit, func() bool { return strings.Contains(out.String(), exListener(svc)+": info: start ") }) {
				t.Fatalf("run.sh did not start:\n%s", out)
			}
			f.exClient(t, svc, port)
			if !waitFor(hangLimit, func() bool { return strings.Contains(out.String(), exListener(svc)+": info: end conn=") }) {
				t.Errorf("no end line:\n%s", out)
			}
		})
	}
	// The same mistakes stop run.sh before it listens, with the same line
	// and code (the app's user is tlsd's to look up here).
	for _, c := range exBad {
		t.Run(c.name, func(t *testing.T) {
			line, code := c.line, c.code
			if c.name == "bad-appuser" {
				line, code = exFatal("tlsd", 100, `unknown user "tlschain-nosuchuser"`), 100
			}
			line = strings.ReplaceAll(strings.ReplaceAll(line, "CERTS", f.certs), "BASE", f.base)
			dir := filepath.Join(f.base, "sh-"+c.name)
			f.exCopy(t, c.svc, dir, freePort(t, "tcp4", "127.0.0.1:0"), f.exBadEnv(c))
			f.exEdit(t, filepath.Join(dir, "run.sh"), c.shEdit)
			ctx, cancel := context.WithTimeout(context.Background(), hangLimit) // a hang: run.sh listened
			defer cancel()
			cmd := exec.CommandContext(ctx, "/bin/sh", "./run.sh")
			cmd.Dir = dir
			cmd.Env = []string{"PATH=/usr/bin:/bin"}
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != code || string(out) != line+"\n" {
				t.Errorf("run.sh: %v %q, want exit %d and %q", err, out, code, line)
			}
		})
	}
}

// clientGrammar is logGrammar for the outbound example's smtp-client.
var clientGrammar = regexp.MustCompile(`^smtp-client` + logShape)

// TestExamplesOutbound sends a message with outbound-smtp's send (execline)
// and send.sh to a TLS-on-connect server (tlsd in front of mailfront).
func TestExamplesOutbound(t *testing.T) {
	f := exSetup(t)
	srv := serve(t, baseEnv("CERTFILE="+filepath.Join(f.certs, "server.crt"), "KEYFILE="+filepath.Join(f.certs, "server.key")),
		"127.0.0.1", "0", "tlsd", "/usr/sbin/mailfront", "smtp", "echo", "accept")
	dir := filepath.Join(f.base, "outbound-smtp")
	if out, err := exec.Command("cp", "-a", filepath.Join("..", "examples", "outbound-smtp"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	for k, v := range map[string]string{"HOST": "127.0.0.1", "PORT": strconv.Itoa(srv.Port), "SERVERNAME": "localhost",
		"CAFILE": filepath.Join(f.certs, "ca.crt"), "PATH": binDir + ":/usr/lib/execline/bin:/usr/bin:/bin"} {
		os.WriteFile(filepath.Join(dir, "env", k), []byte(v+"\n"), 0o644)
	}
	for i, script := range []string{"send", "send.sh"} {
		cmd := exec.Command(filepath.Join(dir, script)) // from another cwd: the script finds ./env itself
		cmd.Dir = f.base
		cmd.Stdin = strings.NewReader("Subject: outbound " + script + "\n\n.leading dot\nhello\n")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Errorf("%s: %v\n%s", script, err, out.String())
		}
		checkLog(t, script, out.String())
		for _, l := range lines(out.String()) { // the example's own client writes the format too
			if strings.HasPrefix(l, "smtp-client: ") && !clientGrammar.MatchString(l) {
				t.Errorf("%s: %q is not in the log format", script, l)
			}
		}
		if !strings.Contains(out.String(), `smtp-client: info: reply text="250 Received`) {
			t.Errorf("%s: message not taken:\n%s", script, out.String())
		}
		if !waitFor(hangLimit, func() bool {
			return strings.Count(srv.Stderr.String(), "tcpserver: info: end conn=") == i+1 &&
				strings.Contains(srv.Stderr.String(), "Subject: outbound "+script)
		}) {
			t.Errorf("%s: server log:\n%s", script, srv.Stderr)
		}
	}
}

// TestExamplesLayout checks the files every service directory must have,
// and the s6-rc source definitions (compiled when s6-rc-compile exists).
func TestExamplesLayout(t *testing.T) {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%v", err)
		}
		return string(b)
	}
	exe := func(p string) {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s: missing or not executable", p)
		}
	}
	src := t.TempDir()
	for _, svc := range exServices {
		d := filepath.Join("..", "examples", svc)
		for _, p := range []string{"run", "finish", "log/run", "run.sh", "s6-rc/" + svc + "/run", "s6-rc/" + svc + "/finish", "s6-rc/" + svc + "-log/run"} {
			exe(filepath.Join(d, p))
		}
		for _, p := range []string{"run", "finish", "log/run"} {
			if !strings.HasPrefix(read(filepath.Join(d, p)), "#!/usr/bin/execlineb -") {
				t.Errorf("%s/%s: not an execline script", svc, p)
			}
		}
		for _, k := range []string{"PORT", "IP", "CERTFILE", "KEYFILE", "LOGDIR", "LOGUSER", "PATH"} {
			if _, err := os.Stat(filepath.Join(d, "env", k)); err != nil {
				t.Errorf("%s: no env/%s", svc, k)
			}
		}
		want := map[string]string{
			"notification-fd": "3\n", "log/notification-fd": "3\n",
			"s6-rc/" + svc + "/type": "longrun\n", "s6-rc/" + svc + "/notification-fd": "3\n",
			"s6-rc/" + svc + "/producer-for": svc + "-log\n",
			"s6-rc/" + svc + "-log/type":     "longrun\n", "s6-rc/" + svc + "-log/consumer-for": svc + "\n",
			"s6-rc/" + svc + "-log/pipeline-name": svc + "-pipeline\n", "s6-rc/" + svc + "-log/notification-fd": "3\n",
		}
		for p, w := range want {
			if got := read(filepath.Join(d, p)); got != w {
				t.Errorf("%s/%s = %q, want %q", svc, p, got, w)
			}
		}
		if !strings.Contains(read(filepath.Join(d, "s6-rc", svc, "run")), "\ncd /etc/tlschain/"+svc+"\n./run\n") {
			t.Errorf("%s: s6-rc run does not run /etc/tlschain/%s/run", svc, svc)
		}
		if !strings.Contains(read(filepath.Join(d, "s6-rc", svc+"-log", "run")), "\ncd /etc/tlschain/"+svc+"/log\n./run\n") {
			t.Errorf("%s: s6-rc logger run does not run /etc/tlschain/%s/log/run", svc, svc)
		}
		exCheckMatches(t, svc, read(filepath.Join(d, "run")), read(filepath.Join(d, "run.sh")))
		// One finish for all: the same script but for the name; finish
		// may sleep 60 s, so s6-supervise must let it (timeout-finish).
		if got, want := read(filepath.Join(d, "finish")), strings.ReplaceAll(read(filepath.Join("..", "examples", "smtp-25", "finish")), "smtp-25", svc); got != want {
			t.Errorf("%s/finish differs from smtp-25/finish beyond the name", svc)
		}
		for _, p := range []string{"timeout-finish", "s6-rc/" + svc + "/timeout-finish"} {
			if got := read(filepath.Join(d, p)); got != "70000\n" {
				t.Errorf("%s/%s = %q, want 70000 (finish sleeps up to 60 s)", svc, p, got)
			}
		}
		if out, err := exec.Command("cp", "-a", filepath.Join(d, "s6-rc", svc), filepath.Join(d, "s6-rc", svc+"-log"), src).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	if _, err := exec.LookPath("s6-rc-compile"); err != nil {
		t.Log("s6-rc-compile not installed (not packaged in Debian bookworm): structure checked only")
		return
	}
	if out, err := exec.Command("s6-rc-compile", filepath.Join(t.TempDir(), "compiled"), src).CombinedOutput(); err != nil {
		t.Errorf("s6-rc-compile: %v\n%s", err, out)
	}
}

// exCheckMatches checks that the run scripts check the configuration they
// run: run's "tlsd --check" line and run.sh's carry the options and prog
// of the tlsd in their chain; with tlsserver, "tlsserver --check" carries
// the whole line tlsserver runs (but -d 3 in run).
func exCheckMatches(t *testing.T, svc, run, runsh string) {
	t.Helper()
	// run (execline): foreground { tlsd --check OPTS PROG } … then the
	// chain, one program a line: tcpserver …, tlsd OPTS, PROG …; or
	// foreground { tlsserver --check OPTS PROG } … tlsserver -d 3 OPTS, PROG ….
	var check, chain string
	ls := strings.Split(run, "\n")
	for i, l := range ls {
		for _, p := range []string{"tlsd", "tlsserver"} {
			if c, ok := strings.CutPrefix(l, "foreground { "+p+" --check "); ok {
				check = strings.TrimSuffix(c, " }")
			}
		}
		if i+1 < len(ls) {
			if c, ok := strings.CutPrefix(l, "tlsd "); ok {
				chain = c + " " + strings.Fields(ls[i+1])[0]
			}
			if c, ok := strings.CutPrefix(l, "tlsserver -d 3 "); ok {
				chain = c + " " + strings.Fields(ls[i+1])[0]
			}
		}
	}
	if check == "" || check != chain {
		t.Errorf("%s/run: --check %q, chain %q", svc, check, chain)
	}
	// run.sh: tlsd --check OPTS PROG || exit, then exec tcpserver … tlsd
	// OPTS PROG …; or tlsserver --check LINE || exit, then exec tlsserver LINE ….
	check, chain = "", ""
	for _, l := range strings.Split(runsh, "\n") {
		for _, p := range []string{"tlsd", "tlsserver"} {
			if c, ok := strings.CutPrefix(l, p+" --check "); ok {
				check = strings.TrimSuffix(c, " || exit")
			}
		}
		if _, c, ok := strings.Cut(l, `"$PORT" tlsd `); ok && strings.HasPrefix(l, "exec tcpserver ") {
			chain = c
		}
		if c, ok := strings.CutPrefix(l, "exec tlsserver "); ok {
			chain = c
		}
	}
	if check == "" || !strings.HasPrefix(chain+" ", check+" ") {
		t.Errorf("%s/run.sh: --check %q, chain %q", svc, check, chain)
	}
}
