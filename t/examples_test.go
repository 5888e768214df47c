package t

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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
// want (or 15 s pass), then closes stdin and waits up to 5 s more.
func exTalk(t *testing.T, steps []exStep, want string, path string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
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
		if !waitFor(15*time.Second, func() bool { return strings.Count(out.String(), st.after) >= st.n }) {
			t.Errorf("%s %v: no %d x %q before %q in:\n%s", path, args, st.n, st.after, st.send, out)
			break
		}
		in.Write([]byte(st.send))
	}
	ok := waitFor(15*time.Second, func() bool { return strings.Contains(out.String(), want) })
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

// ready waits until s6-supervise runs the service, then until it is up and
// ready (s6-svwait -U: the notification-fd newline from tcpserver -d 3).
func (s *exS6) ready(name string) {
	s.t.Helper()
	if !waitFor(10*time.Second, func() bool { return exec.Command("s6-svstat", s.svc(name)).Run() == nil }) {
		s.t.Fatalf("%s: s6-supervise did not start", name)
	}
	if out, err := exec.Command("s6-svwait", "-U", "-t", "15000", s.svc(name)).CombinedOutput(); err != nil {
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
	// The failure cases: smtps-465 with no certificate, an unknown user,
	// a port some other process holds.
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	f.exCopy(t, "smtps-465", filepath.Join(scan, "fail-nocert"), freePort(t, "tcp4", "127.0.0.1:0"), map[string]string{"CERTFILE": "/nonexistent/cert.pem"})
	f.exCopy(t, "smtps-465", filepath.Join(scan, "fail-nouser"), freePort(t, "tcp4", "127.0.0.1:0"), map[string]string{"APPUSER": "tlschain-nosuchuser"})
	f.exCopy(t, "smtps-465", filepath.Join(scan, "fail-inuse"), held.Addr().(*net.TCPAddr).Port, nil)

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
			if !waitFor(5*time.Second, func() bool {
				l := f.exLog(svc)
				return strings.Contains(l, "tcpserver: info: accept pid ") && strings.Contains(l, "tcpserver: info: end pid ")
			}) {
				t.Errorf("%s: log has no accept/end lines:\n%s", svc, f.exLog(svc))
			}
			if svc == "smtp-25" || svc == "submission-587" || svc == "pop3-110" || svc == "imap-143" {
				if !strings.Contains(f.exLog(svc), "ucspi-starttls: info: pid ") {
					t.Errorf("%s: log has no starttls line:\n%s", svc, f.exLog(svc))
				}
			}
			for _, l := range lines(f.exLog(svc)) {
				if !strings.HasPrefix(l, "@4000") {
					t.Errorf("%s: log line without a TAI64N stamp: %q", svc, l)
				}
			}
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
		if !waitFor(10*time.Second, func() bool { p := s6.pid(svc); return p != 0 && p != old }) {
			t.Fatalf("no new pid after s6-svc -t (old %d)", old)
		}
		s6.ready(svc)
		t.Logf("restart: pid %d -> %d, ready in %v", old, s6.pid(svc), time.Since(t0).Round(time.Millisecond))
		f.exClient(t, svc, ports[svc])
		if n := strings.Count(f.exLog(svc), "tcpserver: info: start "); n != 2 {
			t.Errorf("want 2 start lines after one restart, got %d:\n%s", n, f.exLog(svc))
		}
	})

	t.Run("failures", func(t *testing.T) {
		cases := []struct{ name, line string }{
			{"fail-nocert", "smtps-465: fatal: unable to read CERTFILE /nonexistent/cert.pem"},
			{"fail-nouser", "s6-envuidgid: fatal: unknown user: tlschain-nosuchuser"},
			{"fail-inuse", "tcpserver: fatal: unable to bind 127.0.0.1 port " + strconv.Itoa(held.Addr().(*net.TCPAddr).Port) + ": address already in use"},
		}
		// Each is held down within a bounded time…
		for _, c := range cases {
			if !waitFor(15*time.Second, func() bool {
				l := f.exLog(c.name)
				return !s6.up(c.name) && (strings.Contains(l, "service held down") || strings.Contains(l, "s6-permafailon"))
			}) {
				t.Errorf("%s: not held down:\n%s", c.name, f.exLog(c.name))
			}
		}
		counts := map[string]int{}
		for _, c := range cases {
			counts[c.name] = strings.Count(f.exLog(c.name), c.line)
		}
		// …and stays down: no new attempt in the next 3 s (s6-supervise
		// would restart a spinning service every second).
		time.Sleep(3 * time.Second)
		for _, c := range cases {
			log := f.exLog(c.name)
			n := strings.Count(log, c.line)
			t.Logf("%s: %d attempt(s); log:\n%s", c.name, n, log)
			if n != counts[c.name] {
				t.Errorf("%s: still restarting: %d -> %d attempts", c.name, counts[c.name], n)
			}
			if s6.up(c.name) {
				t.Errorf("%s: up, want held down", c.name)
			}
			if c.name != "fail-inuse" && !strings.Contains(log, "smtps-465: fatal: configuration error (exit ") {
				t.Errorf("%s: no held-down line naming the exit code", c.name)
			}
			max := 1
			if c.name == "fail-inuse" {
				max = 3 // a busy port may clear: three tries, then held down
			}
			if n < 1 || n > max {
				t.Errorf("%s: %d lines %q, want 1..%d", c.name, n, c.line, max)
			}
			for _, l := range lines(log) {
				if strings.Contains(l, ": fatal: ") && !strings.Contains(l, c.line) && !strings.Contains(l, "held down") {
					t.Errorf("%s: unexpected fatal line %q", c.name, l)
				}
			}
		}
	})
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
				case <-time.After(5 * time.Second):
					syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					t.Errorf("run.sh did not stop on TERM")
					<-done
				}
			}()
			if !waitFor(10*time.Second, func() bool { return strings.Contains(out.String(), "tcpserver: info: start ") }) {
				t.Fatalf("run.sh did not start:\n%s", out)
			}
			f.exClient(t, svc, port)
			if !waitFor(5*time.Second, func() bool { return strings.Contains(out.String(), "tcpserver: info: end pid ") }) {
				t.Errorf("no end line:\n%s", out)
			}
		})
	}
	t.Run("missing-cert", func(t *testing.T) {
		dir := filepath.Join(f.base, "sh-nocert")
		f.exCopy(t, "smtps-465", dir, freePort(t, "tcp4", "127.0.0.1:0"), map[string]string{"CERTFILE": "/nonexistent/cert.pem"})
		cmd := exec.Command("/bin/sh", "./run.sh")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 100 ||
			string(out) != "smtps-465: fatal: unable to read CERTFILE /nonexistent/cert.pem\n" {
			t.Errorf("run.sh without a certificate: %v %q", err, out)
		}
	})
}

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
		if !strings.Contains(out.String(), "smtp-client: info: server 250 Received") {
			t.Errorf("%s: message not taken:\n%s", script, out.String())
		}
		if !waitFor(5*time.Second, func() bool {
			return strings.Count(srv.Stderr.String(), "tcpserver: info: end pid") == i+1 &&
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
