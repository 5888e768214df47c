package t

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tlschain/tlschain/pkg/policy"
)

// Tests of the outbound per-destination policy table: tlspolicy compiles
// it, ucspi-starttls -c -P reads it (doc/policy.md).

// compilePolicy runs tlspolicy path < text.
func compilePolicy(t *testing.T, path, text string) result {
	t.Helper()
	return run(t, baseEnv(), text, bin("tlspolicy"), path)
}

// polSend runs the client chain with -P table and the given options
// (-d, -H, -p), send.sh as prog.
func polSend(t *testing.T, port int, table string, opts ...string) result {
	t.Helper()
	dir := certDir(t)
	args := []string{"-T", "5", "127.0.0.1", strconv.Itoa(port),
		"tlsc", "-n", "-k", "localhost", "--verify-report", "ucspi-starttls", "-c", "-t", "5", "-P", table}
	args = append(append(args, opts...), "smtp", stcData("send.sh"))
	return run(t, baseEnv("CAFILE="+dir+"/ca.crt"), "", bin("tcpclient"), args...)
}

func spkiPin(t *testing.T, c *testCert) string {
	return "sha256:" + strings.Fields(tlsaOf(t, c.DER, "1"))[2]
}

// TestPolicyTable: each policy word × destination, MX constraints hit
// and miss, subdomain matching, pins; the table's entry wins over -p.
func TestPolicyTable(t *testing.T) {
	dir := certDir(t)
	p := certs(t)
	good := stcServer(t, dir, "server", true)
	clear := stcServer(t, dir, "server", false)
	rogue := stcServer(t, dir, "roguesrv", true)
	table := filepath.Join(t.TempDir(), "policy.cdb")
	text := `# test table
none.test        none
may.test         may
encrypt.test     encrypt
verify.test      verify
dane.test        dane
daneonly.test    dane-only
secure.test      secure
secureok.test    secure mx=localhost
mxok.test        verify mx=mx.elsewhere.test,localhost
mxbad.test       verify mx=mx.mxbad.test,.mxbad.test
pinned.test      fingerprint pin=` + spkiPin(t, p.RogueSrv) + `
certpin.test     fingerprint tlsa="3 0 1 ` + strings.Fields(tlsaOf(t, p.RogueSrv.DER, "0"))[2] + `"
pinwrong.test    fingerprint pin=` + spkiPin(t, p.Other) + `
.sub.test        may
*                encrypt
`
	if r := compilePolicy(t, table, text); r.Code != 0 {
		t.Fatalf("tlspolicy: %d %s", r.Code, r.Stderr)
	}
	tests := []struct {
		name   string
		port   int
		opts   []string
		want   string // sentTLS, sentClear, deferred
		policy string // the policy field of the log line
		verify string // the verify field (TLS), or the deferral reason
	}{
		{"none", good, []string{"-d", "none.test"}, sentClear, "none", "policy-none"},
		{"may clear server", clear, []string{"-d", "may.test"}, sentClear, "may", "starttls-not-offered"},
		{"may", rogue, []string{"-d", "may.test"}, sentTLS, "may", "untrusted:unknown-authority"},
		{"encrypt clear server", clear, []string{"-d", "encrypt.test"}, deferred, "encrypt", "starttls-not-offered"},
		{"encrypt", rogue, []string{"-d", "encrypt.test"}, sentTLS, "encrypt", "untrusted:unknown-authority"},
		{"verify", good, []string{"-d", "verify.test"}, sentTLS, "verify", "verified"},
		{"verify untrusted", rogue, []string{"-d", "verify.test"}, deferred, "verify", "verification-untrusted:unknown-authority"},
		{"table wins over -p", rogue, []string{"-p", "may", "-d", "verify.test"}, deferred, "verify", "verification-untrusted"},
		{"dane without TLSA", good, []string{"-d", "dane.test"}, sentTLS, "dane", "verified"},
		{"dane-only without TLSA", good, []string{"-d", "daneonly.test"}, deferred, "dane-only", "no-usable-tlsa"},
		{"secure mx outside the domain", good, []string{"-d", "secure.test", "-H", "localhost"}, deferred, "secure", "mx-not-allowed"},
		{"secure mx allowed", good, []string{"-d", "secureok.test", "-H", "localhost"}, sentTLS, "secure", "verified"},
		{"mx hit", good, []string{"-d", "mxok.test", "-H", "LOCALHOST."}, sentTLS, "verify", "verified"},
		{"mx hit from TLSA_BASENAME", good, []string{"-d", "mxok.test"}, sentTLS, "verify", "verified"},
		{"mx miss", good, []string{"-d", "mxok.test", "-H", "mx.other.test"}, deferred, "verify", "mx-not-allowed"},
		{"mx miss subdomain pattern", good, []string{"-d", "mxbad.test", "-H", "localhost"}, deferred, "verify", "mx-not-allowed"},
		{"mx unknown", good, []string{"-d", "mxbad.test"}, deferred, "verify", "mx-unknown"},
		{"spki pin", rogue, []string{"-d", "pinned.test"}, sentTLS, "fingerprint", "fingerprint"},
		{"cert pin", rogue, []string{"-d", "certpin.test"}, sentTLS, "fingerprint", "fingerprint"},
		{"pin mismatch", rogue, []string{"-d", "pinwrong.test"}, deferred, "fingerprint", "verification-fingerprint-mismatch"},
		{"pin mismatch trusted server", good, []string{"-d", "pinned.test"}, deferred, "fingerprint", "verification-fingerprint-mismatch"},
		{"subdomain entry", clear, []string{"-d", "a.b.sub.test"}, sentClear, "may", "starttls-not-offered"},
		{"parent is not a subdomain", clear, []string{"-d", "sub.test"}, deferred, "encrypt", "starttls-not-offered"},
		{"default", clear, []string{"-d", "Elsewhere.Example."}, deferred, "encrypt", "starttls-not-offered"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts
			r := polSend(t, tc.port, table, opts...)
			if tc.name == "mx hit from TLSA_BASENAME" {
				dir := certDir(t)
				r = run(t, baseEnv("CAFILE="+dir+"/ca.crt", "TLSA_BASENAME=localhost"), "", bin("tcpclient"), "-T", "5", "127.0.0.1", strconv.Itoa(tc.port),
					"tlsc", "-n", "-k", "localhost", "--verify-report", "ucspi-starttls", "-c", "-t", "5", "-P", table, "-d", "mxok.test", "smtp", stcData("send.sh"))
			}
			var logLine string
			for _, l := range lines(r.Stderr) {
				if strings.HasPrefix(l, "ucspi-starttls: ") {
					logLine = l
				}
			}
			if !strings.Contains(logLine, " policy="+tc.policy+" ") || !strings.Contains(logLine, tc.verify) {
				t.Errorf("log line %q lacks policy %s and %q", logLine, tc.policy, tc.verify)
			}
			switch tc.want {
			case sentTLS:
				if r.Code != 0 || !strings.Contains(r.Stdout, "result sent") || !strings.Contains(r.Stdout, "SSL_PROTOCOL=TLSv1.3") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			case sentClear:
				if r.Code != 0 || !strings.Contains(r.Stdout, "result sent") || !strings.Contains(r.Stdout, "SSL_PROTOCOL=unset") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			case deferred:
				if r.Code != 75 || !strings.Contains(r.Stdout, "<- 421 4.7.0 TLS policy "+tc.policy+": ") || strings.Contains(r.Stdout, "-> MAIL") ||
					!strings.Contains(logLine, "warning: ") {
					t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
				}
			}
		})
	}
}

// TestPolicyMXMissSendsNothing: a refused MX gets no byte from us, not
// even EHLO: the connection is dropped and prog gets the 421.
func TestPolicyMXMissSendsNothing(t *testing.T) {
	table := filepath.Join(t.TempDir(), "policy.cdb")
	compilePolicy(t, table, "example.test verify mx=mx.example.test\n")
	f := startFake(t, "220 fake.test ESMTP\r\n", "250-fake.test\r\n250 STARTTLS\r\n", "220 go\r\n")
	r := polSend(t, f.port, table, "-d", "example.test", "-H", "evil.test")
	if got := f.lines(t); len(got) != 0 {
		t.Errorf("server got %q", got)
	}
	if r.Code != 75 || !strings.Contains(r.Stdout, "<- 421 4.7.0 TLS policy verify: mx-not-allowed") ||
		!strings.Contains(r.Stderr, "ucspi-starttls: warning: ") || !strings.Contains(r.Stderr, " reason=mx-not-allowed") {
		t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
}

// TestPolicyTableErrors: a missing or wrong table defers (never clear);
// -P without a destination domain is a usage error.
func TestPolicyTableErrors(t *testing.T) {
	tmp := t.TempDir()
	f := startFake(t, "220 fake.test ESMTP\r\n", "250 fake.test\r\n", "")
	r := polSend(t, f.port, filepath.Join(tmp, "missing.cdb"), "-d", "example.test")
	if r.Code != 75 || !strings.Contains(r.Stdout, "<- 421 4.7.0 TLS policy may: policy-table-unavailable") || len(f.lines(t)) != 0 {
		t.Fatalf("missing table: exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// A tcprules database is a cdb but not a policy table.
	rules := filepath.Join(tmp, "rules.cdb")
	if r := run(t, baseEnv(), "127.0.0.1:allow\n", bin("tcprules"), rules); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	f = startFake(t, "220 fake.test ESMTP\r\n", "250 fake.test\r\n", "")
	r = polSend(t, f.port, rules, "-d", "example.test")
	if r.Code != 75 || !strings.Contains(r.Stderr, "not a compiled policy table") || !strings.Contains(r.Stdout, "policy-table-unavailable") {
		t.Fatalf("rules.cdb: exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	for _, args := range [][]string{{"-c", "-P", rules, "smtp", "true"}, {"-c", "-P", rules, "-d", "bad domain", "smtp", "true"}} {
		r := run(t, baseEnv(), "", bin("ucspi-starttls"), args...)
		if r.Code != 100 || !strings.Contains(r.Stderr, usageLine("ucspi-starttls")) {
			t.Errorf("%q: exit %d %s", args, r.Code, r.Stderr)
		}
	}
}

// TestPolicyCompileErrors: a bad line is named, exit 100, and the old
// table stays in force byte for byte, with no temporary file left.
func TestPolicyCompileErrors(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "policy.cdb")
	if r := compilePolicy(t, table, "example.test verify\n* may\n"); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	old, _ := os.ReadFile(table)
	for _, tc := range []struct{ text, msg string }{
		{"a.test may\nb.test must\n", "tlspolicy: fatal: exit" + fatalErr(100, "unable to parse line 2: unknown policy \"must\"")},
		{"a.test may\n\n# c\nA.TEST verify\n", "tlspolicy: fatal: exit" + fatalErr(100, "unable to parse line 4: domain \"a.test\" already on line 1")},
		{"a.test fingerprint\n", "tlspolicy: fatal: exit" + fatalErr(100, "unable to parse line 1: policy fingerprint needs tlsa= or pin=")},
		{"a.test verify mx=a..b\n", "tlspolicy: fatal: exit" + fatalErr(100, "unable to parse line 1: bad mx pattern")},
		{"x y z\n", "tlspolicy: fatal: exit" + fatalErr(100, "unable to parse line 1: ")},
	} {
		r := compilePolicy(t, table, tc.text)
		if r.Code != 100 || !strings.HasPrefix(r.Stderr, tc.msg) {
			t.Errorf("%q: exit %d stderr %q, want %q", tc.text, r.Code, r.Stderr, tc.msg)
		}
		if now, _ := os.ReadFile(table); string(now) != string(old) {
			t.Fatalf("%q: the old table changed", tc.text)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
	r := run(t, baseEnv(), "", bin("tlspolicy"), "-l", "x.example.test", table)
	if r.Code != 0 || r.Stdout != "* may\n" {
		t.Errorf("-l: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
	r = run(t, baseEnv(), "", bin("tlspolicy"), "-l", "EXAMPLE.test.", table)
	if r.Code != 0 || r.Stdout != "example.test verify\n" {
		t.Errorf("-l: %d %q %q", r.Code, r.Stdout, r.Stderr)
	}
}

// TestPolicyReplaceUnderLoad: tlspolicy replaces the table again and
// again while readers open it and look three keys up per "connection":
// every reader sees one version whole (the three answers agree), never
// an error, never a torn file.
func TestPolicyReplaceUnderLoad(t *testing.T) {
	table := filepath.Join(t.TempDir(), "policy.cdb")
	version := func(i int) string {
		v := "mx=v" + strconv.Itoa(i) + ".test"
		// Pad each version to a different size, so a torn read would show.
		var pad strings.Builder
		for j := 0; j < i%7*50; j++ {
			pad.WriteString("pad" + strconv.Itoa(j) + ".test may\n")
		}
		return "a.test verify " + v + "\nb.test encrypt " + v + "\n* may " + v + "\n" + pad.String()
	}
	if r := compilePolicy(t, table, version(0)); r.Code != 0 {
		t.Fatal(r.Stderr)
	}
	var stop atomic.Bool
	var lookups atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				tab, err := policy.Open(table)
				if err != nil {
					errs <- "open: " + err.Error()
					return
				}
				var mx []string
				for _, d := range []string{"a.test", "b.test", "c.test"} {
					e, _, ok, err := tab.Lookup(d)
					if err != nil || !ok || len(e.MX) != 1 {
						errs <- "lookup " + d + ": " + strconv.FormatBool(ok)
						tab.Close()
						return
					}
					mx = append(mx, e.MX[0])
				}
				tab.Close()
				if mx[0] != mx[1] || mx[1] != mx[2] {
					errs <- "torn: " + strings.Join(mx, " ")
					return
				}
				lookups.Add(1)
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for i := 1; i <= 100 && time.Now().Before(deadline); i++ {
		if r := compilePolicy(t, table, version(i)); r.Code != 0 {
			t.Fatal(r.Stderr)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if lookups.Load() == 0 {
		t.Error("no lookup ran")
	}
	t.Logf("%d lookups during 100 replacements", lookups.Load())
}
