// Command tlsserver is the listener (pkg/listener)
// with tlsd's immediate mode done in-process for each connection (a
// listener.Handler), as ucspi-ssl's sslserver and s6-networking's
// s6-tlsserver are one command. The listener stays root: it reads the
// keys (parsed once per file content), signs for each engine over its key
// channel and spawns the engines (tlswrap) under TLS_UID, one started
// ahead of its connection; it parses no peer byte. The app runs under the
// -u/-g/-G/-U identity. doc/tlsserver.md is the user's page.
//
// for each one and runs prog on the cleartext. See doc/tlsserver.md.
package main

import "os"

func main() { os.Exit(run(os.Args, os.Environ())) }
