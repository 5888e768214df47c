package t

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The README's walkthrough, "From the demo to a real 587 service", run as
// written: the test reads the section's ```sh blocks from README.md, so a
// change there changes what runs here. Each block runs in one sh -e from the
// repository root, in order, with these substitutions only:
//
//   - /etc/tlschain, /run/service and /opt/tlschain are under a scratch root
//     (a private s6-svscan watches its run/service);
//   - make demo and make check are skipped: they are the rest of the suite
//     (and make demo serves until Ctrl-C);
//   - make install installs the binaries under test (-o build BIN=…) and
//     builds the man pages in a temp dir (OUT=…);
//   - $EDITOR is a script that writes the test's value into each file it
//     is given (a free loopback port, the test certificates, the scratch
//     root's paths) and fails on a name it does not know;
//   - swaks talks to 127.0.0.1 and the service's port, not mail.example.org:587.
//
// The users of step 3 are created for real (adduser --system is a no-op
// for a user that exists) and removed afterwards if the test created them.

const readmeSection = "## From the demo to a real 587 service"

// readmeBlocks returns the ```sh blocks of the README's walkthrough, each
// a list of command lines.
func readmeBlocks(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n"+readmeSection+"\n")
	if i < 0 {
		t.Fatalf("README.md has no %q", readmeSection)
	}
	s = s[i+len(readmeSection)+2:]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	var blocks [][]string
	var cur []string
	in := false
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		switch {
		case !in && l == "```sh":
			in, cur = true, nil
		case in && l == "```":
			in = false
			blocks = append(blocks, cur)
		case in && l != "" && !strings.HasPrefix(l, "#"):
			cur = append(cur, l)
		}
	}
	if in || len(blocks) == 0 {
		t.Fatalf("README.md %q: no ```sh blocks, or one not closed", readmeSection)
	}
	return blocks
}

func TestReadme587(t *testing.T) {
	needRoot(t)
	need(t, "make", "adduser", "deluser", "s6-svscan", "s6-svscanctl", "s6-svwait", "s6-svstat", "s6-envdir",
		"s6-envuidgid", "s6-log", "execlineb", "swaks", "/usr/sbin/mailfront", "/usr/bin/cvm-pwfile")
	blocks := readmeBlocks(t)
	root := exPublicTemp(t) // qmaild reads the password file, nobody writes the log
	certs := certDir(t)
	port := freePort(t, "tcp4", "127.0.0.1:0")
	for _, d := range []string{"run/service", "var/log"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The users the walkthrough creates, removed at the end if they are new
	// (registered first: runs after s6 and the service have stopped).
	for _, b := range blocks {
		for _, l := range b {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "adduser" {
				name := f[len(f)-1]
				if exec.Command("id", "-u", name).Run() == nil {
					continue
				}
				t.Cleanup(func() {
					exec.Command("deluser", "--system", name).Run()
					exec.Command("delgroup", "--system", name).Run()
				})
			}
		}
	}

	// $EDITOR: the values this test needs, for exactly the files the
	// README names (and a record of them).
	values := map[string]string{
		"CERTFILE": filepath.Join(certs, "server.crt"), "KEYFILE": filepath.Join(certs, "server.key"),
		"TLS_UID": "tlsd", "TLS_GID": "tlsd", "APPUSER": "qmaild",
		"IP": "127.0.0.1", "PORT": strconv.Itoa(port), "LOCALNAME": "localhost",
		"PATH":            filepath.Join(root, "opt/tlschain/bin") + ":/usr/lib/execline/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LOGDIR":          filepath.Join(root, "var/log/tlschain/submission-587"),
		"CVM_PWFILE_PATH": filepath.Join(root, "etc/tlschain/submission-587/passwd"),
	}
	edited := filepath.Join(root, "edited")
	editor := "#!/bin/sh\nfor f do\n\tcase $f in\n"
	for k, v := range values {
		editor += "\t" + k + ") v='" + v + "' ;;\n"
	}
	editor += "\t*) echo \"editor: no value for $f\" >&2; exit 1 ;;\n\tesac\n" +
		"\tprintf '%s\\n' \"$v\" >\"$f\" && echo \"$f\" >>" + edited + " || exit 1\ndone\n"
	if err := os.WriteFile(filepath.Join(root, "editor"), []byte(editor), 0o755); err != nil {
		t.Fatal(err)
	}

	exStartS6(t, filepath.Join(root, "run/service"))
	env := baseEnv("EDITOR="+filepath.Join(root, "editor"), "HOME="+root)
	paths := strings.NewReplacer("/etc/tlschain", root+"/etc/tlschain", "/run/service", root+"/run/service",
		"/opt/tlschain", root+"/opt/tlschain", "mail.example.org:587", "127.0.0.1:"+strconv.Itoa(port))
	makeInstall := regexp.MustCompile(`^make install( |$)`)
	var swaksOut string
	for i, b := range blocks {
		var script []string
		for _, l := range b {
			switch {
			case l == "make demo" || l == "make check":
				t.Logf("block %d: skipped %q (the rest of the suite)", i+1, l)
				continue
			case makeInstall.MatchString(l):
				l = "make -o build install BIN=" + binDir + " OUT=" + filepath.Join(root, "build") + l[len("make install"):]
			case strings.HasPrefix(l, "make"):
				t.Fatalf("block %d: %q: this test knows make install, make demo and make check only", i+1, l)
			}
			script = append(script, paths.Replace(l))
		}
		if len(script) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		cmd := exec.CommandContext(ctx, "/bin/sh", "-e", "-x", "-c", strings.Join(script, "\n"))
		cmd.Dir = ".."
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		log, _ := os.ReadFile(filepath.Join(values["LOGDIR"], "current"))
		if err != nil {
			t.Fatalf("README block %d failed: %v\n%s\nservice log:\n%s", i+1, err, out, log)
		}
		t.Logf("README block %d:\n%s", i+1, out)
		if strings.Contains(string(out), "+ swaks ") {
			swaksOut = string(out)
		}
	}

	// The editor got every file the service needed changed.
	b, _ := os.ReadFile(edited)
	got := map[string]bool{}
	for _, f := range lines(string(b)) {
		got[f] = true
	}
	var missing []string
	for k := range values {
		if !got[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("README step 4 does not list %v among the files to edit", missing)
	}
	// Step 6 sent the message through STARTTLS and AUTH.
	for _, want := range []string{" -> STARTTLS", " ~> AUTH PLAIN", "<~  235 ", "<~  250 Received"} {
		if !strings.Contains(swaksOut, want) {
			t.Errorf("swaks: no %q in:\n%s", want, swaksOut)
		}
	}
	log, _ := os.ReadFile(filepath.Join(values["LOGDIR"], "current"))
	if !strings.Contains(string(log), "SASL AUTH PLAIN username=alice") {
		t.Errorf("service log has no AUTH by alice:\n%s", log)
	}
}
