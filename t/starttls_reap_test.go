package t

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// zombies lists the zombie children of pid.
func zombies(pid string) []string {
	var z []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		b, err := os.ReadFile("/proc/" + d.Name() + "/status")
		if err != nil {
			continue
		}
		st := string(b)
		if strings.Contains(st, "\nPPid:\t"+pid+"\n") && strings.Contains(st, "\nState:\tZ") {
			z = append(z, d.Name())
		}
	}
	return z
}

// TestStarttlsReapsEngine: under tlsd -n the engine and the key holder are
// ucspi-starttls's children (tlsd spawned them, then exec'd it). The key
// holder ends right after the handshake; during the TLS session that
// follows it must not linger as a zombie (doc/design.md §3.3: reap it).
func TestStarttlsReapsEngine(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
	c := stDial(t, s)
	c.reply()
	c.send("STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("EHLO client.test\r\n")
	c.reply()
	pid := c.pid()
	// The session is live (the TLS app waits for the next command); give
	// the key holder time to end and to be reaped.
	if !waitFor(hangLimit, func() bool { return len(zombies(pid)) == 0 }) {
		t.Errorf("zombie children of ucspi-starttls %s during the session: %v", pid, zombies(pid))
	}
	c.send("QUIT\r\n")
	c.reply()
	if code := c.end(); code != 0 {
		t.Errorf("exit %d; log:\n%s", code, s.Stderr)
	}
}

// TestStarttlsSweepsCleartext: nothing of the cleartext phase survives the
// switch. The cleartext linger.sh leaves three processes behind — a
// background child, a double-forked orphan, a setsid -f orphan in its
// own session — each waiting for the fresh app, to write
// "250-INJECTED-<kind>" into its stdout through /proc/<pid>/fd/1. When
// the fresh app answers the first command inside TLS, none of the three
// may exist any more (not even as a zombie), no injected line may reach
// the client, and none may ever have seen the fresh app. Then the fresh
// app leaves two orphans that exit at once: ucspi-starttls, their
// subreaper, must reap them during the session.
func TestStarttlsSweepsCleartext(t *testing.T) {
	need(t, "setsid")
	dir := t.TempDir()
	s, _ := stServe(t, []string{"UCSPITLS=", "LINGER_DIR=" + dir}, "-n", "ucspi-starttls", "smtp", testdata("linger.sh"))
	c := stDial(t, s)
	if l := c.line(); l != "220 linger ESMTP" {
		t.Fatalf("greeting %q; log:\n%s", l, s.Stderr)
	}
	kinds := []string{"plain", "double", "setsid"}
	pids := map[string]string{}
	for _, k := range kinds {
		b, _ := os.ReadFile(filepath.Join(dir, "pid-"+k))
		pids[k] = strings.TrimSpace(string(b))
		if !lingering(pids[k], dir) {
			t.Fatalf("the %s process (pid %q) is not running before STARTTLS", k, pids[k])
		}
	}
	c.send("STARTTLS\r\n")
	if l := c.line(); l != "220 2.0.0 Ready to start TLS" {
		t.Fatalf("STARTTLS: %q", l)
	}
	c.startTLS(localhostTLS(t))
	c.send("EHLO client.test\r\n")
	if r := c.reply(); len(r) != 1 || r[0] != "250 fresh" {
		t.Errorf("EHLO inside TLS: %q", r)
	}
	// The fresh app has answered, so it runs: the sweep is over.
	for _, k := range kinds {
		if lingering(pids[k], dir) {
			t.Errorf("the cleartext phase's %s process (pid %s) outlived the switch", k, pids[k])
		}
	}
	c.send("NOOP\r\n")
	if r := c.reply(); len(r) != 1 || r[0] != "250 fresh" {
		t.Errorf("NOOP inside TLS: %q", r)
	}
	pid := c.pid()
	c.send("ORPHAN\r\n")
	if r := c.reply(); len(r) != 1 || r[0] != "250 orphaned" {
		t.Errorf("ORPHAN: %q", r)
	}
	if !waitFor(hangLimit, func() bool { return len(zombies(pid)) == 0 }) {
		t.Errorf("zombie children of ucspi-starttls %s during the session: %v", pid, zombies(pid))
	}
	c.send("QUIT\r\n")
	if out := c.line() + c.rest(); out != "221 bye" {
		t.Errorf("QUIT: %q", out)
	}
	if code := c.end(); code != 0 {
		t.Errorf("exit %d; log:\n%s", code, s.Stderr)
	}
	for _, k := range kinds {
		if fileExists(filepath.Join(dir, "alive-"+k)) {
			t.Errorf("the cleartext phase's %s process saw the fresh app", k)
		}
	}
}

// lingering says whether pid is a process of linger.sh (its environment
// names dir) or a zombie.
func lingering(pid, dir string) bool {
	st, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return false
	}
	if strings.Contains(string(st), "\nState:\tZ") {
		return true
	}
	env, _ := os.ReadFile("/proc/" + pid + "/environ")
	return bytes.Contains(append([]byte{0}, env...), []byte("\x00LINGER_DIR="+dir+"\x00"))
}

// TestStarttlsNotDumpable: the cleartext app runs under ucspi-starttls's
// own uid, and a dumpable process's /proc/<pid>/fd and environ are open
// to every process of that uid — our pipes to the engine among them.
// ucspi-starttls clears its dumpable flag, so the app (peek.sh, uid
// 65534) finds its parent's /proc entries closed, while the flag's reset
// at exec leaves the app's own entries as usual.
func TestStarttlsNotDumpable(t *testing.T) {
	needRoot(t)
	s, _ := stServe(t, []string{"UCSPITLS=", "TLS_UID=4321", "TLS_GID=4321"},
		"-n", "-u", "65534", "-g", "65534", "ucspi-starttls", "smtp", testdata("peek.sh"))
	c := stDial(t, s)
	if l := c.line(); l != "220 peek ESMTP" {
		t.Fatalf("greeting %q; log:\n%s", l, s.Stderr)
	}
	c.send("EHLO client.test\r\n")
	r := c.reply()
	if len(r) == 0 || r[0] != "250-PEEK uid=65534 fd=denied environ=denied" {
		t.Errorf("the cleartext app looked into ucspi-starttls: %q", r)
	}
	c.send("QUIT\r\n")
	c.line()
	c.end()
}
