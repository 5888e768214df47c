//go:build coverage

package chain

import (
	"os"
	"runtime/coverage"
)

// flushCoverage writes coverage counters before exec: a -cover binary
// writes them only in its exit hook, and exec skips it.
func flushCoverage() {
	if dir := os.Getenv("GOCOVERDIR"); dir != "" {
		coverage.WriteCountersDir(dir)
	}
}
