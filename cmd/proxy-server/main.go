// Command proxy-server reads a PROXY protocol header from fd 0, sets the
// client's addresses in the environment, then execs prog.
// See doc/proxy-server.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/proxyserver"
)

func main() { os.Exit(proxyserver.Main(os.Args, os.Environ())) }
