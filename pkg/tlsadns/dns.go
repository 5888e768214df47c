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

// Errors of the DNS code. All but errName and errTruncated describe a
// datagram that is not the reply to the query: exchange ignores it and
// keeps waiting.
var (
	errName      = errors.New("bad host name")
	errShort     = errors.New("short DNS message")
	errPointer   = errors.New("bad name compression in DNS message")
	errLong      = errors.New("name longer than 255 bytes in DNS message")
	errID        = errors.New("DNS reply for another query")
	errQuestion  = errors.New("DNS reply for another question")
	errOwner     = errors.New("DNS answer off the query's name and CNAME chain")
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

// maxCNAME bounds the CNAME records of one reply (a chain of this many
// is far longer than any zone needs; resolvers stop sooner).
const maxCNAME = 16

// parseReply checks that msg is the reply to query q and returns its
// TLSA answers. RFC 5452 §9.1: a reply is taken only when its id and its
// question (name, type, class) are the query's; the socket is connected,
// so the kernel has already checked the resolver's address and port. The
// answer records used must then belong to the question: a TLSA record
// must be owned by the name the CNAME chain from the question's name ends
// at, and every CNAME must be a link of that chain; records of other
// types (a DNAME, signatures) are skipped, whatever their owner, as
// nothing in them is used. Names compare case-insensitively (RFC 4343).
func parseReply(msg, q []byte) (*answer, error) {
	if len(msg) < 12 || len(q) < 12 {
		return nil, errShort
	}
	flags := binary.BigEndian.Uint16(msg[2:])
	if binary.BigEndian.Uint16(msg) != binary.BigEndian.Uint16(q) || flags&0x8000 == 0 {
		return nil, errID // another id, or not a reply
	}
	qname, _, err := readName(q, 12)
	if err != nil {
		return nil, err
	}
	off, err := checkQuestion(msg, qname)
	if err != nil {
		return nil, err
	}
	// Checked after the question: only the resolver's own reply may say
	// that the answer did not fit.
	if flags&flagTC != 0 {
		return nil, errTruncated
	}
	a := &answer{rcode: int(flags & 0xf), ad: flags&flagAD != 0}
	if err := a.readAnswers(msg, off, qname); err != nil {
		return nil, err
	}
	return a, nil
}

// checkQuestion checks that msg asks exactly one question, qname's TLSA
// records in class IN, and returns the offset after it.
func checkQuestion(msg []byte, qname string) (int, error) {
	if binary.BigEndian.Uint16(msg[4:]) != 1 {
		return 0, errQuestion
	}
	name, off, err := readName(msg, 12)
	if err != nil {
		return 0, err
	}
	if off+4 > len(msg) {
		return 0, errShort
	}
	if name != qname || binary.BigEndian.Uint16(msg[off:]) != typeTLSA || binary.BigEndian.Uint16(msg[off+2:]) != classIN {
		return 0, errQuestion
	}
	return off + 4, nil
}

// readAnswers reads the answer section at off into a.records, checking
// the owners against qname and its CNAME chain.
func (a *answer) readAnswers(msg []byte, off int, qname string) error {
	type link struct{ owner, target string }
	var cnames []link
	var owners []string // of a.records, in order
	an := int(binary.BigEndian.Uint16(msg[6:]))
	for i := 0; i < an; i++ {
		owner, n, err := readName(msg, off)
		if err != nil {
			return err
		}
		if n+10 > len(msg) {
			return errShort
		}
		typ := binary.BigEndian.Uint16(msg[n:])
		class := binary.BigEndian.Uint16(msg[n+2:])
		rdlen := int(binary.BigEndian.Uint16(msg[n+8:]))
		off = n + 10 + rdlen
		if off > len(msg) {
			return errShort
		}
		rd := msg[n+10 : off]
		switch {
		case class != classIN:
			// Not an answer to a class IN question: skipped.
		case typ == typeCNAME:
			target, end, err := readName(msg, n+10)
			if err != nil {
				return err
			}
			if end != off || len(cnames) == maxCNAME {
				return errOwner
			}
			cnames = append(cnames, link{owner, target})
		case typ == typeTLSA:
			if len(rd) < 4 || len(rd)-3 > dane.MaxData || len(a.records) == dane.MaxRecords {
				continue // a malformed or surplus record is not usable
			}
			owners = append(owners, owner)
			a.records = append(a.records, dane.Record{Usage: rd[0], Selector: rd[1], Matching: rd[2],
				Data: append([]byte(nil), rd[3:]...)})
		}
	}
	// Follow the chain from qname; each step uses one CNAME, so it ends
	// within len(cnames)+1 steps, and a CNAME left unused is off the
	// chain (or the chain loops).
	name, used := qname, 0
	for used <= len(cnames) {
		next := ""
		for _, c := range cnames {
			if c.owner == name {
				if next != "" {
					return errOwner // two CNAMEs for one name (RFC 2181 §10.1)
				}
				next = c.target
			}
		}
		if next == "" {
			break
		}
		name, used = next, used+1
	}
	if used != len(cnames) {
		return errOwner
	}
	for _, o := range owners {
		if o != name {
			return errOwner
		}
	}
	return nil
}

// readName reads the name at off (RFC 1035 §4.1.4: labels, ending in a
// zero byte or a pointer) and returns it in wire form with ASCII letters
// in lower case, so that two names compare with ==, and the offset after
// it where it starts.
func readName(msg []byte, off int) (string, int, error) {
	var name []byte
	next := -1
	for hops := 0; ; {
		if off >= len(msg) {
			return "", 0, errShort
		}
		l := int(msg[off])
		switch {
		case l == 0:
			if next < 0 {
				next = off + 1
			}
			return string(append(name, 0)), next, nil
		case l&0xc0 == 0xc0:
			if off+2 > len(msg) {
				return "", 0, errShort
			}
			if next < 0 {
				next = off + 2
			}
			// A pointer loop is the classic trap: bound the hops.
			if hops++; hops > 127 {
				return "", 0, errPointer
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
		case l&0xc0 != 0:
			return "", 0, errPointer
		default:
			if off+1+l > len(msg) {
				return "", 0, errShort
			}
			if len(name)+1+l+1 > maxName {
				return "", 0, errLong
			}
			name = append(name, byte(l))
			for _, c := range msg[off+1 : off+1+l] {
				if c >= 'A' && c <= 'Z' {
					c += 'a' - 'A'
				}
				name = append(name, c)
			}
			off += 1 + l
		}
	}
}
