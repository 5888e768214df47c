// Command tcprules reads rules in ucspi-tcp's
// syntax (pkg/rules) on standard input and replaces rules.cdb with their
// compiled form, atomically: a new file is written beside it, fsynced and
// renamed over it, and the directory is fsynced. On any error the old
// database stays as it was and no temporary file is left.
//
// See doc/tcprules.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
