// Command tlskeys creates and rotates the
// shared session-ticket key file that tlsd hands to every engine
// (pkg/ticketkeys has the format). See doc/tlskeys.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
