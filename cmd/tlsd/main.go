// Command tlsd performs the server side of TLS, then execs prog.
// See doc/tlsd.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tlsd"
)

func main() { os.Exit(tlsd.Main(os.Args, os.Environ())) }
