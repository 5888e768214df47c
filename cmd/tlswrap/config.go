package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/tlschain/tlschain/pkg/dane"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/keysign"
)

// namedCert is one certificate chain with the SNI name it serves.
type namedCert struct {
	name string // "" default, "host.example", "*.example"
	cert *tls.Certificate
}

// keyHolder is what the engine asks of its key holder: a signer for each
// pair, and session tickets sealed and opened (the engine never holds the
// ticket keys). The holder is a *keysign.Channel in the engine.
type keyHolder interface {
	NewSigner(index int, pub crypto.PublicKey) crypto.Signer
	Wrap(state []byte) ([]byte, error)
	Unwrap(ticket []byte) ([]byte, error) // nil, nil: not a ticket of ours
}

// buildConfigV turns the setup into a tls.Config and, when the engine
// checks the server itself (DANE records or --verify-report), the client's verifier;
// nil otherwise. Errors are configuration errors (96) naming the bad
// record.
func buildConfigV(o *options, s *keysign.Setup, h keyHolder) (*tls.Config, *verifier, error) {
	cfg := &tls.Config{
		MinVersion: o.minVersion,
		NextProtos: o.alpn,
		// Renegotiation: a server never renegotiates in crypto/tls; the
		// client's default RenegotiateNever refuses a server's request.
		Renegotiation: tls.RenegotiateNever,
		// CurvePreferences stays nil: Go's defaults, X25519MLKEM768 first.
	}
	var certs []namedCert
	for i, p := range s.Pairs {
		c, err := parseChain(p.CertPEM)
		if err != nil {
			return nil, nil, exitcode.Config("use", pairName(i, p.Name), err)
		}
		c.PrivateKey = h.NewSigner(i, c.Leaf.PublicKey)
		if i == 0 && len(s.OCSP) > 0 {
			c.OCSPStaple = s.OCSP
		}
		certs = append(certs, namedCert{name: strings.ToLower(p.Name), cert: c})
	}
	var pool *x509.CertPool
	if len(s.CAs) > 0 {
		pool = x509.NewCertPool()
		for i, ca := range s.CAs {
			if !pool.AppendCertsFromPEM(ca) {
				return nil, nil, exitcode.Config("use", "CA record "+strconv.Itoa(i), errors.New("no certificate in it"))
			}
		}
	}
	if o.server {
		if len(certs) == 0 {
			return nil, nil, exitcode.Config("start", "a TLS server", errors.New("no certificate in the setup"))
		}
		switch {
		case !s.Tickets:
			// Go's automatic ticket keys live and die with this process,
			// so no other engine could ever resume a session from them:
			// sending tickets would only cost time and bytes.
			cfg.SessionTicketsDisabled = true
		case o.anyCert:
			// --any-client-cert verifies nothing of the client's certificate: a resumed
			// session would report a certificate from the ticket, and a
			// compromised engine may have had any state sealed. Only a
			// full handshake proves the client holds the key.
			cfg.SessionTicketsDisabled = true
		default:
			sealTickets(cfg, h)
		}
		if o.anyCert {
			// --any-client-cert: the certificate is asked for and reported (hashes),
			// never verified here; the app decides (DANE client auth).
			cfg.ClientAuth = tls.RequestClientCert
		}
		if o.clientCert || o.optionalCert {
			if pool == nil {
				return nil, nil, exitcode.Config("verify", "client certificates", errors.New("no CA certificates in the setup (CAFILE or CADIR)"))
			}
			cfg.ClientCAs = pool
			cfg.ClientAuth = tls.VerifyClientCertIfGiven
			if o.clientCert {
				cfg.ClientAuth = tls.RequireAndVerifyClientCert
			}
			if !cfg.SessionTicketsDisabled {
				cfg.VerifyConnection = verifyResumedClient(pool)
			}
		}
		sel, err := newSelector(certs, o.sniLevel)
		if err != nil {
			return nil, nil, err
		}
		cfg.GetCertificate = sel.get
		return cfg, nil, nil
	}
	cfg.ServerName = o.serverName
	var tlsa []dane.Record
	if s.TLSA != "" {
		rs, err := dane.Parse(s.TLSA)
		if err != nil {
			return nil, nil, exitcode.Config("use", "the TLSA records", err)
		}
		tlsa = dane.Usable(rs)
	}
	var v *verifier
	switch {
	case o.noVerify:
		cfg.InsecureSkipVerify = true
	case o.verifyReport || len(tlsa) > 0:
		// The engine checks the server itself (verify.go): DANE replaces
		// PKIX (RFC 7672 §3.1), and --verify-report reports instead of failing.
		if pool == nil && len(tlsa) == 0 && !o.verifyReport {
			return nil, nil, exitcode.Config("verify", "the server certificate", errors.New("no CA certificates in the setup (CAFILE, CADIR or the system bundle)"))
		}
		v = &verifier{roots: pool, name: o.serverName, base: s.TLSABase, tlsa: tlsa, report: o.verifyReport, now: time.Now}
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = v.verifyConnection
	default:
		if pool == nil {
			return nil, nil, exitcode.Config("verify", "the server certificate", errors.New("no CA certificates in the setup (CAFILE, CADIR or the system bundle)"))
		}
		cfg.RootCAs = pool
	}
	if o.clientCert {
		if len(certs) == 0 {
			return nil, nil, exitcode.Config("send", "a client certificate", errors.New("no certificate in the setup"))
		}
		cfg.Certificates = []tls.Certificate{*certs[0].cert}
	}
	return cfg, v, nil
}

func pairName(i int, name string) string {
	if name == "" {
		return "certificate record " + strconv.Itoa(i) + " (default)"
	}
	return "certificate record " + strconv.Itoa(i) + " (" + strconv.Quote(name) + ")"
}

// parseChain parses a PEM chain, leaf first, and checks the leaf's key
// is one the key holder can sign with.
func parseChain(b []byte) (*tls.Certificate, error) {
	c := &tls.Certificate{}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type == "CERTIFICATE" {
			c.Certificate = append(c.Certificate, blk.Bytes)
		}
	}
	if len(c.Certificate) == 0 {
		return nil, errors.New("no CERTIFICATE block")
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, errors.New("bad leaf certificate: " + err.Error())
	}
	switch leaf.PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
	default:
		return nil, errors.New("unsupported public key type in the leaf certificate")
	}
	c.Leaf = leaf
	return c, nil
}

// selector picks the server certificate for a ClientHello's SNI name.
type selector struct {
	level int
	def   []*tls.Certificate            // pairs named ""
	exact map[string][]*tls.Certificate // "host.example"
	wild  map[string][]*tls.Certificate // "*.example" stored as "example"
}

// errNoCertificate fails a handshake whose SNI matches no pair (--sni-level 2, or
// no default pair).
var errNoCertificate = errors.New("no certificate for server name")

func newSelector(certs []namedCert, level int) (*selector, error) {
	s := &selector{level: level, exact: map[string][]*tls.Certificate{}, wild: map[string][]*tls.Certificate{}}
	for _, c := range certs {
		switch {
		case c.name == "":
			s.def = append(s.def, c.cert)
		case strings.HasPrefix(c.name, "*."):
			s.wild[c.name[2:]] = append(s.wild[c.name[2:]], c.cert)
		default:
			s.exact[c.name] = append(s.exact[c.name], c.cert)
		}
	}
	if level < 2 && len(s.def) == 0 {
		return nil, exitcode.Config("select", "certificates", errors.New("no default pair (CERTFILE/KEYFILE) for SNI level "+strconv.Itoa(level)))
	}
	if level == 2 && len(s.exact)+len(s.wild) == 0 {
		return nil, exitcode.Config("select", "certificates", errors.New("no named pair (CERTFILE:name/KEYFILE:name) for SNI level 2"))
	}
	return s, nil
}

// candidates returns the pairs for server name sni in preference order:
// exact name, then a one-label wildcard, then (level < 2) the default.
func (s *selector) candidates(sni string) []*tls.Certificate {
	sni = strings.ToLower(strings.TrimSuffix(sni, "."))
	if s.level >= 1 && sni != "" {
		if c := s.exact[sni]; len(c) > 0 {
			return c
		}
		if i := strings.IndexByte(sni, '.'); i > 0 {
			if c := s.wild[sni[i+1:]]; len(c) > 0 {
				return c
			}
		}
	}
	if s.level < 2 {
		return s.def
	}
	return nil
}

// get is the GetCertificate callback: among the candidates it takes the
// first the client can use (an ECDSA and an RSA pair for one name work
// side by side), else the first.
func (s *selector) get(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := s.candidates(hello.ServerName)
	if len(c) == 0 {
		return nil, errNoCertificate
	}
	for _, x := range c {
		if hello.SupportsCertificate(x) == nil {
			return x, nil
		}
	}
	return c[0], nil
}

// sealTickets has the key holder seal the session tickets the server
// sends and open the ones clients present. Only a client's first ticket
// goes to the holder, whose grant is one: the others are passed over.
func sealTickets(cfg *tls.Config, h keyHolder) {
	cfg.WrapSession = func(_ tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		state, err := ss.Bytes()
		if err != nil {
			return nil, err
		}
		return h.Wrap(state)
	}
	asked := false
	cfg.UnwrapSession = func(ticket []byte, _ tls.ConnectionState) (*tls.SessionState, error) {
		// An empty ticket is a TLS 1.2 client saying it takes tickets.
		if asked || len(ticket) == 0 {
			return nil, nil
		}
		asked = true
		state, err := h.Unwrap(ticket)
		if err != nil || state == nil {
			return nil, err
		}
		ss, err := tls.ParseSessionState(state)
		if err != nil {
			return nil, nil // a state of another version: a full handshake
		}
		return ss, nil
	}
}

// verifyResumedClient checks the client's certificate chain of a resumed
// session against the CAs again. crypto/tls verifies a chain in a full
// handshake only and trusts what a ticket says; a ticket is sealed by the
// key holder from a state the engine gave it, and a compromised engine
// could have had a state with any certificate sealed.
func verifyResumedClient(pool *x509.CertPool) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		if !cs.DidResume || len(cs.PeerCertificates) == 0 {
			return nil
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots:         pool,
			Intermediates: inter,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		return err
	}
}
