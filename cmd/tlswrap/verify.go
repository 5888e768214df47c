package main

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/netip"
	"strings"
	"time"

	"github.com/tlschain/tlschain/pkg/dane"
)

// Values of SSL_PEER_VERIFY (doc/tlswrap.md).
const (
	verifiedPKIX = "verified"
	verifiedEE   = "dane-ee"
	verifiedTA   = "dane-ta"
	verifyNone   = "none"
	untrusted    = "untrusted:"
)

// verifier checks the server's certificate on the client side when the
// engine must compute the result itself: DANE records were given (RFC
// 7672: they replace PKIX), or --verify-report asked for a report instead of a failed
// handshake. crypto/tls skips its own check (InsecureSkipVerify) and
// calls check from VerifyConnection; with report false an untrusted
// result fails the handshake, exactly as Go's own check would.
type verifier struct {
	roots  *x509.CertPool // nil: no CA records, PKIX cannot succeed
	name   string         // --server-name: SNI and the PKIX name
	base   string         // TLSA base name, for DANE-TA
	tlsa   []dane.Record  // the usable records; none: PKIX
	report bool           // --verify-report
	now    func() time.Time
	result string
}

// errUntrusted fails a handshake whose server is not trusted (no --verify-report).
type errUntrusted struct{ reason string }

func (e *errUntrusted) Error() string { return "server certificate not trusted: " + e.reason }

func (v *verifier) verifyConnection(cs tls.ConnectionState) error {
	v.result = v.check(cs.PeerCertificates)
	if !v.report && strings.HasPrefix(v.result, untrusted) {
		return &errUntrusted{strings.TrimPrefix(v.result, untrusted)}
	}
	return nil
}

// check returns the SSL_PEER_VERIFY value for the chain the server
// presented, leaf first.
func (v *verifier) check(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return untrusted + "no-certificate"
	}
	if len(v.tlsa) > 0 {
		return v.checkDANE(chain)
	}
	if v.roots == nil {
		return untrusted + "no-ca"
	}
	opts := x509.VerifyOptions{
		Roots:         v.roots,
		Intermediates: pool(chain[1:]),
		DNSName:       v.name,
		CurrentTime:   v.now(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if _, err := chain[0].Verify(opts); err != nil {
		return untrusted + reason(err)
	}
	return verifiedPKIX
}

// checkDANE matches the usable TLSA records (RFC 7672 §3.1, RFC 7671 §5).
// DANE-EE: the leaf matches, names and dates are not checked. DANE-TA: a
// certificate the server presented above the leaf matches, or, for a
// record that is the trust anchor's whole public key (2 1 0), a presented
// certificate is signed with that key (RFC 7671 §5.2.2: the anchor's own
// certificate need not be sent); either way the leaf chains to that
// certificate, valid now, with the TLSA base name (or --server-name) among its DNS
// names.
func (v *verifier) checkDANE(chain []*x509.Certificate) string {
	for _, r := range v.tlsa {
		if r.Usage == dane.UsageDANEEE && matches(r, chain[0]) {
			return verifiedEE
		}
	}
	why := "dane-mismatch"
	for _, r := range v.tlsa {
		if r.Usage != dane.UsageDANETA {
			continue
		}
		key := bareKey(r)
		for i := range chain {
			if i > 0 && matches(r, chain[i]) || key != nil && signedBy(chain[i], key) {
				err := v.chainsTo(chain, i)
				if err == nil {
					return verifiedTA
				}
				why = "dane-ta-" + reason(err)
			}
		}
	}
	return untrusted + why
}

// chainsTo checks that chain[0] chains to chain[i] through the
// certificates between them, valid now, issued to one of the DANE-TA
// names.
func (v *verifier) chainsTo(chain []*x509.Certificate, i int) error {
	roots := x509.NewCertPool()
	roots.AddCert(chain[i])
	var err error = x509.HostnameError{Certificate: chain[0], Host: v.base} // no DNS name to check
	for _, n := range names(v.base, v.name) {
		_, err = chain[0].Verify(x509.VerifyOptions{
			Roots:         roots,
			Intermediates: pool(chain[1:max(i, 1)]),
			DNSName:       n,
			CurrentTime:   v.now(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err == nil {
			return nil
		}
	}
	return err
}

// bareKey returns the public key of a DANE-TA record that holds one whole
// (selector SPKI, matching type full), or nil.
func bareKey(r dane.Record) any {
	if r.Selector != dane.SelectorSPKI || r.Matching != dane.MatchExact {
		return nil
	}
	key, err := x509.ParsePKIXPublicKey(r.Data)
	if err != nil {
		return nil
	}
	return key
}

// signedBy says whether c's signature was made with key.
func signedBy(c *x509.Certificate, key any) bool {
	issuer := &x509.Certificate{PublicKey: key}
	return issuer.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// names returns the names a DANE-TA chain may be issued to: the TLSA base
// name, and the name tlsc was given when it differs (RFC 7672 §3.2.3
// lets a client accept the MX host name it connected to).
func names(base, name string) []string {
	var out []string
	for _, n := range []string{base, name} {
		n = strings.TrimSuffix(n, ".")
		if n == "" || len(out) > 0 && strings.EqualFold(out[0], n) {
			continue
		}
		if _, err := netip.ParseAddr(n); err == nil {
			continue // DANE-TA names are DNS names
		}
		out = append(out, n)
	}
	return out
}

// matches says whether certificate c matches record r.
func matches(r dane.Record, c *x509.Certificate) bool {
	var b []byte
	switch r.Selector {
	case dane.SelectorCert:
		b = c.Raw
	case dane.SelectorSPKI:
		b = c.RawSubjectPublicKeyInfo
	default:
		return false
	}
	switch r.Matching {
	case dane.MatchExact:
		return bytes.Equal(b, r.Data)
	case dane.MatchSHA256:
		h := sha256.Sum256(b)
		return bytes.Equal(h[:], r.Data)
	case dane.MatchSHA512:
		h := sha512.Sum512(b)
		return bytes.Equal(h[:], r.Data)
	}
	return false
}

func pool(certs []*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// reason names a verification failure in one word, for the report and
// for grep.
func reason(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	switch {
	case errors.As(err, &ua):
		return "unknown-authority"
	case errors.As(err, &he):
		return "name-mismatch"
	case errors.As(err, &ci):
		switch ci.Reason {
		case x509.Expired:
			return "expired"
		case x509.IncompatibleUsage:
			return "bad-usage"
		case x509.NameMismatch, x509.NameConstraintsWithoutSANs, x509.CANotAuthorizedForThisName:
			return "name-constraints"
		}
		return "invalid"
	}
	return "invalid"
}
