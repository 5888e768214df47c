package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestDefaultTimeout: without -t a cleartext session ends after 300 s of
// client silence (RFC 5321 §4.5.3.2.7), and -h and doc/ucspi-starttls.md
// say so; -t takes 1 to 86400 seconds.
func TestDefaultTimeout(t *testing.T) {
	cfg, err := parseArgs([]string{"smtp", "prog"})
	if err != nil || cfg.timeout != 300*time.Second || defaultTimeout != 300*time.Second {
		t.Fatalf("default -t: %v, %v", cfg, err)
	}
	if !strings.Contains(help, "\n  -t secs  cleartext-phase timeout: client silence, app greeting, handshake report (default 300)\n") {
		t.Errorf("-h does not give the default 300:\n%s", help)
	}
	doc, err := os.ReadFile("../../doc/ucspi-starttls.md")
	if err != nil {
		t.Fatal(err)
	}
	_, item, _ := strings.Cut(string(doc), "\n- `-t secs` — ")
	item, _, _ = strings.Cut(item, "\n- `")
	if !strings.Contains(item, "Default: 300,") {
		t.Errorf("doc/ucspi-starttls.md's -t does not give the default 300: %q", item)
	}
	for arg, want := range map[string]time.Duration{"1": time.Second, "86400": 86400 * time.Second, "0": 0, "86401": 0, "x": 0} {
		cfg, err := parseArgs([]string{"-t", arg, "smtp", "prog"})
		if want == 0 && err == nil || want != 0 && (err != nil || cfg.timeout != want) {
			t.Errorf("-t %s: %v, %v", arg, cfg, err)
		}
	}
}
