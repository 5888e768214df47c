// Command privdrop changes the process's groups, gid and uid (and
// optionally its root directory), then execs prog. See doc/privdrop.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
