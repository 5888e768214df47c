// Command tcprules compiles ucspi-tcp access rules from standard input into
// the cdb that tcpserver -x reads, replacing it atomically.
// See doc/tcprules.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tcprules"
)

func main() { os.Exit(tcprules.Main(os.Args, os.Environ())) }
