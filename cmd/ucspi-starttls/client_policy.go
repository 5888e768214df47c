package main

import (
	"github.com/tlschain/tlschain/pkg/dane"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Values of SSL_PEER_VERIFY the policies look at (tlswrap -V).
const (
	verifyPKIX      = "verified"
	verifyDANEEE    = "dane-ee"
	verifyDANETA    = "dane-ta"
	verifyCleartext = "cleartext"
)

// policy is the client's TLS security level in Postfix's sense
// (smtp_tls_security_level), resolved against the TLSA records.
type policy struct {
	name      string // as given: none, may, encrypt, verify, secure, dane, dane-only, fingerprint
	tls       bool   // try STARTTLS at all
	mandatory bool   // no cleartext: defer instead
	// unverified says the policy may send over TLS to a server whose
	// certificate does not verify (PKIX): it needs an engine that
	// reports that instead of failing the handshake (needReport).
	unverified bool
	// accept says whether a handshake with this SSL_PEER_VERIFY value
	// may carry the mail.
	accept func(verify string) bool
	// refuse, when set, defers before anything is sent (dane-only
	// without usable TLSA records).
	refuse string
}

func acceptAny(string) bool { return true }

// resolvePolicy turns -p (or STARTTLS_POLICY) and the TLSA variable into
// a policy. dane: usable TLSA records make TLS mandatory and DANE-
// authenticated; records that are all unusable make it mandatory
// unauthenticated; no records make it opportunistic (RFC 7672 §2.2).
// dane-only defers when there is no usable record. A TLSA value that does
// not parse counts as unusable records under dane, so the mail still goes
// out encrypted, never in clear.
func resolvePolicy(name string, tlsa string, haveTLSA bool) (*policy, error) {
	usable := 0
	if haveTLSA && tlsa != "" {
		if rs, err := dane.Parse(tlsa); err == nil {
			usable = len(dane.Usable(rs))
		}
	} else {
		haveTLSA = false
	}
	p := &policy{name: name, tls: true, accept: acceptAny}
	switch name {
	case "none":
		p.tls = false
	case "may":
		p.unverified = true
	case "encrypt":
		p.mandatory, p.unverified = true, true
	case "verify", "secure":
		// secure is verify with the MX hosts limited to the destination
		// and its subdomains: the limit is the policy table's (-P).
		p.mandatory = true
		p.accept = func(v string) bool { return v == verifyPKIX }
	case "fingerprint":
		// The pins come from the policy table (-P); without them nothing
		// can match, so defer before anything is sent.
		p.mandatory, p.unverified = true, true
		p.accept = func(string) bool { return false }
		p.refuse = "no-pins"
	case "dane", "dane-only":
		// dane goes on without DANE where there is no usable record, so
		// it always needs the report: a chain is right or wrong for every
		// MX, not only for those without TLSA records.
		p.unverified = name == "dane"
		switch {
		case usable > 0:
			p.mandatory = true
			p.accept = func(v string) bool { return v == verifyDANEEE || v == verifyDANETA }
		case name == "dane-only":
			p.mandatory = true
			p.refuse = "no-usable-tlsa"
		case haveTLSA:
			p.mandatory = true
		}
	default:
		return nil, exitcode.UsageError("unknown policy " + logline.Quote(name, 40) + " (none, may, encrypt, verify, secure, dane, dane-only or fingerprint)")
	}
	return p, nil
}

// needReport refuses a policy that takes servers whose certificate does
// not verify under a tlsc -n that fails the handshake on them: every such
// server's mail would be deferred. tlsc -n says how it checks in
// TLSC_VERIFY; without --verify-report (or --no-verify-cert) the chain is
// wrong, whatever the server. A TLSC_VERIFY that lies can only let the
// handshake fail, never make an unverified server pass for a verified one:
// the engine decides that, and SSL_PEER_VERIFY reports it.
func (p *policy) needReport(env *ucspi.Env) error {
	if !p.unverified {
		return nil
	}
	v, ok := env.Get(ucspi.TLSCVerify)
	if v == ucspi.VerifyReport || v == ucspi.VerifyNone {
		return nil
	}
	is := ucspi.TLSCVerify + " not set"
	if ok {
		is = ucspi.TLSCVerify + "=" + logline.Quote(v, 20)
	}
	return exitcode.UsageError("policy " + p.name + " needs tlsc -n --verify-report (" + is + "): without it a server whose certificate does not verify fails the handshake and the mail is deferred")
}
