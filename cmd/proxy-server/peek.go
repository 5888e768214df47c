package main

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/proxyproto"
)

// headerAhead reports, without consuming anything (MSG_PEEK), whether the
// socket fd starts with a PROXY signature of an accepted version. It waits
// until enough bytes have arrived to tell (6 for "PROXY ", 12 for the v2
// signature) or until deadline. A connection that sends nothing by then,
// or ends, or starts with anything else, has no header: false. That is
// what makes -o usable for protocols where the server speaks first.
func headerAhead(fd int, versions int, deadline time.Time) (bool, error) {
	const v1, v2 = "PROXY ", "\r\n\r\n\x00\r\nQUIT\n"
	var buf [12]byte
	for {
		ms := -1
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return false, nil
			}
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		n, _, err = unix.Recvfrom(fd, buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return false, err
		}
		if n == 0 {
			return false, nil
		}
		p := string(buf[:n])
		could1 := versions&proxyproto.V1 != 0 && hasPrefixUpTo(v1, p)
		could2 := versions&proxyproto.V2 != 0 && hasPrefixUpTo(v2, p)
		switch {
		case could1 && n >= len(v1), could2 && n >= len(v2):
			return true, nil
		case !could1 && !could2:
			return false, nil
		}
		// A partial signature: poll would return at once (the bytes are
		// still unread), so wait a little for more, bounded by deadline.
		time.Sleep(5 * time.Millisecond)
	}
}

// hasPrefixUpTo reports whether p and sig agree on their common length.
func hasPrefixUpTo(sig, p string) bool {
	if len(p) > len(sig) {
		p = p[:len(sig)]
	}
	return sig[:len(p)] == p
}
