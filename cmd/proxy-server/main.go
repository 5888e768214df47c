// Command proxy-server reads the PROXY
// protocol header a proxy such as haproxy sends first on a connection,
// puts the client's addresses in TCPREMOTEIP/TCPREMOTEPORT and
// TCPLOCALIP/TCPLOCALPORT, then execs prog with fds 0 and 1 untouched and
// positioned just after the header. Only a peer named by -p (a trusted
// proxy) may send a header. See doc/proxy-server.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
