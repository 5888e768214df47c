// Command tlspolicy compiles the outbound per-destination TLS policy
// table that ucspi-starttls -c -P reads. See doc/tlspolicy.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tlspolicy"
)

func main() { os.Exit(tlspolicy.Main(os.Args, os.Environ())) }
