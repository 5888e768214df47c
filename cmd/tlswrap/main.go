// Command tlswrap is the TLS engine: one unprivileged process per
// connection between the network and an app's cleartext pipes.
// See doc/tlswrap.md.

// containermaxprocs=0: the runtime would otherwise keep a cgroup file open
// for the process's life to follow CPU limits, an fd the engine does not
// need (it keeps only 0–7); the spawner sets GOMAXPROCS instead.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/engine"
)

func main() { os.Exit(engine.Main(os.Args, os.Environ())) }
