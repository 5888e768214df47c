package tlsspawn

import (
	"syscall"

	"github.com/tlschain/tlschain/pkg/chain"
	"github.com/tlschain/tlschain/pkg/logline"
)

// Host spawns the engine and learns how it ended. tlsd and tlsc are their
// own host: they spawn with chain.Spawn and wait for the engine
// themselves. A long-lived server that does tlsd's work in-process
// (Inline, used by tlsserver) reaps every child in one place, so it hands
// the engine's status back through Wait instead.
type Host interface {
	// Spawn starts ch. Wait must see the end of every pid Spawn returns,
	// however soon the child exits.
	Spawn(ch *chain.Child) (int, error)
	// Wait blocks until pid has ended and returns its status.
	Wait(pid int) syscall.WaitStatus
	// Adopt says that the engine pid, started ahead (Inline.Prestart),
	// now serves this connection.
	Adopt(pid int)
	// Conn returns the fields naming the connection in log lines.
	Conn() []string
}

// selfHost is the Host of a spawner that execs the app: the engine is its
// own child until then.
type selfHost struct{}

func (selfHost) Spawn(ch *chain.Child) (int, error) { return chain.Spawn(ch) }

func (selfHost) Wait(pid int) syscall.WaitStatus { return wait(pid) }

func (selfHost) Adopt(int) {}

func (selfHost) Conn() []string { return logline.ProcConn() }
