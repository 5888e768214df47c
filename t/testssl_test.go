package t

// testssl (Debian's testssl.sh) against the server chains on loopback:
// TLS on connect (tlsd) and STARTTLS SMTP (tlsd -n ucspi-starttls
// mailfront). The command line of doc/design.md §5.7 plus -p
// (protocols). Measured here: 15-20 s per scan, about 35 s for both; the
// test runs in make check (not with -short) and fails if the two scans
// together pass 3 minutes.

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tsFinding is one entry of testssl's --jsonfile output.
type tsFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

// tsScan runs testssl against 127.0.0.1:port and returns its findings.
func tsScan(t *testing.T, port int, extra ...string) []tsFinding {
	t.Helper()
	out := t.TempDir() + "/out.json"
	ctx, cancel := context.WithTimeout(context.Background(), testsslLimit)
	defer cancel()
	args := append([]string{"--quiet", "--color", "0", "--warnings", "batch"}, extra...)
	args = append(args, "-p", "-U", "-R", "--jsonfile", out, "127.0.0.1:"+strconv.Itoa(port))
	cmd := exec.CommandContext(ctx, "testssl", args...)
	cmd.Env = append(os.Environ(), "TERM=dumb")
	so, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("testssl did not finish in %v:\n%s", testsslLimit, so)
	}
	// The exit status is a sum of per-check codes; 242 and up: the scan
	// itself failed (doc/design.md §5.7).
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() >= 242 {
		t.Fatalf("testssl failed (exit %d):\n%s", ee.ExitCode(), so)
	}
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		t.Fatalf("no JSON from testssl: %v\n%s", rerr, so)
	}
	var fs []tsFinding
	if err := json.Unmarshal(b, &fs); err != nil {
		t.Fatalf("testssl JSON: %v", err)
	}
	return fs
}

// tsCheck fails on any finding rated above LOW and checks that the scan
// really ran (the protocol and Heartbleed checks are there).
func tsCheck(t *testing.T, fs []tsFinding) {
	t.Helper()
	ids := map[string]tsFinding{}
	var summary []string
	for _, f := range fs {
		ids[f.ID] = f
		switch f.Severity {
		case "MEDIUM", "HIGH", "CRITICAL":
			t.Errorf("%s %s: %s", f.Severity, f.ID, f.Finding)
		case "LOW", "WARN":
			summary = append(summary, f.Severity+" "+f.ID+": "+f.Finding)
		}
	}
	for _, id := range []string{"heartbleed", "CCS", "ROBOT", "secure_renego", "secure_client_renego", "TLS1_3", "SSLv3", "TLS1"} {
		if _, ok := ids[id]; !ok {
			t.Errorf("the scan has no %q result: it did not run fully", id)
		}
	}
	for _, id := range []string{"SSLv2", "SSLv3", "TLS1", "TLS1_1"} {
		if f, ok := ids[id]; ok && !strings.HasPrefix(f.Finding, "not offered") {
			t.Errorf("%s: %s", id, f.Finding)
		}
	}
	sort.Strings(summary)
	t.Logf("%d findings; above INFO/OK:\n  %s", len(fs), strings.Join(summary, "\n  "))
}

// TestTestssl: no finding above LOW on either port.
func TestTestssl(t *testing.T) {
	if testing.Short() {
		t.Skip("testssl takes about 35 s")
	}
	need(t, "testssl", "/usr/sbin/mailfront")
	dir := certDir(t)
	start := time.Now()
	t.Run("tls-on-connect", func(t *testing.T) {
		s := serve(t, tlsdEnv(dir), "-q", "-c", "20", "127.0.0.1", "0", "tlsd", "-K", "10000", "cat")
		tsCheck(t, tsScan(t, s.Port))
	})
	t.Run("starttls-smtp", func(t *testing.T) {
		s := serve(t, tlsdEnv(dir, "UCSPITLS="), "-q", "-c", "20", "127.0.0.1", "0",
			"tlsd", "-n", "ucspi-starttls", "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")
		tsCheck(t, tsScan(t, s.Port, "--starttls", "smtp"))
	})
	t.Logf("both scans: %v", time.Since(start).Round(time.Second))
}
