// Package tlsadns asks a resolver for TLSA records (RFC 6698) in one UDP
// query with the AD bit set and parses the answer: the DNS code of
// tlsa-lookup, shared with ucspi-starttls's client-certificate DANE check.
package tlsadns

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/tlschain/tlschain/pkg/dane"
)

// The few lines of DNS (RFC 1035 §4) tlsa-lookup needs: one query with
// the AD bit set (RFC 6840 §5.7), and the answers of one type parsed out
// of the reply. Written here rather than importing
// golang.org/x/net/dns/dnsmessage: one question, one record type, no
// compression to write, and a chainloader stays small.

const (
	typeTLSA  = 52
	typeCNAME = 5
	classIN   = 1
	flagRD    = 1 << 8
	flagAD    = 1 << 5
	flagTC    = 1 << 9
	maxName   = 255
)

// Errors of the DNS code.
var (
	errName      = errors.New("bad host name")
	errShort     = errors.New("short DNS message")
	errPointer   = errors.New("bad name compression in DNS message")
	errID        = errors.New("DNS reply for another query")
	errTruncated = errors.New("DNS reply truncated")
)

// buildQuery returns a query for name's TLSA records with RD and AD set.
func buildQuery(id uint16, name string) ([]byte, error) {
	b := make([]byte, 12, 12+len(name)+6)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[2:], flagRD|flagAD)
	binary.BigEndian.PutUint16(b[4:], 1) // QDCOUNT
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > maxName-2 {
		return nil, errName
	}
	for _, label := range strings.Split(name, ".") {
		if label == "" || len(label) > 63 {
			return nil, errName
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return nil, errName
			}
		}
		b = append(b, byte(len(label)))
		b = append(b, label...)
	}
	b = append(b, 0, 0, typeTLSA, 0, classIN)
	return b, nil
}

// answer is what a reply says.
type answer struct {
	rcode   int
	ad      bool
	records []dane.Record // the TLSA answers
}

// parseReply checks a reply to query id and returns its TLSA answers.
// Other answer types (a CNAME chain) are skipped.
func parseReply(msg []byte, id uint16) (*answer, error) {
	if len(msg) < 12 {
		return nil, errShort
	}
	if binary.BigEndian.Uint16(msg) != id {
		return nil, errID
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	if flags&0x8000 == 0 {
		return nil, errID // not a reply
	}
	if flags&flagTC != 0 {
		return nil, errTruncated
	}
	a := &answer{rcode: int(flags & 0xf), ad: flags&flagAD != 0}
	qd := int(binary.BigEndian.Uint16(msg[4:]))
	an := int(binary.BigEndian.Uint16(msg[6:]))
	off := 12
	for i := 0; i < qd; i++ {
		n, err := skipName(msg, off)
		if err != nil {
			return nil, err
		}
		off = n + 4
		if off > len(msg) {
			return nil, errShort
		}
	}
	for i := 0; i < an; i++ {
		n, err := skipName(msg, off)
		if err != nil {
			return nil, err
		}
		if n+10 > len(msg) {
			return nil, errShort
		}
		typ := binary.BigEndian.Uint16(msg[n:])
		class := binary.BigEndian.Uint16(msg[n+2:])
		rdlen := int(binary.BigEndian.Uint16(msg[n+8:]))
		off = n + 10 + rdlen
		if off > len(msg) {
			return nil, errShort
		}
		rd := msg[n+10 : off]
		if typ != typeTLSA || class != classIN {
			continue
		}
		if len(rd) < 4 || len(rd)-3 > dane.MaxData || len(a.records) == dane.MaxRecords {
			continue // a malformed or surplus record is not usable
		}
		a.records = append(a.records, dane.Record{Usage: rd[0], Selector: rd[1], Matching: rd[2],
			Data: append([]byte(nil), rd[3:]...)})
	}
	return a, nil
}

// skipName returns the offset after the name at off (RFC 1035 §4.1.4: a
// pointer ends the name).
func skipName(msg []byte, off int) (int, error) {
	for hops := 0; hops < 128; hops++ {
		if off >= len(msg) {
			return 0, errShort
		}
		l := int(msg[off])
		switch {
		case l == 0:
			return off + 1, nil
		case l&0xc0 == 0xc0:
			if off+2 > len(msg) {
				return 0, errShort
			}
			return off + 2, nil
		case l&0xc0 != 0:
			return 0, errPointer
		}
		off += 1 + l
	}
	return 0, errPointer
}
