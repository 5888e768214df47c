// Command tlswrap is the TLS engine: one unprivileged process per
// connection that holds the TLS session and moves bytes between the
// network (fd 0/1) and two cleartext pipes to the app (fd 3 in, fd 4 out).
// Its spawner (tlsd, tlsc) keeps the private keys and signs for it over
// the key channel (fd 6, pkg/keysign); the app, or the spawner for it,
// starts the handshake over the control socket (fd 5, UCSPI-TLS). It is
// the only program of the suite that imports crypto/tls.
// doc/tlswrap.md documents the fd interface.

// containermaxprocs=0: the runtime would otherwise keep a cgroup file open
// for the process's life to follow CPU limits, an fd the engine does not
// need (it keeps only 0–7); the spawner sets GOMAXPROCS instead.
//
//go:debug containermaxprocs=0
//go:debug updatemaxprocs=0
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
