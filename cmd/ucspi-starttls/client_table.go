package main

import (
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/logline"
	ptable "github.com/tlschain/tlschain/pkg/policy"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Client mode's per-destination policy table (-P, doc/policy.md): the
// entry for the destination domain (-d or STARTTLS_DOMAIN) replaces -p,
// may restrict the MX hosts the mail may go to, and may pin the server's
// key (fingerprint). Whatever goes wrong with the table defers the mail:
// a table that cannot be read must not turn into cleartext.

// Values of the verify log field for pinned servers.
const (
	verifyPinned   = "fingerprint"
	verifyUnpinned = "fingerprint-mismatch"
)

// dest is the outcome of the table lookup.
type dest struct {
	entry  *ptable.Entry // nil: no table, or no entry (not even a default)
	domain string
	key    string // the key that matched
	mx     string // the MX host name, normalised; "" when unknown
	refuse string // defer before anything is sent
}

// lookupDest reads the table for this connection. Errors are usage
// errors (the chain is wrong); a table that cannot be used is a refusal.
func lookupDest(cfg *config, env *ucspi.Env, log *logline.Logger) (*dest, error) {
	d := &dest{}
	if cfg.table == "" {
		return d, nil
	}
	domain := cfg.domain
	if domain == "" {
		domain, _ = env.Get(ucspi.StarttlsDomain)
	}
	if domain == "" {
		return nil, exitcode.UsageError("-P needs the destination domain: -d or " + ucspi.StarttlsDomain)
	}
	n, ok := ptable.Normalize(domain)
	if !ok {
		return nil, exitcode.UsageError("bad destination domain " + logline.Quote(domain, 40))
	}
	d.domain = n
	mx := cfg.mxHost
	if mx == "" {
		mx, _ = env.Get(ucspi.TLSABaseName)
	}
	if mx == "" {
		mx, _ = env.Get(ucspi.TCPRemoteHost)
	}
	d.mx, _ = ptable.Normalize(mx)
	t, err := ptable.Open(cfg.table)
	if err != nil {
		log.Warn("policy", "table", logline.Safe(cfg.table), "err", err.Error())
		d.refuse = "policy-table-unavailable"
		return d, nil
	}
	defer t.Close()
	e, key, found, err := t.Lookup(n)
	if err != nil {
		log.Warn("policy", "table", logline.Safe(cfg.table), "err", err.Error())
		d.refuse = "policy-table-unavailable"
		return d, nil
	}
	if !found {
		log.Debug("policy", "domain", n, "entry", "-")
		return d, nil
	}
	d.entry, d.key = e, key
	log.Debug("policy", "domain", n, "key", key, "entry", logline.Printable(e.String(), 200))
	if e.Constrained() {
		switch {
		case d.mx == "":
			d.refuse = "mx-unknown"
		case !e.AllowsMX(n, d.mx):
			d.refuse = "mx-not-allowed"
		}
	}
	return d, nil
}

// policyName is the policy to resolve: the table entry's, else -p, else
// STARTTLS_POLICY (the caller's default), else may.
func (d *dest) policyName(flag string, env *ucspi.Env) string {
	if d.entry != nil {
		return d.entry.Policy
	}
	if flag != "" {
		return flag
	}
	if v, _ := env.Get(ucspi.StarttlsPolicy); v != "" {
		return v
	}
	return "may"
}

// apply puts the table's outcome into the client: a refusal, the MX host
// for the log, and for fingerprint the pin check, which accepts the
// server when its leaf or SPKI digest from the report matches a pin and
// shows the outcome in the verify field.
func (d *dest) apply(c *client) {
	if d.mx != "" && c.host == "-" {
		c.host = d.mx
	}
	if d.entry != nil && d.entry.Policy == ptable.Fingerprint {
		c.pol.refuse = ""
		e := d.entry
		c.pol.accept = func(string) bool {
			var cert, spki string
			for _, v := range c.vars {
				switch {
				case v.Unset:
				case v.Name == ucspi.SSLPeerCertHash:
					cert = v.Value
				case v.Name == ucspi.SSLPeerSPKIHash:
					spki = v.Value
				}
			}
			if e.MatchPins(cert, spki) {
				c.verify = verifyPinned
				return true
			}
			c.verify = verifyUnpinned
			return false
		}
	}
	if d.refuse != "" {
		c.pol.refuse = d.refuse
	}
}
