package t

import (
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
