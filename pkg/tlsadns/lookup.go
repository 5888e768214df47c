package tlsadns

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tlschain/tlschain/pkg/dane"
	"github.com/tlschain/tlschain/pkg/exitcode"
)

const resolvConf = "/etc/resolv.conf"

// SystemResolver returns the first nameserver of /etc/resolv.conf.
func SystemResolver() (string, error) {
	b, err := os.ReadFile(resolvConf)
	if err != nil {
		return "", exitcode.Temp("read", resolvConf, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "nameserver" {
			if a, err := netip.ParseAddr(f[1]); err == nil {
				return netip.AddrPortFrom(a.WithZone(""), 53).String(), nil
			}
		}
	}
	return "", exitcode.Config("find", "a nameserver in "+resolvConf, errors.New("none listed"))
}

// Answer is what a reply says: its rcode, whether the resolver set the
// AD bit (it validated the answer with DNSSEC), and the TLSA records.
type Answer struct {
	Rcode   int
	AD      bool
	Records []dane.Record
}

// Lookup asks the resolver at ap for qname's TLSA records over UDP, twice
// at most, each try within d. Whether AD may be trusted (a loopback
// resolver) is the caller's decision.
func Lookup(ap netip.AddrPort, qname string, d time.Duration) (*Answer, error) {
	a, err := lookup(ap, qname, d)
	if err != nil {
		return nil, err
	}
	return &Answer{Rcode: a.rcode, AD: a.ad, Records: a.records}, nil
}

func lookup(ap netip.AddrPort, qname string, d time.Duration) (*answer, error) {
	var lastErr error
	for try := 0; try < 2; try++ {
		q, err := buildQuery(newID(), qname)
		if err != nil {
			return nil, err
		}
		a, err := exchange(ap, q, d)
		if err == errTruncated {
			return nil, err // the resolver's own answer: a second try gets the same
		}
		if err != nil {
			lastErr = err
			continue
		}
		return a, nil
	}
	return nil, lastErr
}

// newID returns a query id from crypto/rand: an off-path attacker must
// guess it, and the kernel's random source port, for a forged reply to be
// taken (RFC 5452 §9.2). crypto/rand.Read does not return an error:
// it ends the program if the kernel cannot give randomness.
func newID() uint16 {
	var b [2]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint16(b[:])
}

// exchange sends q to ap over a connected UDP socket and returns the
// reply to it that comes back within d. A datagram that is not that reply
// (another id or question, answers off the chain, garbage) is ignored and
// the wait goes on, as a resolver does: a forged or stale datagram must
// neither be taken nor end the wait before the real reply comes.
func exchange(ap netip.AddrPort, q []byte, d time.Duration) (*answer, error) {
	addr := ap.Addr().Unmap()
	var sa unix.Sockaddr
	family := unix.AF_INET
	if addr.Is4() {
		sa = &unix.SockaddrInet4{Port: int(ap.Port()), Addr: addr.As4()}
	} else {
		family = unix.AF_INET6
		sa = &unix.SockaddrInet6{Port: int(ap.Port()), Addr: addr.As16()}
	}
	fd, err := unix.Socket(family, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return nil, err
	}
	if _, err := unix.Write(fd, q); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(d)
	buf := make([]byte, 65535)
	var ignored error
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return nil, timedOut(ignored)
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(left/time.Millisecond)+1)
		if err == unix.EINTR || err == nil && n == 0 {
			continue
		}
		if err != nil {
			return nil, err
		}
		n, err = unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		a, err := parseReply(buf[:n], q)
		if err == nil || err == errTruncated {
			return a, err
		}
		ignored = err
	}
}

// timedOut is the error of a wait that ended without the reply; it names
// the last datagram ignored, if any, for the operator of a resolver that
// answers wrongly.
func timedOut(ignored error) error {
	if ignored == nil {
		return errors.New("timed out")
	}
	return errors.New("timed out, ignored a datagram: " + ignored.Error())
}

// ValidName reports whether name can be asked for (LDH or underscore
// labels of 1–63 bytes, 253 bytes at most, one final dot allowed).
func ValidName(name string) bool {
	_, err := buildQuery(0, name)
	return err == nil
}
