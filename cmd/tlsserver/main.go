// Command tlsserver accepts TCP connections, does the server side of TLS
// for each one and runs prog on the cleartext. See doc/tlsserver.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tlsserver"
)

func main() { os.Exit(tlsserver.Main(os.Args, os.Environ())) }
