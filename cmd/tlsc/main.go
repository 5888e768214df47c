// Command tlsc is the client side of TLS in immediate mode: with the
// connection to the server on fds 6 and 7 (from tcpclient), it spawns the
// TLS engine as an unprivileged user, waits for the handshake and the
// server's certificate check, sets the SSL_* variables and execs prog with
// cleartext pipes on fds 6 and 7. See doc/tlsc.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
