package main

import (
	"testing"

	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

// TestMemLimitFloorAgrees: tlsd and tlsc refuse --engine-memory below the
// engine's own floor, at option time, instead of spawning an engine that
// exits 100 on every connection.
func TestMemLimitFloorAgrees(t *testing.T) {
	if tlsspawn.MinEngineMemMiB != minMemLimitMiB {
		t.Fatalf("tlsspawn.MinEngineMemMiB %d, engine minMemLimitMiB %d", tlsspawn.MinEngineMemMiB, minMemLimitMiB)
	}
}
