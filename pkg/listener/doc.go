// Package listener is the TCP listener tcpserver and tlsserver share: it
// listens on one TCP address (or takes a listening socket from systemd or
// s6), accepts connections up to a limit, checks each against the -x
// rules in the parent, and spawns prog for each one with the socket on fd
// 0 and 1 and the UCSPI variables (doc/ucspi.md) in its environment, or
// hands the connection to a Handler (tlsserver's TLS). The accept path
// uses raw accept4: the Go poller never touches a socket a child gets.
// It links no crypto: a Handler brings its own.
package listener
