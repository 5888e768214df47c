// Command tcprulescheck looks a client up
// in a rules database exactly as tcpserver -x does (rules.DB.Lookup) and
// prints the rule that applies, in ucspi-tcp's words.
//
// a client, and what it sets. See doc/tcprulescheck.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
