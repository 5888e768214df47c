// Command tlskeyholder is the key holder of a delayed-mode session (tlsd
// -n, tlsc -n): started by the spawner with the engine's key channel on
// fd 0, it reads the keys its environment names, as the spawner did, and
// signs for that one engine under one handshake's grant, then exits. Not
// a user's program. See doc/tlskeyholder.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
