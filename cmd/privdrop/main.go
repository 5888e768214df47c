// Command privdrop changes the process's groups, gid and uid (and
// optionally its root directory), then execs prog. See doc/privdrop.md.
package main

import (
	"os"

	"github.com/tlschain/tlschain/pkg/privdrop"
)

func main() { os.Exit(privdrop.Main(os.Args, os.Environ())) }
