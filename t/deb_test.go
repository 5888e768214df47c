package t

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// ucspiTCPNames are the programs ucspi-tcp-ipv6 installs in /usr/bin that
// tlschain has too: the package keeps them in /usr/lib/tlschain/bin only.
var ucspiTCPNames = map[string]bool{"tcpserver": true, "tcpclient": true, "tcprules": true, "tcprulescheck": true}

// internalNames are the programs only the spawners start (found beside
// them): in /usr/lib/tlschain/bin only, with no /usr/bin link.
var internalNames = map[string]bool{"tlswrap": true, "tlskeyholder": true}

// TestDebPackage builds the .deb with make deb (dpkg-buildpackage and
// lintian, which must find no error), checks its file list against
// ucspi-tcp-ipv6's for a path both would install, checks the layout, the
// version and the maintainer scripts, unpacks it with dpkg -x into a
// scratch directory and runs a TLS chain from the unpacked binaries
// against openssl s_client. It never installs the package.
func TestDebPackage(t *testing.T) {
	need(t, "make", "dpkg-buildpackage", "dpkg-deb", "lintian", "dh", "go-md2man", "openssl")
	if _, err := exec.Command("dpkg", "-L", "ucspi-tcp-ipv6").Output(); err != nil {
		if os.Getenv("CI") != "" || os.Getenv("TLSCHAIN_REQUIRE_TOOLS") == "1" {
			t.Fatal("ucspi-tcp-ipv6 is not installed (make check installs it)")
		}
		t.Skip("ucspi-tcp-ipv6 is not installed: nothing to compare the file list with")
	}
	out := t.TempDir()
	start := time.Now()
	mk := exec.Command("make", "-s", "-C", "..", "deb", "OUT="+out)
	if b, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make deb: %v\n%s", err, b)
	}
	t.Logf("make deb (dpkg-buildpackage and lintian) took %s", time.Since(start).Round(100*time.Millisecond))

	v, err := os.ReadFile("../VERSION")
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(v))
	debs, _ := filepath.Glob(filepath.Join(out, "tlschain_"+version+"_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb left %q in %s, not one tlschain_%s_<arch>.deb", debs, out, version)
	}
	deb := debs[0]
	if fi, err := os.Stat(deb); err == nil {
		t.Logf("%s: %d bytes", filepath.Base(deb), fi.Size())
	}
	field := func(name string) string {
		b, err := exec.Command("dpkg-deb", "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(b))
	}
	if got := field("Version"); got != version {
		t.Errorf("package version %q, VERSION says %q", got, version)
	}
	if d := field("Depends"); strings.Contains(d, "libc") || !strings.Contains(d, "adduser") {
		t.Errorf("Depends: %q (want adduser for the postinst, no libc)", d)
	}

	// Unpack, and compare with ucspi-tcp-ipv6's files.
	// Not t.TempDir: its parent is 0700, and the engine runs as another
	// uid that must reach tlswrap.
	x, err := os.MkdirTemp("", "tlschain-deb-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(x) })
	os.Chmod(x, 0o755)
	if b, err := exec.Command("dpkg", "-x", deb, x).CombinedOutput(); err != nil {
		t.Fatalf("dpkg -x: %v\n%s", err, b)
	}
	ours := map[string]bool{}
	filepath.Walk(x, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			ours[strings.TrimPrefix(p, x)] = true
		}
		return nil
	})
	theirs, _ := exec.Command("dpkg", "-L", "ucspi-tcp-ipv6").Output()
	for _, p := range lines(string(theirs)) {
		if ours[p] {
			t.Errorf("both tlschain and ucspi-tcp-ipv6 install %s", p)
		}
	}

	// Layout: every program in /usr/lib/tlschain/bin, prints the version;
	// /usr/bin links for the names ucspi-tcp lacks but the internal ones; a
	// man page for each.
	progs, _ := filepath.Glob("../cmd/*")
	lib := filepath.Join(x, "usr/lib/tlschain/bin")
	for _, c := range progs {
		prog := filepath.Base(c)
		r := run(t, nil, "", filepath.Join(lib, prog), "--version")
		if r.Code != 0 || r.Stdout != prog+" "+version+"\n" {
			t.Errorf("%s --version: exit %d, %q; want %q", prog, r.Code, r.Stdout, prog+" "+version+"\n")
		}
		link, err := os.Readlink(filepath.Join(x, "usr/bin", prog))
		switch {
		case ucspiTCPNames[prog] && err == nil:
			t.Errorf("/usr/bin/%s is installed: it is ucspi-tcp's", prog)
		case internalNames[prog] && err == nil:
			t.Errorf("/usr/bin/%s is installed: it is an internal program", prog)
		case !ucspiTCPNames[prog] && !internalNames[prog] && link != "../lib/tlschain/bin/"+prog:
			t.Errorf("/usr/bin/%s -> %q, %v; want ../lib/tlschain/bin/%s", prog, link, err, prog)
		}
		page := "/usr/share/man/man1/" + prog + ".1.gz"
		if ucspiTCPNames[prog] {
			page = "/usr/lib/tlschain/share/man/man1/" + prog + ".1"
		}
		if !ours[page] {
			t.Errorf("no man page %s", page)
		}
	}
	for _, f := range []string{"/usr/share/doc/tlschain/README.md", "/usr/share/doc/tlschain/doc/tlsd.md",
		"/usr/share/doc/tlschain/examples/submission-587/run", "/usr/share/doc/tlschain/copyright"} {
		if !ours[f] {
			t.Errorf("no %s", f)
		}
	}
	ctl := t.TempDir()
	if b, err := exec.Command("dpkg-deb", "-e", deb, ctl).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, b)
	}
	postinst, _ := os.ReadFile(filepath.Join(ctl, "postinst"))
	postrm, _ := os.ReadFile(filepath.Join(ctl, "postrm"))
	if !strings.Contains(string(postinst), "adduser --system") || !strings.Contains(string(postrm), "deluser --system") {
		t.Errorf("postinst/postrm do not create/remove the engine's system user:\n%s\n%s", postinst, postrm)
	}
	if t.Failed() {
		var l []string
		for p := range ours {
			l = append(l, p)
		}
		sort.Strings(l)
		t.Logf("files:\n%s", strings.Join(l, "\n"))
	}

	// A TLS chain from the unpacked binaries: tcpserver from the library
	// directory, tlsd through its /usr/bin link (it finds its engine,
	// tlswrap, beside the file the link points to).
	dir := certDir(t)
	env := []string{"PATH=" + filepath.Join(x, "usr/bin") + ":/usr/bin:/bin",
		"CERTFILE=" + dir + "/server.crt", "KEYFILE=" + dir + "/server.key"}
	s := serveProg(t, env, filepath.Join(lib, "tcpserver"), "-1", "127.0.0.1", "0", "tlsd", "sh", "-c", "echo hello from the package")
	r := sClient(t, s.Addr, "-CAfile", dir+"/ca.crt", "-verify_return_error", "-verify_hostname", "localhost")
	if !strings.Contains(r.Stdout, "hello from the package") || !strings.Contains(r.Stdout, "Verify return code: 0 (ok)") {
		t.Errorf("s_client through the unpacked chain (exit %d):\n%s\n%s\ntcpserver: %s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
	// tlsserver through its /usr/bin link: it too finds the engine beside
	// the file the link points to.
	s = serveProg(t, env, filepath.Join(x, "usr/bin/tlsserver"), "-1", "127.0.0.1", "0", "sh", "-c", "echo hello from tlsserver")
	r = sClient(t, s.Addr, "-CAfile", dir+"/ca.crt", "-verify_return_error", "-verify_hostname", "localhost")
	if !strings.Contains(r.Stdout, "hello from tlsserver") || !strings.Contains(r.Stdout, "Verify return code: 0 (ok)") {
		t.Errorf("s_client to the unpacked tlsserver (exit %d):\n%s\n%s\ntlsserver: %s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
}
