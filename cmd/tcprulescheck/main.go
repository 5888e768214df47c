// Command tcprulescheck shows which rule of a tcprules database applies to
// a client, and what it sets. See doc/tcprulescheck.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tcprulescheck"
)

func main() { os.Exit(tcprulescheck.Main(os.Args, os.Environ())) }
