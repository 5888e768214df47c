// Package version is the suite's release, printed by every program's
// --version. The one place it is written is the file VERSION at the top of
// the repository: the Makefile links it in (-X); a plain "go build" says
// "devel".
package version

// Version is set at link time from VERSION.
var Version = "devel"

// Line is what --version prints on stdout: "prog version\n".
func Line(prog string) string { return prog + " " + Version + "\n" }
