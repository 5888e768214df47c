// Command tlsd is the server side of TLS in immediate mode: with the
// client's socket on fds 0 and 1 (from tcpserver), it spawns the TLS
// engine as an unprivileged user, keeps the private keys and signs for it,
// waits for the handshake, sets the SSL_* variables and execs prog with
// cleartext pipes on fds 0 and 1. See doc/tlsd.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
