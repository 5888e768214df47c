package listener

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

// servicesFile is where service names are looked up (a variable for tests).
var servicesFile = "/etc/services"

// resolveHost turns the host operand into an address: "" and "0" are
// 0.0.0.0 (ucspi-tcp), a literal is itself (IPv4-mapped IPv6 becomes IPv4),
// a name is its first address. A zone ("fe80::1%eth0") is kept.
func resolveHost(host string) (netip.Addr, error) {
	if host == "" || host == "0" {
		return netip.IPv4Unspecified(), nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap(), nil
	}
	if strings.ContainsAny(host, " \t\n/%") {
		return netip.Addr{}, exitcode.UsageError("bad address " + strconv.Quote(host))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil || len(ips) == 0 {
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && (dnsErr.IsTemporary || dnsErr.IsTimeout) {
			return netip.Addr{}, exitcode.Temp("resolve", host, errors.New(dnsErr.Err))
		}
		return netip.Addr{}, exitcode.UsageError("bad address " + strconv.Quote(host) + ": no such host")
	}
	return ips[0].Unmap(), nil
}

// resolvePort turns the port operand into a number: decimal 0–65535, or a
// tcp service name from /etc/services.
func resolvePort(port string) (int, error) {
	if port != "" && port[0] >= '0' && port[0] <= '9' {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return 0, exitcode.UsageError("bad port " + strconv.Quote(port))
		}
		return n, nil
	}
	data, err := os.ReadFile(servicesFile)
	if err != nil {
		return 0, exitcode.UsageError("bad port " + strconv.Quote(port) + ": unable to read " + servicesFile)
	}
	if n, ok := lookupService(data, port); ok {
		return n, nil
	}
	return 0, exitcode.UsageError("bad port " + strconv.Quote(port) + ": no such tcp service")
}

// lookupService finds name (or an alias) with protocol tcp in the text of
// an /etc/services file: "name port/proto [alias...] [# comment]".
func lookupService(data []byte, name string) (int, bool) {
	if name == "" {
		return 0, false
	}
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte{'\n'})
		if i := bytes.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(string(line))
		if len(f) < 2 {
			continue
		}
		num, proto, ok := strings.Cut(f[1], "/")
		if !ok || proto != "tcp" {
			continue
		}
		match := f[0] == name
		for _, alias := range f[2:] {
			match = match || alias == name
		}
		if !match {
			continue
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || n > 65535 {
			continue
		}
		return n, true
	}
	return 0, false
}
