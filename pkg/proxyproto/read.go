package proxyproto

import (
	"time"

	"golang.org/x/sys/unix"
)

// Versions accepted by Read.
const (
	V1 = 1 << iota
	V2
	Both = V1 | V2
)

// Read reads one header from fd and returns it with its raw bytes. It
// reads exactly the header and nothing after it: v1 one byte at a time up
// to LF (at most 107 bytes), v2 the 16 fixed bytes, then the length they
// declare. The whole header must arrive before deadline (the zero time
// waits forever), so a peer sending a partial header cannot hold the
// process: ErrTimeout then. fd may be blocking or not. A malformed header
// or one of a version not in versions is an *Error; end of input before
// the header is complete is an *Error too; a failed system call is
// returned as its errno.
func Read(fd int, versions int, deadline time.Time) (*Header, []byte, error) {
	r := reader{fd: fd, deadline: deadline}
	var buf [V2FixedLen + MaxV2Len]byte
	if err := r.full(buf[:1]); err != nil {
		return nil, nil, err
	}
	switch {
	case buf[0] == 'P' && versions&V1 != 0:
		return r.v1(buf[:])
	case buf[0] == sigV2[0] && versions&V2 != 0:
		return r.v2(buf[:])
	case versions == V1:
		return nil, nil, bad("no PROXY v1 signature")
	case versions == V2:
		return nil, nil, bad("no PROXY v2 signature")
	}
	return nil, nil, bad("no PROXY signature")
}

func (r *reader) v1(buf []byte) (*Header, []byte, error) {
	const prefix = "PROXY "
	n := 1
	for n < MaxV1Len {
		if err := r.full(buf[n : n+1]); err != nil {
			return nil, nil, err
		}
		c := buf[n]
		n++
		// Give up at the first byte that cannot belong to a header, so
		// that a client speaking another protocol fails at once.
		if n <= len(prefix) && c != prefix[n-1] {
			return nil, nil, bad("no PROXY v1 signature")
		}
		if c == '\n' {
			h, err := ParseV1(buf[:n])
			return h, buf[:n], err
		}
	}
	return nil, nil, bad("v1 header longer than 107 bytes")
}

func (r *reader) v2(buf []byte) (*Header, []byte, error) {
	if err := r.full(buf[1:12]); err != nil {
		return nil, nil, err
	}
	if string(buf[:12]) != sigV2 {
		return nil, nil, bad("no PROXY v2 signature")
	}
	if err := r.full(buf[12:V2FixedLen]); err != nil {
		return nil, nil, err
	}
	n, err := v2Len(buf[:V2FixedLen])
	if err != nil {
		return nil, nil, err
	}
	if err := r.full(buf[V2FixedLen : V2FixedLen+n]); err != nil {
		return nil, nil, err
	}
	b := buf[:V2FixedLen+n]
	h, err := ParseV2(b)
	return h, b, err
}

type reader struct {
	fd       int
	deadline time.Time
}

// full fills b from the fd, waiting with poll(2) so that the deadline
// holds on a blocking fd too.
func (r *reader) full(b []byte) error {
	for len(b) > 0 {
		if err := r.wait(); err != nil {
			return err
		}
		n, err := unix.Read(r.fd, b)
		switch {
		case err == unix.EINTR || err == unix.EAGAIN:
			continue
		case err != nil:
			return err
		case n == 0:
			return bad("connection closed before the end of the PROXY header")
		}
		b = b[n:]
	}
	return nil
}

// wait returns when the fd is readable (or at EOF or error, which read
// then reports) or with ErrTimeout at the deadline.
func (r *reader) wait() error {
	for {
		ms := -1
		if !r.deadline.IsZero() {
			left := time.Until(r.deadline)
			if left <= 0 {
				return ErrTimeout
			}
			ms = int((left + time.Millisecond - 1) / time.Millisecond)
		}
		fds := []unix.PollFd{{Fd: int32(r.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
	}
}
