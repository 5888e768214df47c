// Package tcpserver is the tcpserver program: it listens on one TCP
// address (or takes a listening socket from systemd or s6), accepts
// connections up to a limit, checks each against the -x rules in the
// parent, and spawns prog for each one with the socket on fd 0 and 1 and
// the UCSPI variables (doc/ucspi.md) in its environment. The accept path
// uses raw accept4: the Go poller never touches a socket a child gets.
// doc/tcpserver.md is the user's page.
package tcpserver
