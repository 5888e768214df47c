package main

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

// dnsTimeout bounds one name lookup; the resolver's own retries (from
// resolv.conf) happen inside it.
const dnsTimeout = 30 * time.Second

// resolve returns the addresses to try for host, in the resolver's order,
// each once, restricted to family. Host "0" (and "") is the loopback
// address, as in ucspi-tcp; numeric addresses are used without DNS.
func resolve(host string, family int) ([]netip.Addr, error) {
	if host == "" || host == "0" {
		if family == family6 {
			return []netip.Addr{netip.IPv6Loopback()}, nil
		}
		return []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1})}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		ip = ip.Unmap()
		if !familyOK(ip, family) {
			return nil, exitcode.New(exitcode.Usage, "use", host, errors.New("not an IPv"+strconv.Itoa(family)+" address"))
		}
		return []netip.Addr{ip}, nil
	}
	network := "ip"
	switch family {
	case family4:
		network = "ip4"
	case family6:
		network = "ip6"
	}
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, network, host)
	if err != nil {
		return nil, exitcode.Temp("resolve", host, dnsError(err))
	}
	var out []netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if !familyOK(ip, family) || contains(out, ip) {
			continue
		}
		out = append(out, ip)
	}
	if len(out) == 0 {
		return nil, exitcode.Temp("resolve", host, errors.New("no IPv"+strconv.Itoa(family)+" address"))
	}
	return out, nil
}

func familyOK(ip netip.Addr, family int) bool {
	switch family {
	case family4:
		return ip.Is4()
	case family6:
		return ip.Is6()
	}
	return true
}

func contains(ips []netip.Addr, ip netip.Addr) bool {
	for _, x := range ips {
		if x == ip {
			return true
		}
	}
	return false
}

// dnsError drops the "lookup host on server:" decoration of a
// *net.DNSError: the host is already named in the message.
func dnsError(err error) error {
	var de *net.DNSError
	if errors.As(err, &de) {
		if de.IsNotFound {
			return errors.New("no such host")
		}
		if de.IsTimeout {
			return errors.New("lookup timed out")
		}
		return errors.New(de.Err)
	}
	return err
}

// lookupPort resolves a service name from /etc/services.
func lookupPort(service string) (uint16, error) {
	n, err := net.LookupPort("tcp", service)
	if err != nil || n <= 0 || n > 65535 {
		return 0, errors.New("unknown service")
	}
	return uint16(n), nil
}

// reverse returns the first name of ip's PTR records without the final
// dot, or "" when there is none.
func reverse(ip netip.Addr) string {
	ctx, cancel := context.WithTimeout(context.Background(), dnsTimeout)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, ip.String())
	if err != nil || len(names) == 0 {
		return ""
	}
	return strings.TrimSuffix(names[0], ".")
}

// zoneIndex returns the interface index of an IPv6 zone ("eth0" or "2").
func zoneIndex(zone string) (uint32, error) {
	if zone == "" {
		return 0, nil
	}
	if isDigits(zone) && len(zone) < 10 {
		n := 0
		for i := 0; i < len(zone); i++ {
			n = n*10 + int(zone[i]-'0')
		}
		return uint32(n), nil
	}
	ifi, err := net.InterfaceByName(zone)
	if err != nil {
		return 0, errors.New("unknown interface " + zone)
	}
	return uint32(ifi.Index), nil
}
