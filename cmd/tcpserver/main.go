// Command tcpserver accepts TCP connections and runs prog for each one.
// See doc/tcpserver.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tcpserver"
)

func main() { os.Exit(tcpserver.Main(os.Args, os.Environ())) }
