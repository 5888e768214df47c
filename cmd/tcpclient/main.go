// Command tcpclient connects to a TCP server, then execs prog with the
// socket on fd 6 and 7. See doc/tcpclient.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tcpclient"
)

func main() { os.Exit(tcpclient.Main(os.Args, os.Environ())) }
