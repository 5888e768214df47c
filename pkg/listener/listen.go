package listener

import (
	"errors"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// listener is the listening socket, a raw fd: the Go poller never sees it
// nor the sockets it accepts.
type listener struct {
	fd   int
	addr netip.AddrPort // the bound address
}

// listen creates, binds and listens. The socket is close-on-exec and
// non-blocking (accept waits in the runtime's poller, which a stop ends);
// the sockets accept4 returns do not inherit O_NONBLOCK.
func listen(addr netip.AddrPort, backlog int, reusePort bool) (*listener, error) {
	ip := addr.Addr()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	where := ip.String() + " port " + strconv.Itoa(int(addr.Port()))
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.IPPROTO_TCP)
	if err != nil {
		return nil, exitcode.Temp("create socket for", where, err)
	}
	fail := func(op string, err error) (*listener, error) {
		unix.Close(fd)
		return nil, exitcode.Temp(op, where, err)
	}
	// SO_REUSEADDR as ucspi-tcp: a restart must not wait for TIME_WAIT.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("set SO_REUSEADDR on", err)
	}
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			return fail("set SO_REUSEPORT on", err)
		}
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(addr.Port()), Addr: ip.As4()}
	} else {
		// "::" accepts IPv4 too, whatever net.ipv6.bindv6only says.
		if ip.IsUnspecified() {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 0); err != nil {
				return fail("clear IPV6_V6ONLY on", err)
			}
		}
		sa6 := &unix.SockaddrInet6{Port: int(addr.Port()), Addr: ip.As16()}
		if z := ip.Zone(); z != "" {
			if n, err := strconv.Atoi(z); err == nil {
				sa6.ZoneId = uint32(n)
			} else if ifi, err := net.InterfaceByName(z); err == nil {
				sa6.ZoneId = uint32(ifi.Index)
			} else {
				return fail("find interface of", err)
			}
		}
		sa = sa6
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return fail("listen on", err)
	}
	l := &listener{fd: fd, addr: addr}
	if addr.Port() == 0 {
		// The kernel chose the port.
		if local, err := sockName(fd); err == nil {
			l.addr = netip.AddrPortFrom(ip, local.Port())
		}
	}
	return l, nil
}

// inheritedFD returns the listening socket the process was started with,
// or -1: fd 3 when LISTEN_PID is our pid and LISTEN_FDS ≥ 1 (systemd), else
// fd 0 when it is a listening socket (s6-tcpserver-socketbinder).
func inheritedFD(envp []string) int {
	pid, ok1 := ucspi.Getenv(envp, ucspi.ListenPID)
	n, ok2 := ucspi.Getenv(envp, ucspi.ListenFDs)
	if ok1 && ok2 && pid == strconv.Itoa(unix.Getpid()) {
		if k, err := strconv.Atoi(n); err == nil && k >= 1 {
			return 3
		}
	}
	if isListening(0) {
		return 0
	}
	return -1
}

// isListening says whether fd is a listening stream socket.
func isListening(fd int) bool {
	v, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	return err == nil && v == 1
}

// adopt takes over an inherited listening socket: a close-on-exec copy
// above fd 2 in non-blocking mode. The original fd is left for the caller.
func adopt(fd int) (*listener, error) {
	what := "inherited socket fd " + strconv.Itoa(fd)
	if !isListening(fd) {
		return nil, exitcode.UsageError(what + " is not a listening socket")
	}
	dom, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	if err != nil || (dom != unix.AF_INET && dom != unix.AF_INET6) {
		return nil, exitcode.UsageError(what + " is not a TCP socket")
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, exitcode.Temp("duplicate", what, err)
	}
	// O_NONBLOCK lives on the open file description, which a socket
	// manager may share; it uses non-blocking accepts too (systemd polls).
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return nil, exitcode.Temp("set O_NONBLOCK on", what, err)
	}
	local, err := sockName(nfd)
	if err != nil {
		unix.Close(nfd)
		return nil, exitcode.Temp("read the address of", what, err)
	}
	return &listener{fd: nfd, addr: local}, nil
}

// sockName returns fd's local address, IPv4-mapped addresses as IPv4.
func sockName(fd int) (netip.AddrPort, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ap, ok := fromSockaddr(sa)
	if !ok {
		return netip.AddrPort{}, errors.New("not an internet socket")
	}
	return ap, nil
}

// fromSockaddr converts sa, showing an IPv4 peer of a dual-stack socket as
// plain IPv4 (127.0.0.1, not ::ffff:127.0.0.1).
func fromSockaddr(sa unix.Sockaddr) (netip.AddrPort, bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)), true
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		if ip.Is4In6() {
			return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port)), true
		}
		return netip.AddrPortFrom(ip, uint16(a.Port)), true
	}
	return netip.AddrPort{}, false
}
