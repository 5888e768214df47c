package t

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Debian's ucspi-tcp-ipv6 programs, the oracle for the rules format.
const (
	debTCPRules      = "/usr/bin/tcprules"
	debTCPRulesCheck = "/usr/bin/tcprulescheck"
	debTCPServer     = "/usr/bin/tcpserver"
)

// runLimit runs path args... with env and stdin for at most d; unlike run,
// a timeout fails the test at once (Debian's tcprules loops forever on
// some lines).
func runLimit(t testing.TB, d time.Duration, env []string, stdin, path string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in %v; stderr: %s", path, d, se.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %s: %v", path, err)
		}
		code = ee.ExitCode()
	}
	return result{so.String(), se.String(), code}
}

// debianRules runs Debian's tcprules on text. Every rule line must hold
// ":allow" or ":deny": Debian's build loops forever on a line without
// (doc/design.md §5.1), so the helper refuses such input rather than hang.
func debianRules(t testing.TB, cdbPath, text string) result {
	t.Helper()
	for _, l := range lines(text) {
		l = strings.TrimRight(l, " \t")
		if l == "" || l[0] == '#' {
			continue
		}
		if !strings.Contains(l, ":allow") && !strings.Contains(l, ":deny") {
			t.Fatalf("refusing to feed Debian's tcprules %q: it would loop", l)
		}
	}
	return runLimit(t, 10*time.Second, baseEnv(), text, debTCPRules, cdbPath, cdbPath+".tmp")
}

// ourRules runs our tcprules on text.
func ourRules(t testing.TB, cdbPath, text string) result {
	t.Helper()
	return runLimit(t, 30*time.Second, baseEnv(), text, bin("tcprules"), cdbPath, cdbPath+".tmp")
}

// corpus is rules text both implementations must compile to the same bytes.
func corpus() string {
	var b strings.Builder
	b.WriteString(`# qmail relay rules
127.0.0.1:allow,RELAYCLIENT="",UCSPITLS="!"
1.2.3.4:deny,X="y"
10.2-3.:allow,X=/a"b/
1.2.3.37-53:allow,RANGE="yes"
1.2.3.250-260:allow
1.2.3.-2:allow
1-2.3.:deny
=host.test:deny
=.example.com:allow,DOMAIN="example"
=:allow,ANYHOST=""
joe@1.2.3.4:allow,WHO='joe'
joe@=h.test:deny
::1:allow,V6="yes"
2001:db8::1:deny,V6=":deny"
2001:db8::allow
1.2.3.4:allow,X="a:deny"
a:b:allow
1.2.3.9:deny  	
 1.2.3.10:allow
1.2.3.4:allow,SECOND="never found"

:deny
`)
	for i := range 600 {
		n := strconv.Itoa(i)
		b.WriteString("10." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ".1:allow,N=\"" + n + "\",M=|" + n + "|\n")
	}
	return b.String()
}

// TestTCPRulesSameBytesAsDebian: on rules both accept, our cdb is byte for
// byte Debian's (same record order, same hash tables); on lines both
// refuse, both exit 100.
func TestTCPRulesSameBytesAsDebian(t *testing.T) {
	need(t, debTCPRules)
	dir := t.TempDir()
	ours, theirs := filepath.Join(dir, "ours.cdb"), filepath.Join(dir, "theirs.cdb")
	text := corpus()
	if r := ourRules(t, ours, text); r.Code != 0 {
		t.Fatalf("our tcprules exited %d: %s", r.Code, r.Stderr)
	}
	if r := debianRules(t, theirs, text); r.Code != 0 {
		t.Fatalf("Debian's tcprules exited %d: %s", r.Code, r.Stderr)
	}
	a, _ := os.ReadFile(ours)
	b, _ := os.ReadFile(theirs)
	if !bytes.Equal(a, b) {
		t.Fatalf("cdb files differ: ours %d bytes, Debian's %d", len(a), len(b))
	}
	for _, bad := range []string{
		"1.2.3.4:allowx",
		"1.2.3.4:allow,X=\"abc",
		"1.2.3.4:deny,",
		"1.2.3.4:allow,X",
		"1.2.3.4x-5:allow",
		"1.2.3.4-5-6:allow",
		"::1-3:allow",
		"1.2.3.4:allow,X=\"a\"x",
		"1.2.3.4:allow,X=\"\"\"\"",
		"1.2.3.4:allow:allow",
	} {
		if r := ourRules(t, ours, bad+"\n"); r.Code != 100 {
			t.Errorf("our tcprules accepted %q: exit %d", bad, r.Code)
		}
		if r := debianRules(t, theirs, bad+"\n"); r.Code != 100 {
			t.Errorf("Debian's tcprules accepted %q: exit %d", bad, r.Code)
		}
	}
}

// TestTCPRulesCheckReadsDebian: our tcprulescheck, reading Debian's cdb,
// prints what Debian's tcprulescheck prints, for each client.
func TestTCPRulesCheckReadsDebian(t *testing.T) {
	need(t, debTCPRules, debTCPRulesCheck)
	dir := t.TempDir()
	db := filepath.Join(dir, "rules.cdb")
	if r := debianRules(t, db, corpus()); r.Code != 0 {
		t.Fatalf("Debian's tcprules exited %d: %s", r.Code, r.Stderr)
	}
	for _, q := range [][3]string{ // ip, host, info
		{"127.0.0.1", "", ""},
		{"1.2.3.4", "", ""},
		{"1.2.3.40", "", ""},
		{"1.2.3.255", "", ""},
		{"1.2.3.1", "", ""},
		{"1.3.7.7", "", ""},
		{"10.3.0.1", "", ""},
		{"10.1.44.1", "", ""},
		{"9.9.9.9", "host.test", ""},
		{"9.9.9.9", "mail.example.com", ""},
		{"9.9.9.9", "other.org", ""},
		{"9.9.9.9", "", ""},
		{"1.2.3.4", "", "joe"},
		{"9.9.9.9", "h.test", "joe"},
		{"::1", "", ""},
		{"2001:db8::1", "", ""},
		{"2001:db8::2", "", ""},
		{"1.2.3.11", "", ""},
		{"1.2.3.12", "", ""},
	} {
		var env []string
		if q[0] != "" {
			env = append(env, "TCPREMOTEIP="+q[0])
		}
		if q[1] != "" {
			env = append(env, "TCPREMOTEHOST="+q[1])
		}
		if q[2] != "" {
			env = append(env, "TCPREMOTEINFO="+q[2])
		}
		want := runLimit(t, 10*time.Second, baseEnv(env...), "", debTCPRulesCheck, db)
		got := runLimit(t, 10*time.Second, baseEnv(env...), "", bin("tcprulescheck"), db)
		if got != want {
			t.Errorf("%q: ours %+v, Debian's %+v", q, got, want)
		}
	}
}

// TestTCPRulesDebianServerReadsOurs: Debian's tcpserver -x applies a cdb
// our tcprules wrote: variables set, denied clients closed, on IPv4 and
// IPv6.
func TestTCPRulesDebianServerReadsOurs(t *testing.T) {
	need(t, debTCPServer)
	for _, tc := range []struct {
		name, host, rules string
		want              []string // NAME=value lines in env's output; nil: denied
	}{
		{"relay", "127.0.0.1", "127.0.0.1:allow,RELAYCLIENT=\"\",UCSPITLS=\"!\"\n", []string{"RELAYCLIENT=", "UCSPITLS=!"}},
		{"deny", "127.0.0.1", "127.0.0.1:deny\n:allow,X=\"default\"\n", nil},
		{"prefix", "127.0.0.1", "127.0.:allow,P=\"127.0.\"\n127.:deny\n", []string{"P=127.0."}},
		{"range", "127.0.0.1", "127.0.0.0-5:allow,R=\"range\"\n:deny\n", []string{"R=range"}},
		{"cidr", "127.0.0.1", "127.0.0.0/30:allow,C=\"cidr\"\n:deny\n", []string{"C=cidr"}},
		{"unquoted", "127.0.0.1", "127.0.0.1:allow,A=one,B=\"two\"\n", []string{"A=one", "B=two"}},
		{"default deny", "127.0.0.1", "10.:allow\n:deny\n", nil},
		{"v6", "::1", "::1:allow,V6=\"yes\"\n:deny\n", []string{"V6=yes"}},
		{"v6 deny", "::1", "::1:deny\n:allow\n", nil},
		{"v6 cidr", "::1", "::1/128:allow,C=\"v6\"\n:deny\n", []string{"C=v6"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := filepath.Join(t.TempDir(), "rules.cdb")
			if r := ourRules(t, db, tc.rules); r.Code != 0 {
				t.Fatalf("tcprules exited %d: %s", r.Code, r.Stderr)
			}
			s := serveProg(t, baseEnv(), debTCPServer, "-1", "-HR", "-x", db, tc.host, "0", "/usr/bin/env")
			out := string(dial(t, s.Addr, nil))
			if tc.want == nil {
				if out != "" {
					t.Fatalf("denied client got %q", out)
				}
				return
			}
			m := envMap(out)
			if m["TCPREMOTEIP"] == "" {
				t.Fatalf("no environment from env: %q; stderr %s", out, s.Stderr)
			}
			for _, kv := range tc.want {
				k, v, _ := strings.Cut(kv, "=")
				if got, ok := m[k]; !ok || got != v {
					t.Errorf("%s: got %q (set %v), want %q", k, got, ok, v)
				}
			}
		})
	}
}

// TestTCPRulesSyntaxError: a bad line exits 100 naming the line, leaves
// the old database as it was and no temporary file behind.
func TestTCPRulesSyntaxError(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rules.cdb")
	if r := ourRules(t, db, "1.2.3.4:deny\n"); r.Code != 0 {
		t.Fatalf("tcprules exited %d: %s", r.Code, r.Stderr)
	}
	old, _ := os.ReadFile(db)
	for _, tc := range []struct{ in, msg string }{
		{"# ok\n1.2.3.5:allow\n1.2.3.4:allwo\n:deny\n", fatalLine("tcprules", 100, "unable to parse line 3: 1.2.3.4:allwo")},
		{"1.2.3.4\n", fatalLine("tcprules", 100, "unable to parse line 1: 1.2.3.4")},
		{"1.2.3.4:allow,X=\"a\x00b\"\n", fatalLine("tcprules", 100, "unable to parse line 1: 1.2.3.4:allow,X=\"a?b\"")},
		{"\n\n1.2.3.4:allow,X=\"open\n", fatalLine("tcprules", 100, "unable to parse line 3: 1.2.3.4:allow,X=\"open")},
		{"10.0.0.1/8:allow\n", fatalLine("tcprules", 100, "unable to parse line 1: 10.0.0.1/8:allow: CIDR prefix 10.0.0.1/8 has bits set after /8")},
		{"2001:db8::/80:deny\n", fatalLine("tcprules", 100, "unable to parse line 1: 2001:db8::/80:deny: IPv6 prefix 2001:db8::/80 has no tcpserver keys: its :: form would match addresses outside it")},
		{strings.Repeat("x", 2<<20) + "\n", fatalLine("tcprules", 100, "unable to parse line 1: line longer than 1048576 bytes")},
	} {
		r := ourRules(t, db, tc.in)
		if r.Code != 100 || r.Stderr != tc.msg {
			t.Errorf("%.40q: exit %d, stderr %q; want 100, %q", tc.in, r.Code, r.Stderr, tc.msg)
		}
		now, _ := os.ReadFile(db)
		if !bytes.Equal(now, old) {
			t.Fatalf("%.40q: the old database changed", tc.in)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 1 {
			t.Fatalf("%.40q: directory holds %d files, want only rules.cdb", tc.in, len(ents))
		}
	}
}

// TestTCPRulesLastLine: a last line without a newline counts, CRLF works,
// and the new file is readable by others (tcpserver may run as another uid).
func TestTCPRulesLastLine(t *testing.T) {
	db := filepath.Join(t.TempDir(), "rules.cdb")
	if r := ourRules(t, db, "1.2.3.4:deny\r\n:allow,LAST=\"yes\""); r.Code != 0 {
		t.Fatalf("tcprules exited %d: %s", r.Code, r.Stderr)
	}
	r := runLimit(t, 10*time.Second, baseEnv(), "", bin("tcprulescheck"), db, "9.9.9.9")
	if r.Stdout != "rule :\nset environment variable LAST=yes\nallow connection\n" {
		t.Errorf("got %q", r.Stdout)
	}
	r = runLimit(t, 10*time.Second, baseEnv(), "", bin("tcprulescheck"), db, "1.2.3.4")
	if r.Stdout != "rule 1.2.3.4:\ndeny connection\n" {
		t.Errorf("got %q", r.Stdout)
	}
	if st, err := os.Stat(db); err != nil || st.Mode().Perm()&0o004 == 0 {
		t.Errorf("mode %v, %v: want world-readable like ucspi-tcp", st.Mode(), err)
	}
}

// TestTCPRulesUnwritable: when the directory cannot take the new file,
// tcprules exits 111 and the old database stays.
func TestTCPRulesUnwritable(t *testing.T) {
	// A 0755 tree others can enter, with a copy of tcprules in it.
	top, err := os.MkdirTemp("", "tcprules-ro-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(filepath.Join(top, "db"), 0o755); os.RemoveAll(top) })
	os.Chmod(top, 0o755)
	prog := filepath.Join(top, "tcprules")
	data, err := os.ReadFile(bin("tcprules"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(prog, data, 0o755)
	dbDir := filepath.Join(top, "db")
	os.Mkdir(dbDir, 0o755)
	db := filepath.Join(dbDir, "rules.cdb")
	if r := runLimit(t, 10*time.Second, baseEnv(), "1.2.3.4:deny\n", prog, db, db+".tmp"); r.Code != 0 {
		t.Fatalf("tcprules exited %d: %s", r.Code, r.Stderr)
	}
	old, _ := os.ReadFile(db)
	cmd := exec.Command(prog, db, db+".tmp")
	if os.Geteuid() == 0 {
		// root writes anywhere: run as nobody in root's directory.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	} else {
		os.Chmod(dbDir, 0o555)
	}
	cmd.Env = baseEnv()
	cmd.Stdin = strings.NewReader(":allow\n")
	var se bytes.Buffer
	cmd.Stderr = &se
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 111 {
		t.Fatalf("got %v, stderr %q; want exit 111", err, se.String())
	}
	if !strings.HasPrefix(se.String(), "tcprules: fatal: exit"+fatalErr(111, "unable to create temporary file for "+db+": permission denied")) {
		t.Errorf("stderr %q", se.String())
	}
	if now, _ := os.ReadFile(db); !bytes.Equal(now, old) {
		t.Fatal("the old database changed")
	}
	if ents, _ := os.ReadDir(dbDir); len(ents) != 1 {
		t.Fatalf("directory holds %d files", len(ents))
	}
}

// TestTCPRulesCheck: tcprulescheck's answers for allow, deny, variables,
// prefixes, hosts and the default, IPv4 and IPv6, from the environment or
// the arguments; its exit codes.
func TestTCPRulesCheck(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "rules.cdb")
	text := `127.0.0.1:allow,RELAYCLIENT=""
192.0.2.:deny
198.51.100.0/24:allow,NET="doc2"
=mx.example.com:allow,HOST="exact"
=.example.com:deny
joe@203.0.113.9:allow,IDENT="joe"
::1:allow,UCSPITLS="!"
2001:db8::/32:deny
fe80::/16:allow,LINK=local
:allow,DEFAULT=1
`
	if r := ourRules(t, db, text); r.Code != 0 {
		t.Fatalf("tcprules exited %d: %s", r.Code, r.Stderr)
	}
	check := bin("tcprulescheck")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"relay from env", []string{"TCPREMOTEIP=127.0.0.1"}, nil, "rule 127.0.0.1:\nset environment variable RELAYCLIENT=\nallow connection\n"},
		{"relay from args", nil, []string{"127.0.0.1"}, "rule 127.0.0.1:\nset environment variable RELAYCLIENT=\nallow connection\n"},
		{"args win", []string{"TCPREMOTEIP=192.0.2.1"}, []string{"127.0.0.1"}, "rule 127.0.0.1:\nset environment variable RELAYCLIENT=\nallow connection\n"},
		{"prefix deny", nil, []string{"192.0.2.77"}, "rule 192.0.2.:\ndeny connection\n"},
		{"cidr", nil, []string{"198.51.100.3"}, "rule 198.51.100.:\nset environment variable NET=doc2\nallow connection\n"},
		{"host", nil, []string{"9.9.9.9", "mx.example.com"}, "rule =mx.example.com:\nset environment variable HOST=exact\nallow connection\n"},
		{"domain", []string{"TCPREMOTEIP=9.9.9.9", "TCPREMOTEHOST=a.example.com"}, nil, "rule =.example.com:\ndeny connection\n"},
		{"info", []string{"TCPREMOTEIP=203.0.113.9", "TCPREMOTEINFO=joe"}, nil, "rule joe@203.0.113.9:\nset environment variable IDENT=joe\nallow connection\n"},
		{"other info", []string{"TCPREMOTEIP=203.0.113.9", "TCPREMOTEINFO=ann"}, nil, "rule :\nset environment variable DEFAULT=1\nallow connection\n"},
		{"v6", nil, []string{"::1"}, "rule ::1:\nset environment variable UCSPITLS=!\nallow connection\n"},
		{"v6 prefix", nil, []string{"2001:db8:5::1"}, "rule 2001:db8::\ndeny connection\n"},
		{"v6 prefix compressed", nil, []string{"2001:db8::1"}, "rule 2001:db8::\ndeny connection\n"},
		{"v6 unquoted", nil, []string{"fe80::1"}, "rule fe80::\nset environment variable LINK=local\nallow connection\n"},
		{"default rule", nil, []string{"10.0.0.1"}, "rule :\nset environment variable DEFAULT=1\nallow connection\n"},
		{"no TCPREMOTEIP", nil, nil, "rule :\nset environment variable DEFAULT=1\nallow connection\n"},
	} {
		r := runLimit(t, 10*time.Second, baseEnv(tc.env...), "", check, append([]string{db}, tc.args...)...)
		if r.Code != 0 || r.Stdout != tc.want {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want %q", tc.name, r.Code, r.Stdout, r.Stderr, tc.want)
		}
	}
	// No rule at all: the default.
	empty := filepath.Join(dir, "empty.cdb")
	ourRules(t, empty, "# nothing\n")
	if r := runLimit(t, 10*time.Second, baseEnv(), "", check, empty, "1.2.3.4"); r.Code != 0 || r.Stdout != "default:\nallow connection\n" {
		t.Errorf("empty rules: %+v", r)
	}
	// Exit codes: usage, missing, corrupt.
	if r := runLimit(t, 10*time.Second, baseEnv(), "", check); r.Code != 100 || !strings.Contains(r.Stderr, usageLine("tcprulescheck")) || !strings.Contains(r.Stderr, `usage="tcprulescheck rules.cdb [ip [host]]`) {
		t.Errorf("no arguments: %+v", r)
	}
	if r := runLimit(t, 10*time.Second, baseEnv(), "", check, "-z", db); r.Code != 100 {
		t.Errorf("bad option: %+v", r)
	}
	if r := runLimit(t, 10*time.Second, baseEnv(), "", check, filepath.Join(dir, "none.cdb")); r.Code != 111 || r.Stdout != "" {
		t.Errorf("missing database: %+v", r)
	}
	good, _ := os.ReadFile(db)
	bad := filepath.Join(dir, "bad.cdb")
	os.WriteFile(bad, good[:len(good)-100], 0o644)
	if r := runLimit(t, 10*time.Second, baseEnv(), "", check, bad, "127.0.0.1"); r.Code != 111 || r.Stdout != "" ||
		r.Stderr != fatalLine("tcprulescheck", 111, "unable to read "+bad+": corrupt or truncated cdb") {
		t.Errorf("truncated database: %+v", r)
	}
}

// TestTCPRulesDocExample runs the example of doc/tcprules.md.
func TestTCPRulesDocExample(t *testing.T) {
	db := filepath.Join(t.TempDir(), "smtp.cdb")
	text := `# rules.txt
127.0.0.1:allow,RELAYCLIENT=""
::1:allow,RELAYCLIENT=""
192.0.2.:allow,RELAYCLIENT="",UCSPITLS="!"
198.51.100.7:deny
203.0.113.0/24:deny
=.spammer.example:deny
:allow
`
	if r := ourRules(t, db, text); r.Code != 0 {
		t.Fatalf("tcprules exited %d: %s", r.Code, r.Stderr)
	}
	for ip, want := range map[string]string{
		"192.0.2.9":    "rule 192.0.2.:\nset environment variable RELAYCLIENT=\nset environment variable UCSPITLS=!\nallow connection\n",
		"::1":          "rule ::1:\nset environment variable RELAYCLIENT=\nallow connection\n",
		"198.51.100.7": "rule 198.51.100.7:\ndeny connection\n",
		"203.0.113.44": "rule 203.0.113.:\ndeny connection\n",
		"10.9.9.9":     "rule :\nallow connection\n",
	} {
		if r := runLimit(t, 10*time.Second, baseEnv(), "", bin("tcprulescheck"), db, ip); r.Stdout != want {
			t.Errorf("%s: got %q, want %q", ip, r.Stdout, want)
		}
	}
	if r := runLimit(t, 10*time.Second, baseEnv(), "", bin("tcprulescheck"), db, "9.9.9.9", "mx.spammer.example"); r.Stdout != "rule =.spammer.example:\ndeny connection\n" {
		t.Errorf("spammer: got %q", r.Stdout)
	}
}
