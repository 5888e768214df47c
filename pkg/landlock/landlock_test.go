package landlock

import (
	"strings"
	"testing"
)

// The process-wide and thread paths are exercised by pkg/chain
// (TestSpawnConfined) and the engine; here, what needs no domain.
func TestDeny(t *testing.T) {
	if ABI() < 1 {
		if _, err := Deny(""); err != ErrUnavailable {
			t.Fatalf("Deny without Landlock: %v", err)
		}
		t.Skip("no Landlock in this kernel")
	}
	r, err := Deny("")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	r, err = Deny("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := Deny("/nonexistent/engine"); err == nil || !strings.Contains(err.Error(), "/nonexistent/engine") {
		t.Errorf("Deny of a missing file: %v", err)
	}
}
