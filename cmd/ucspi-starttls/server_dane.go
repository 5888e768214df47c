package main

import (
	"net/netip"
	"strconv"
	"time"

	"github.com/tlschain/tlschain/pkg/dane"
	"github.com/tlschain/tlschain/pkg/logline"
	ptable "github.com/tlschain/tlschain/pkg/policy"
	"github.com/tlschain/tlschain/pkg/tlsadns"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// DANE client authentication (-D prefix, server mode, SMTP): after the
// handshake, the client certificate the engine reported (tlsd -A: asked
// for, never verified) is matched against the DNSSEC-secure TLSA records
// at <prefix>.<EHLO name>. RFC 7672 defines no client DANE; the owner
// name is the operator's choice (-D _25._tcp: the records the sending
// host publishes for its own inbound SMTP, the common practice). The
// outcome only changes what the fresh app is told, never the session:
// SSL_CLIENT_DANE=verified|failed|none, SSL_CLIENT_DANE_NAME=<name>.

// Values of SSL_CLIENT_DANE.
const (
	daneVerified = "verified"
	daneFailed   = "failed"
	daneNone     = "none"
)

// daneLookupTimeout bounds each of tlsadns's two tries.
const daneLookupTimeout = 5 * time.Second

// heloNamer is a protocol session that remembers the EHLO name (SMTP).
type heloNamer interface{ HeloName() string }

// daneClient sets SSL_CLIENT_DANE and SSL_CLIENT_DANE_NAME in env, the
// fresh app's environment, from the report vars. Without -D both are
// removed (never inherited).
func (s *session) daneClient(env *ucspi.Env, vars []ucspi.Var) {
	env.Unset(ucspi.SSLClientDANE, ucspi.SSLClientDANEName)
	if s.cfg.danePrefix == "" {
		return
	}
	var cert, spki string
	for _, v := range vars {
		switch {
		case v.Unset:
		case v.Name == ucspi.SSLPeerCertHash:
			cert = v.Value
		case v.Name == ucspi.SSLPeerSPKIHash:
			spki = v.Value
		}
	}
	helo := ""
	if h, ok := s.p.(heloNamer); ok {
		helo = h.HeloName()
	}
	name, okName := ptable.Normalize(helo)
	result, why := daneNone, ""
	switch {
	case cert == "":
		why = "no-certificate"
	case !okName:
		why = "no-ehlo-name"
	default:
		env.Set(ucspi.SSLClientDANEName, name)
		result, why = s.matchClientTLSA(name, cert, spki)
	}
	env.Set(ucspi.SSLClientDANE, result)
	n := name
	if n == "" {
		n = "-"
	}
	fields := []string{"result", result, "name", logline.Safe(n)}
	if why != "" {
		fields = append(fields, "reason", why)
	}
	s.log.Info("dane-client", fields...)
}

// matchClientTLSA looks the records up and matches them: verified when
// a usable record matches, failed when usable records exist and none
// matches, none when there is nothing secure to match against.
func (s *session) matchClientTLSA(name, cert, spki string) (string, string) {
	server := s.cfg.resolver
	if server == "" {
		var err error
		if server, err = tlsadns.SystemResolver(); err != nil {
			return daneNone, "no-resolver"
		}
	}
	ap, err := netip.ParseAddrPort(server)
	if err != nil {
		return daneNone, "no-resolver"
	}
	qname := s.cfg.danePrefix + "." + name
	if !tlsadns.ValidName(qname) {
		return daneNone, "bad-name"
	}
	a, err := tlsadns.Lookup(ap, qname, daneLookupTimeout)
	switch {
	case err != nil:
		return daneNone, "lookup-failed"
	case a.Rcode != 0:
		return daneNone, "rcode-" + strconv.Itoa(a.Rcode)
	case len(a.Records) == 0:
		return daneNone, "no-tlsa"
	case !a.AD:
		return daneNone, "insecure"
	case !ap.Addr().Unmap().IsLoopback():
		// The AD bit means something only from a resolver on this host.
		return daneNone, "resolver-not-loopback"
	}
	// DANE-EE with SHA-256 is what the report's digests can match; the
	// engine does not pass the chain, so DANE-TA cannot be checked here.
	var usable []dane.Record
	for _, r := range a.Records {
		if r.Usage == dane.UsageDANEEE && r.Selector <= dane.SelectorSPKI && r.Matching == dane.MatchSHA256 && len(r.Data) == 32 {
			usable = append(usable, r)
		}
	}
	if len(usable) == 0 {
		return daneNone, "no-usable-tlsa"
	}
	e := &ptable.Entry{TLSA: usable}
	if e.MatchPins(cert, spki) {
		return daneVerified, ""
	}
	return daneFailed, "mismatch"
}
