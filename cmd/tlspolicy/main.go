// Command tlspolicy reads the outbound TLS
// policy table (pkg/policy's text) on standard input and replaces
// policy.cdb with its compiled form, atomically (renameio: write beside,
// fsync, rename, fsync the directory). On any error the old table stays
// in force and no temporary file is left. With -l it looks a domain up
// in a compiled table instead. See doc/tlspolicy.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
