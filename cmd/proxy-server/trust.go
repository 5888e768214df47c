package main

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
)

// parseTrusted parses one -p argument: addresses and prefixes separated
// by commas ("127.0.0.1,10.0.0.0/8,::1"). An address stands for itself
// (/32, /128). It is strict, because a typo here decides who may choose
// TCPREMOTEIP: no empty item, no host bits after the prefix length
// ("10.0.0.1/8" is refused, not read as 10.0.0.0/8), no zone, and no
// IPv4-mapped IPv6 form, which would never match (tcpserver writes an
// IPv4 peer in IPv4 form).
func parseTrusted(arg string) ([]netip.Prefix, error) {
	var list []netip.Prefix
	for _, item := range strings.Split(arg, ",") {
		p, err := parseTrustedItem(item)
		if err != nil {
			return nil, errors.New("option -p: " + strconv.Quote(item) + ": " + err.Error())
		}
		list = append(list, p)
	}
	return list, nil
}

func parseTrustedItem(item string) (netip.Prefix, error) {
	if item == "" {
		return netip.Prefix{}, errors.New("empty address")
	}
	var p netip.Prefix
	if strings.Contains(item, "/") {
		var err error
		if p, err = netip.ParsePrefix(item); err != nil {
			return p, errors.New("not an address or prefix")
		}
	} else {
		a, err := netip.ParseAddr(item)
		if err != nil || a.Zone() != "" {
			return p, errors.New("not an address or prefix")
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Is4In6() {
		return p, errors.New("IPv4-mapped form: write the IPv4 address")
	}
	if p != p.Masked() {
		return p, errors.New("host bits set: did you mean " + p.Masked().String() + "?")
	}
	return p, nil
}

// trusted reports whether the peer named by ip (TCPREMOTEIP as tcpserver
// wrote it) is in list. A missing or unreadable address is not trusted.
func trusted(list []netip.Prefix, ip string) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.WithZone("").Unmap()
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
