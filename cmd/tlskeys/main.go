// Command tlskeys creates and rotates the shared session-ticket key file.
// See doc/tlskeys.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tlskeys"
)

func main() { os.Exit(tlskeys.Main(os.Args, os.Environ())) }
