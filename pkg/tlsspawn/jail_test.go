package tlsspawn

import (
	"errors"
	"slices"
	"syscall"
	"testing"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/landlock"
)

// recordHost fails the first spawns with the given errors and records
// every child it was asked for.
type recordHost struct {
	fail []error
	got  []chain.Child
}

func (h *recordHost) Spawn(c *chain.Child) (int, error) {
	h.got = append(h.got, *c)
	if len(h.fail) > 0 {
		err := h.fail[0]
		h.fail = h.fail[1:]
		return 0, err
	}
	return 42, nil
}
func (h *recordHost) Wait(int) syscall.WaitStatus { return 0 }
func (h *recordHost) Adopt(int)                   {}
func (h *recordHost) Conn() []string              { return nil }

// spawnEngine starts the engine confined (--confined and a ruleset), retries once
// with a fresh ruleset after EACCES (an upgraded engine file), and falls
// back to plain spawns for good when the thread cannot be confined.
func TestSpawnEngineJail(t *testing.T) {
	if landlock.ABI() < 1 {
		t.Skip("no Landlock in this kernel")
	}
	defer func() { jails = &jailCache{m: map[string]*jail{}} }()
	child := func() *chain.Child { return &chain.Child{Path: "/bin/true", Argv: []string{"tlswrap", "--server"}} }

	h := &recordHost{fail: []error{&chain.ConfineError{Err: errors.New("landlock_restrict_self: operation not permitted")}}}
	if pid, err := spawnEngine(h, child()); pid != 42 || err != nil {
		t.Fatalf("after a confine error: %d, %v", pid, err)
	}
	if len(h.got) != 2 || h.got[0].Landlock == nil || !slices.Contains(h.got[0].Argv, "--confined") ||
		h.got[1].Landlock != nil || slices.Contains(h.got[1].Argv, "--confined") {
		t.Fatalf("spawns: %+v", h.got)
	}
	h = &recordHost{}
	spawnEngine(h, child())
	if h.got[0].Landlock != nil {
		t.Errorf("confined again after confining failed")
	}

	jails = &jailCache{m: map[string]*jail{}}
	h = &recordHost{fail: []error{syscall.EACCES}} // the exec refused: not a confine error
	if pid, err := spawnEngine(h, child()); pid != 42 || err != nil || len(h.got) != 2 || h.got[1].Landlock == nil {
		t.Fatalf("after EACCES: %d, %v, %+v", pid, err, h.got)
	}
	h = &recordHost{fail: []error{syscall.EACCES, syscall.EACCES}}
	if _, err := spawnEngine(h, child()); !errors.Is(err, syscall.EACCES) || len(h.got) != 2 {
		t.Errorf("EACCES twice: %v after %d spawns", err, len(h.got))
	}
}
