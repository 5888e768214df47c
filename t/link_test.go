package t

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestLinkNoCryptoTLS: only the engine (tlswrap) links crypto/tls; every
// other program, tlsd and tlsc included, stays without it (doc/design.md
// §4, like crypto/tls's own TestLinkerGC).
func TestLinkNoCryptoTLS(t *testing.T) {
	cmds, err := filepath.Glob("../cmd/*")
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no commands: %v", err)
	}
	for _, c := range cmds {
		prog := filepath.Base(c)
		if prog == "tlswrap" {
			continue
		}
		t.Run(prog, func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", "./"+c).CombinedOutput()
			if err != nil {
				t.Fatalf("go list -deps %s: %v\n%s", c, err, out)
			}
			for _, dep := range strings.Fields(string(out)) {
				if dep == "crypto/tls" {
					t.Errorf("%s links crypto/tls", prog)
				}
			}
		})
	}
}

// TestLinkTCPServerNoCrypto: tcpserver is a TCP server, nothing more: it
// never looks at its child's argv and links no crypto, neither in its
// package graph nor in the built binary (whose function table names every
// package linked in, stripped or not). tlsserver is the listener with TLS.
func TestLinkTCPServerNoCrypto(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../cmd/tcpserver").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(bin("tcpserver"))
	if err != nil {
		t.Fatal(err)
	}
	for _, pkg := range []string{"crypto/x509", "crypto/ecdsa", "crypto/tls", "crypto/rsa", "crypto/ed25519"} {
		for _, dep := range strings.Fields(string(out)) {
			if dep == pkg {
				t.Errorf("tcpserver imports %s", pkg)
			}
		}
		if bytes.Contains(bin, []byte(pkg+".")) {
			t.Errorf("the tcpserver binary holds functions of %s", pkg)
		}
	}
}
