// Command tlsc performs the client side of TLS, then execs prog.
// See doc/tlsc.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tlsc"
)

func main() { os.Exit(tlsc.Main(os.Args, os.Environ())) }
