// Package dane holds TLSA records (RFC 6698, RFC 7671, RFC 7672) in the
// text form the suite passes between programs: tlsa-lookup writes them to
// the TLSA variable, tlsc sends them to the engine on the key channel, the
// engine matches them, ucspi-starttls reads them to choose its policy.
//
// The text form is records separated by ";", each "usage selector
// matching-type hex-data" as in a zone file: "3 1 1 ab12…;2 0 1 cd34…".
// The package does no crypto and no I/O: the matching lives in the
// engine, the DNS in tlsa-lookup.
package dane

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

// Certificate usages, selectors and matching types (RFC 6698 §7.2–7.4).
const (
	UsagePKIXTA = 0
	UsagePKIXEE = 1
	UsageDANETA = 2
	UsageDANEEE = 3

	SelectorCert = 0 // the whole certificate, DER
	SelectorSPKI = 1 // its SubjectPublicKeyInfo, DER

	MatchExact  = 0
	MatchSHA256 = 1
	MatchSHA512 = 2
)

// Limits of the text form: more records or longer data than any real
// TLSA RRset has.
const (
	MaxRecords = 64
	MaxData    = 4096 // bytes of certificate association data
)

// Record is one TLSA record.
type Record struct {
	Usage, Selector, Matching uint8
	Data                      []byte
}

// Errors of Parse.
var (
	ErrEmpty    = errors.New("no TLSA record")
	ErrTooMany  = errors.New("too many TLSA records")
	ErrSyntax   = errors.New("want \"usage selector matching-type hex\"")
	ErrHex      = errors.New("certificate association data is not hex")
	ErrTooLong  = errors.New("certificate association data too long")
	ErrBadField = errors.New("usage, selector and matching type must be 0-255")
)

// Parse reads records in the text form. Unknown usages, selectors and
// matching types parse (they are unusable, not errors: RFC 7671 §4); bad
// syntax is an error naming the record.
func Parse(s string) ([]Record, error) {
	if strings.TrimSpace(s) == "" {
		return nil, ErrEmpty
	}
	var out []Record
	for i, rec := range strings.Split(s, ";") {
		if strings.TrimSpace(rec) == "" {
			continue
		}
		if len(out) == MaxRecords {
			return nil, ErrTooMany
		}
		r, err := parseOne(rec)
		if err != nil {
			return nil, errors.New("TLSA record " + strconv.Itoa(i+1) + ": " + err.Error())
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, ErrEmpty
	}
	return out, nil
}

func parseOne(s string) (Record, error) {
	f := strings.Fields(s)
	if len(f) < 4 {
		return Record{}, ErrSyntax
	}
	var n [3]uint8
	for i := range n {
		v, err := strconv.ParseUint(f[i], 10, 8)
		if err != nil {
			return Record{}, ErrBadField
		}
		n[i] = uint8(v)
	}
	// Zone files may split the hex into several words.
	h := strings.Join(f[3:], "")
	if len(h) > 2*MaxData {
		return Record{}, ErrTooLong
	}
	data, err := hex.DecodeString(h)
	if err != nil || len(data) == 0 {
		return Record{}, ErrHex
	}
	return Record{Usage: n[0], Selector: n[1], Matching: n[2], Data: data}, nil
}

// String returns r in the text form, hex in lower case.
func (r Record) String() string {
	return strconv.Itoa(int(r.Usage)) + " " + strconv.Itoa(int(r.Selector)) + " " +
		strconv.Itoa(int(r.Matching)) + " " + hex.EncodeToString(r.Data)
}

// Format joins records in the text form.
func Format(rs []Record) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return strings.Join(s, ";")
}

// Usable says whether SMTP may use r (RFC 7672 §3.1): usage DANE-TA or
// DANE-EE, a known selector, a known matching type, and a digest of the
// right length. PKIX-TA and PKIX-EE are unusable for SMTP.
func (r Record) Usable() bool {
	if r.Usage != UsageDANETA && r.Usage != UsageDANEEE || r.Selector > SelectorSPKI {
		return false
	}
	switch r.Matching {
	case MatchExact:
		return len(r.Data) > 0
	case MatchSHA256:
		return len(r.Data) == 32
	case MatchSHA512:
		return len(r.Data) == 64
	}
	return false
}

// Usable returns the usable records of rs.
func Usable(rs []Record) []Record {
	var out []Record
	for _, r := range rs {
		if r.Usable() {
			out = append(out, r)
		}
	}
	return out
}
