package t

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// pdStatus returns the Uid, Gid, Groups and NoNewPrivs lines of a
// /proc/PID/status text, Groups sorted.
func pdStatus(s string) map[string]string {
	m := map[string]string{}
	for _, l := range lines(s) {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch k {
		case "Uid", "Gid", "NoNewPrivs":
			m[k] = strings.Join(strings.Fields(v), " ")
		case "Groups":
			g := strings.Fields(v)
			sort.Strings(g)
			m[k] = strings.Join(g, " ")
		}
	}
	return m
}

func pdCheck(t *testing.T, what string, res result, uid, gid, groups, nnp string) {
	t.Helper()
	if res.Code != 0 {
		t.Errorf("%s: exit %d, stderr %q", what, res.Code, res.Stderr)
		return
	}
	m := pdStatus(res.Stdout)
	want := map[string]string{
		"Uid":        strings.Repeat(uid+" ", 3) + uid,
		"Gid":        strings.Repeat(gid+" ", 3) + gid,
		"Groups":     groups,
		"NoNewPrivs": nnp,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s: %s %q, want %q", what, k, m[k], v)
		}
	}
}

func TestPrivdropNumbers(t *testing.T) {
	needRoot(t)
	res := run(t, baseEnv(), "", bin("privdrop"), "-u", "65534", "-g", "65534", "cat", "/proc/self/status")
	pdCheck(t, "-u -g", res, "65534", "65534", "65534", "0")
	res = run(t, baseEnv(), "", bin("privdrop"), "-n", "-u", "65534", "-g", "65534", "cat", "/proc/self/status")
	pdCheck(t, "-n", res, "65534", "65534", "65534", "1")
	res = run(t, baseEnv(), "", bin("privdrop"), "-u", "65534", "-g", "65534", "-G", "1,2,3", "cat", "/proc/self/status")
	pdCheck(t, "-G", res, "65534", "65534", "1 2 3", "0")
	// -g alone keeps the uid and resets the groups.
	res = run(t, baseEnv(), "", bin("privdrop"), "-g", "7", "cat", "/proc/self/status")
	pdCheck(t, "-g alone", res, "0", "7", "7", "0")
}

// -U takes UID, GID and GIDLIST from the environment and removes them.
func TestPrivdropFromEnv(t *testing.T) {
	needRoot(t)
	env := baseEnv("UID=65534", "GID=65533", "GIDLIST=5,6", "KEEP=1")
	res := run(t, env, "", bin("privdrop"), "-U", "sh", "-c", `cat /proc/$$/status; env`)
	pdCheck(t, "-U", res, "65534", "65533", "5 6", "0")
	m := envMap(res.Stdout)
	for _, k := range []string{"UID", "GID", "GIDLIST"} {
		if v, ok := m[k]; ok {
			t.Errorf("%s=%q reached prog", k, v)
		}
	}
	if m["KEEP"] != "1" {
		t.Errorf("KEEP=%q, want 1", m["KEEP"])
	}
	res = run(t, baseEnv("GID=1"), "", bin("privdrop"), "-U", "true")
	if res.Code != 100 || res.Stderr != fatalLine("privdrop", 100, "UID not set") {
		t.Errorf("-U without UID: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// A user name sets the uid, the primary gid and the user's groups from
// /etc/passwd and /etc/group, as initgroups(3) does.
func TestPrivdropUserName(t *testing.T) {
	needRoot(t)
	need(t, "id")
	for _, user := range []string{"daemon", "nobody"} {
		uid, err1 := exec.Command("id", "-u", user).Output()
		gid, err2 := exec.Command("id", "-g", user).Output()
		groups, err3 := exec.Command("id", "-G", user).Output()
		if err1 != nil || err2 != nil || err3 != nil {
			t.Logf("no user %s here", user)
			continue
		}
		g := strings.Fields(string(groups))
		sort.Strings(g)
		res := run(t, baseEnv(), "", bin("privdrop"), "-u", user, "cat", "/proc/self/status")
		pdCheck(t, user, res, strings.TrimSpace(string(uid)), strings.TrimSpace(string(gid)), strings.Join(g, " "), "0")
	}
}

// A user with supplementary groups, from a private passwd and group file
// bind-mounted in a new mount namespace: gid from passwd, then every group
// that lists the user; -g and -G override.
func TestPrivdropUserGroups(t *testing.T) {
	needRoot(t)
	need(t, "unshare", "mount")
	dir := t.TempDir()
	passwd, group := filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	os.WriteFile(passwd, []byte("root:x:0:0::/root:/bin/sh\npdtest:x:4000:4000::/:/bin/false\n"), 0o644)
	os.WriteFile(group, []byte("root:x:0:\npdtest:x:4000:\nmailx:x:4001:other,pdtest\nlogx:x:4002:pdtest\nnotme:x:4003:other\n"), 0o644)
	inNS := func(args ...string) result {
		argv := append([]string{"-m", "sh", "-c", `mount --bind "$0" /etc/passwd && mount --bind "$1" /etc/group && shift && exec "$@"`,
			passwd, group, bin("privdrop")}, args...)
		return run(t, baseEnv(), "", "unshare", argv...)
	}
	pdCheck(t, "-u pdtest", inNS("-u", "pdtest", "cat", "/proc/self/status"), "4000", "4000", "4000 4001 4002", "0")
	pdCheck(t, "-u pdtest -g logx", inNS("-u", "pdtest", "-g", "logx", "cat", "/proc/self/status"), "4000", "4002", "4001 4002", "0")
	pdCheck(t, "-u pdtest -G notme", inNS("-u", "pdtest", "-G", "notme", "cat", "/proc/self/status"), "4000", "4000", "4003", "0")
}

func TestPrivdropRefusals(t *testing.T) {
	needRoot(t)
	res := run(t, baseEnv(), "", bin("privdrop"), "-u", "0", "-g", "0", "true")
	if res.Code != 100 || res.Stderr != fatalLine("privdrop", 100, "unable to drop privileges: refusing to run as uid 0 (only privdrop -0 allows it)") {
		t.Errorf("uid 0: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res = run(t, baseEnv(), "", bin("privdrop"), "-0", "-u", "root", "cat", "/proc/self/status")
	pdCheck(t, "-0 -u root", res, "0", "0", "0", "0")
	res = run(t, baseEnv(), "", bin("privdrop"), "-u", "no-such-user", "true")
	if res.Code != 100 || res.Stderr != fatalLine("privdrop", 100, "unknown user \"no-such-user\"") {
		t.Errorf("unknown user: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res = run(t, baseEnv(), "", bin("privdrop"), "-u", "65534", "true")
	if res.Code != 100 {
		t.Errorf("uid without gid: exit %d, stderr %q", res.Code, res.Stderr)
	}
	// Not root any more: the kernel's EPERM, 111, naming the step. The
	// inner privdrop is a copy in a directory nobody can reach.
	res = run(t, baseEnv(), "", bin("privdrop"), "-u", "65534", "-g", "65534", pdPublicCopy(t, "privdrop"), "-u", "1", "-g", "1", "true")
	if res.Code != 111 || res.Stderr != fatalLine("privdrop", 111, "unable to set supplementary groups to 1: operation not permitted") {
		t.Errorf("unprivileged: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res = run(t, baseEnv(), "", bin("privdrop"), "-u", "65534", "-g", "65534", "no-such-program")
	if res.Code != 127 || !strings.HasPrefix(res.Stderr, "privdrop: fatal: exit"+fatalErr(127, "unable to find no-such-program")) {
		t.Errorf("missing prog: exit %d, stderr %q", res.Code, res.Stderr)
	}
	res = run(t, baseEnv(), "", bin("privdrop"), "-x", "true")
	if res.Code != 100 || !strings.Contains(res.Stderr, usageLine("privdrop")) || !strings.Contains(res.Stderr, `usage="privdrop [`) {
		t.Errorf("bad option: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// -c chroots before the id change, and prog is looked up inside the new
// root: a static program that exists only there lists "/".
func TestPrivdropChroot(t *testing.T) {
	needRoot(t)
	need(t, "go")
	src := t.TempDir()
	prog := `package main

import "os"

func main() {
	es, err := os.ReadDir("/")
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	for _, e := range es {
		os.Stdout.WriteString(e.Name() + "\n")
	}
}
`
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(prog), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "marker"), nil, 0o644)
	build := exec.Command("go", "build", "-o", filepath.Join(root, "bin", "lsroot"), "main.go")
	build.Dir = src
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GO111MODULE=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	res := run(t, []string{"PATH=/bin"}, "", bin("privdrop"), "-c", root, "-u", "65534", "-g", "65534", "lsroot")
	if res.Code != 0 || res.Stdout != "bin\nmarker\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	res = run(t, baseEnv(), "", bin("privdrop"), "-c", filepath.Join(root, "nonexistent"), "true")
	if res.Code != 111 || !strings.HasPrefix(res.Stderr, "privdrop: fatal: exit"+fatalErr(111, "unable to chroot to ")) {
		t.Errorf("bad chroot: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// privdrop and tcpclient run once per connection: they stay inside the
// chainloader import budget (doc/design.md §4).
func TestPrivdropTcpclientImportBudget(t *testing.T) {
	heavy := map[string]bool{"fmt": true, "flag": true, "log": true, "os/user": true, "regexp": true,
		"encoding/json": true, "net/http": true, "os/exec": true, "crypto/tls": true}
	for _, prog := range []string{"privdrop", "tcpclient"} {
		out, err := exec.Command("go", "list", "-deps", "../cmd/"+prog).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", prog, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if heavy[dep] || (prog == "privdrop" && dep == "net") {
				t.Errorf("%s links %s", prog, dep)
			}
		}
	}
}

// pdPublicCopy copies a suite binary into a fresh directory any user may
// enter (the test binaries' own directory may be private to root).
func pdPublicCopy(t *testing.T, prog string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tlschain-pub-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bin(prog))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, prog)
	if err := os.WriteFile(p, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
