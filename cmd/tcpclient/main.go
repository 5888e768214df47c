// Command tcpclient connects to a TCP server,
// trying each address of a name in turn with a timeout, then execs prog
// with the socket on fd 6 (read) and fd 7 (write) and the TCP* variables
// of doc/ucspi.md. See doc/tcpclient.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
