// Package policy is the outbound per-destination TLS policy table: the
// text syntax (one destination domain per line), its compiled form (a
// cdb written by tlspolicy, read by ucspi-starttls -c) and the lookup
// rules (exact domain, then the longest ".parent" entry, then the
// default). See doc/policy.md.
//
// A line:
//
//	domain policy [mx=pattern,pattern...] [tlsa="3 1 1 hex"]... [pin=sha256:hex]...
//
// domain is "example.com" (that domain only), ".example.com" (every
// subdomain, not example.com itself) or "*" / "." (the default). policy is
// one of none, may, encrypt, verify, secure, dane, dane-only, fingerprint
// (Postfix's smtp_tls_security_level words). mx= lists the MX host names
// a connection for this domain may go to: "mx.example.com" that host,
// ".example.com" any host below example.com. tlsa= and pin= are static
// DANE-EE records for fingerprint, matched against the SHA-256 digests
// the engine reports (SSL_PEER_CERT_HASH, SSL_PEER_SPKI_HASH).
package policy

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/tlschain/tlschain/pkg/dane"
	"github.com/tlschain/tlschain/pkg/logline"
)

// Policy words (Postfix's levels, doc/design.md §5.5).
const (
	None        = "none"
	May         = "may"
	Encrypt     = "encrypt"
	Verify      = "verify"
	Secure      = "secure"
	DANE        = "dane"
	DANEOnly    = "dane-only"
	Fingerprint = "fingerprint"
)

// DefaultKey is the key of the default entry in the compiled table; "."
// in the text is the same entry.
const DefaultKey = "*"

// Limits: longer lines and more patterns than any real table has.
const (
	MaxLine     = 64 << 10
	MaxPatterns = 64
	MaxDomain   = 253
)

// Entry is the policy of one destination.
type Entry struct {
	Policy string
	// MX lists the allowed MX host patterns, lower case; empty = any MX
	// (for secure: the destination and its subdomains, Postfix's
	// "nexthop:dot-nexthop").
	MX []string
	// TLSA are the static DANE-EE records (usage 3, selector 0 or 1,
	// SHA-256), pin= included as 3 1 1.
	TLSA []dane.Record
}

// Line is one parsed line of the text: the domain key and its entry.
type Line struct {
	Key   string // lower case: "example.com", ".example.com" or "*"
	Entry Entry
}

// ErrSkip is returned by ParseLine for a comment or an empty line.
var ErrSkip = errors.New("comment or empty line")

// ParseLine parses one line of the text. Comments (# first, after
// optional blanks) and blank lines give ErrSkip.
func ParseLine(s string) (*Line, error) {
	s = strings.TrimRight(s, "\r\n")
	if len(s) > MaxLine {
		return nil, errors.New("line longer than 65536 bytes")
	}
	t := strings.TrimLeft(s, " \t")
	if t == "" || t[0] == '#' {
		return nil, ErrSkip
	}
	f, err := fields(t)
	if err != nil {
		return nil, err
	}
	key, err := parseKey(f[0])
	if err != nil {
		return nil, err
	}
	if len(f) < 2 {
		return nil, errors.New("no policy after " + logline.Quote(f[0], 60))
	}
	e, err := parseEntry(f[1:])
	if err != nil {
		return nil, err
	}
	return &Line{Key: key, Entry: *e}, nil
}

// ParseEntry parses the policy part of a line (what the compiled table
// stores for a key).
func ParseEntry(s string) (*Entry, error) {
	f, err := fields(s)
	if err != nil {
		return nil, err
	}
	if len(f) == 0 {
		return nil, errors.New("no policy")
	}
	return parseEntry(f)
}

func parseEntry(f []string) (*Entry, error) {
	e := &Entry{Policy: f[0]}
	switch e.Policy {
	case None, May, Encrypt, Verify, Secure, DANE, DANEOnly, Fingerprint:
	default:
		return nil, errors.New("unknown policy " + logline.Quote(e.Policy, 60) + " (none, may, encrypt, verify, secure, dane, dane-only or fingerprint)")
	}
	for _, a := range f[1:] {
		k, v, ok := strings.Cut(a, "=")
		if !ok {
			return nil, errors.New("want name=value, not " + logline.Quote(a, 60))
		}
		switch k {
		case "mx":
			for _, p := range strings.Split(v, ",") {
				p, err := parsePattern(p)
				if err != nil {
					return nil, err
				}
				if len(e.MX) == MaxPatterns {
					return nil, errors.New("more than 64 mx patterns")
				}
				e.MX = append(e.MX, p)
			}
		case "tlsa":
			rs, err := dane.Parse(v)
			if err != nil {
				return nil, err
			}
			for _, r := range rs {
				if r.Usage != dane.UsageDANEEE || r.Selector > dane.SelectorSPKI || r.Matching != dane.MatchSHA256 || len(r.Data) != 32 {
					return nil, errors.New("tlsa " + logline.Quote(r.String(), 60) + ": only 3 0 1 and 3 1 1 records (DANE-EE, SHA-256)")
				}
				e.TLSA = append(e.TLSA, r)
			}
		case "pin":
			h, ok := strings.CutPrefix(v, "sha256:")
			d, err := hex.DecodeString(h)
			if !ok || err != nil || len(d) != 32 {
				return nil, errors.New("pin " + logline.Quote(v, 60) + ": want sha256:<64 hex digits>")
			}
			e.TLSA = append(e.TLSA, dane.Record{Usage: dane.UsageDANEEE, Selector: dane.SelectorSPKI, Matching: dane.MatchSHA256, Data: d})
		default:
			return nil, errors.New("unknown attribute " + logline.Quote(k, 60) + " (mx, tlsa or pin)")
		}
		if len(e.TLSA) > dane.MaxRecords {
			return nil, errors.New("more than 64 tlsa and pin records")
		}
	}
	if e.Policy == Fingerprint && len(e.TLSA) == 0 {
		return nil, errors.New("policy fingerprint needs tlsa= or pin=")
	}
	if e.Policy != Fingerprint && len(e.TLSA) > 0 {
		return nil, errors.New("tlsa= and pin= need policy fingerprint")
	}
	return e, nil
}

// fields splits on blanks; a value in double quotes (tlsa="3 1 1 ab")
// keeps its blanks and loses its quotes. There are no escapes.
func fields(s string) ([]string, error) {
	var out []string
	var cur []byte
	in, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			in, have = !in, true
		case !in && (c == ' ' || c == '\t'):
			if have {
				out = append(out, string(cur))
				cur, have = cur[:0], false
			}
		case c < 0x20 || c == 0x7f:
			return nil, errors.New("control character in line")
		default:
			cur, have = append(cur, c), true
		}
	}
	if in {
		return nil, errors.New("unterminated quote")
	}
	if have {
		out = append(out, string(cur))
	}
	return out, nil
}

// parseKey checks a domain key: "*" or "." (default), "name" or ".name".
func parseKey(s string) (string, error) {
	if s == "*" || s == "." {
		return DefaultKey, nil
	}
	d := strings.TrimPrefix(s, ".")
	n, ok := Normalize(d)
	if !ok {
		return "", errors.New("bad domain " + logline.Quote(s, 60))
	}
	if len(d) < len(s) {
		return "." + n, nil
	}
	return n, nil
}

// parsePattern checks an MX pattern: "host" or ".domain".
func parsePattern(s string) (string, error) {
	d := strings.TrimPrefix(s, ".")
	n, ok := Normalize(d)
	if !ok {
		return "", errors.New("bad mx pattern " + logline.Quote(s, 60))
	}
	if len(d) < len(s) {
		return "." + n, nil
	}
	return n, nil
}

// Normalize lower-cases a domain name and drops one final dot; ok is
// false for anything but LDH labels (underscore allowed) of 1–63 bytes,
// 253 bytes at most.
func Normalize(s string) (string, bool) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > MaxDomain {
		return "", false
	}
	b := []byte(s)
	label := 0
	for i, c := range b {
		switch {
		case c >= 'A' && c <= 'Z':
			b[i] = c + 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		case c == '.':
			if label == 0 {
				return "", false
			}
			label = 0
			continue
		default:
			return "", false
		}
		label++
		if label > 63 {
			return "", false
		}
	}
	if label == 0 {
		return "", false
	}
	return string(b), true
}

// String returns the entry in the text form ParseEntry reads: pins are
// written as tlsa= records.
func (e *Entry) String() string {
	s := e.Policy
	if len(e.MX) > 0 {
		s += " mx=" + strings.Join(e.MX, ",")
	}
	for _, r := range e.TLSA {
		s += " tlsa=\"" + r.String() + "\""
	}
	return s
}

// AllowsMX reports whether a connection for domain may go to the MX
// host mx (both already normalised). An entry without patterns allows
// any MX, except secure, which allows domain and its subdomains.
func (e *Entry) AllowsMX(domain, mx string) bool {
	pats := e.MX
	if len(pats) == 0 {
		if e.Policy != Secure {
			return true
		}
		pats = []string{domain, "." + domain}
	}
	for _, p := range pats {
		if p[0] == '.' {
			if strings.HasSuffix(mx, p) {
				return true
			}
		} else if mx == p {
			return true
		}
	}
	return false
}

// Constrained reports whether the entry limits the MX hosts.
func (e *Entry) Constrained() bool { return len(e.MX) > 0 || e.Policy == Secure }

// Keys returns the table keys to try for domain, in order: the domain,
// then ".parent" from the longest parent to the shortest, then the
// default.
func Keys(domain string) []string {
	keys := []string{domain}
	for i := 0; i < len(domain); i++ {
		if domain[i] == '.' {
			keys = append(keys, domain[i:])
		}
	}
	return append(keys, DefaultKey)
}

// MatchPins reports whether the peer's leaf (SHA-256 of its DER) or its
// SubjectPublicKeyInfo (SHA-256 of the SPKI DER) matches one of the
// entry's records. The hashes are the report's "SHA256:<hex>" values;
// an empty one matches nothing.
func (e *Entry) MatchPins(certHash, spkiHash string) bool {
	for _, r := range e.TLSA {
		want := "SHA256:" + hex.EncodeToString(r.Data)
		got := certHash
		if r.Selector == dane.SelectorSPKI {
			got = spkiHash
		}
		if got != "" && strings.EqualFold(got, want) {
			return true
		}
	}
	return false
}
