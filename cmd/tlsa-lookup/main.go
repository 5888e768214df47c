// Command tlsa-lookup looks up a host's TLSA records over DNSSEC and
// execs prog with TLSA and TLSA_BASENAME set. See doc/tlsa-lookup.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/tlsalookup"
)

func main() { os.Exit(tlsalookup.Main(os.Args, os.Environ())) }
