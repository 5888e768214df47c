// Command tcpserver is the listener (pkg/listener)
// with its own identity options, spawning prog for each connection. It
// never looks at prog and links no crypto: TLS is tlsd's job in the chain,
// or tlsserver's. doc/tcpserver.md is the user's page.
//
// See doc/tcpserver.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
