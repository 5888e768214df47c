package main

import (
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// dial connects a new TCP socket to remote within timeout and returns it
// blocking and close-on-exec. A raw socket, not the net package: net would
// register the fd with the runtime poller and leave O_NONBLOCK on the open
// file description the app inherits. The timeout comes from poll(2) on a
// non-blocking connect; on expiry the error is ETIMEDOUT.
func dial(cfg *config, remote netip.Addr, timeout time.Duration) (int, error) {
	family := unix.AF_INET6
	if remote.Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := setup(fd, cfg, remote); err != nil {
		unix.Close(fd)
		return -1, err
	}
	sa, err := sockaddr(remote, cfg.remotePort)
	if err != nil {
		unix.Close(fd)
		return -1, err
	}
	if err := connect(fd, sa, timeout); err != nil {
		unix.Close(fd)
		return -1, err
	}
	// Clear O_NONBLOCK: the app expects blocking reads on fd 6.
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// setup sets the socket options and binds the local end if -i or -p asked.
func setup(fd int, cfg *config, remote netip.Addr) error {
	if !cfg.delay {
		// TCP_NODELAY by default: a request-reply protocol over a chain of
		// small writes otherwise stalls on Nagle and delayed ACKs.
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
			return err
		}
	}
	if !cfg.localIP.IsValid() && cfg.localPort == 0 {
		return nil
	}
	local := cfg.localIP
	if !local.IsValid() {
		local = netip.IPv6Unspecified()
		if remote.Is4() {
			local = netip.IPv4Unspecified()
		}
	}
	if cfg.localPort != 0 {
		// A fixed local port is reused connection after connection; let a
		// new one bind while the last one is in TIME_WAIT.
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return err
		}
	}
	sa, err := sockaddr(local, cfg.localPort)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, sa); err != nil {
		return &bindError{err}
	}
	return nil
}

// bindError marks a failure to bind the local address: it is not the
// remote address's fault, so trying the next one will not help.
type bindError struct{ errno error }

func (e *bindError) Error() string { return "unable to bind local address: " + e.errno.Error() }
func (e *bindError) Unwrap() error { return e.errno }

func sockaddr(ip netip.Addr, port uint16) (unix.Sockaddr, error) {
	if ip.Is4() {
		return &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}, nil
	}
	zone, err := zoneIndex(ip.Zone())
	if err != nil {
		return nil, err
	}
	return &unix.SockaddrInet6{Port: int(port), Addr: ip.As16(), ZoneId: zone}, nil
}

// connect starts a non-blocking connect and waits for it with poll(2).
func connect(fd int, sa unix.Sockaddr, timeout time.Duration) error {
	err := unix.Connect(fd, sa)
	if err == nil {
		return nil
	}
	if err != unix.EINPROGRESS && err != unix.EINTR {
		return err
	}
	deadline := time.Now().Add(timeout)
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return unix.ETIMEDOUT
		}
		ms := int((left + time.Millisecond - 1) / time.Millisecond)
		n, err := unix.Poll(pfd, ms)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			continue // the loop checks the deadline
		}
		break
	}
	soerr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if soerr != 0 {
		return unix.Errno(soerr)
	}
	return nil
}

// addrs returns the local and remote address of a connected socket.
func addrs(fd int) (local, remote netip.AddrPort, err error) {
	lsa, err := unix.Getsockname(fd)
	if err != nil {
		return local, remote, err
	}
	rsa, err := unix.Getpeername(fd)
	if err != nil {
		return local, remote, err
	}
	return addrPort(lsa), addrPort(rsa), nil
}

func addrPort(sa unix.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(sa.Addr).Unmap()
		return netip.AddrPortFrom(ip, uint16(sa.Port))
	}
	return netip.AddrPort{}
}
