package listener

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"time"
)

// lookupTimeout bounds the reverse (and, with -p, forward) lookup of -h.
const lookupTimeout = 10 * time.Second

// lookupName returns the client's name by PTR lookup (-h), "" when there
// is none. With paranoid (-p) the name is kept only when its addresses
// include ip. Go's resolver rejects names that are not well-formed domain
// names, so the result is safe to pass on in TCPREMOTEHOST.
func lookupName(ip netip.Addr, paranoid bool) string {
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	names, err := net.DefaultResolver.LookupAddr(ctx, ip.String())
	if err != nil || len(names) == 0 {
		return ""
	}
	host := strings.TrimSuffix(names[0], ".")
	if !paranoid || host == "" {
		return host
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if a.Unmap() == ip {
			return host
		}
	}
	return ""
}
