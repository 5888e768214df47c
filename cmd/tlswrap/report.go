package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"strconv"

	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// openSSLNames maps Go's TLS 1.2 cipher suites to their OpenSSL names
// (`openssl ciphers -stdname`), the names s6 and ucspi-ssl put in
// SSL_CIPHER. TLS 1.3 suites have one name in both worlds.
var openSSLNames = map[uint16]string{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:       "ECDHE-ECDSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:       "ECDHE-ECDSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:         "ECDHE-RSA-AES128-GCM-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:         "ECDHE-RSA-AES256-GCM-SHA384",
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: "ECDHE-ECDSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:   "ECDHE-RSA-CHACHA20-POLY1305",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA:          "ECDHE-ECDSA-AES128-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA:          "ECDHE-ECDSA-AES256-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA:            "ECDHE-RSA-AES128-SHA",
	tls.TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA:            "ECDHE-RSA-AES256-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256:       "ECDHE-ECDSA-AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256:         "ECDHE-RSA-AES128-SHA256",
	tls.TLS_RSA_WITH_AES_128_GCM_SHA256:               "AES128-GCM-SHA256",
	tls.TLS_RSA_WITH_AES_256_GCM_SHA384:               "AES256-GCM-SHA384",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA:                  "AES128-SHA",
	tls.TLS_RSA_WITH_AES_256_CBC_SHA:                  "AES256-SHA",
	tls.TLS_RSA_WITH_AES_128_CBC_SHA256:               "AES128-SHA256",
	tls.TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA:           "ECDHE-RSA-DES-CBC3-SHA",
	tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA:                 "DES-CBC3-SHA",
	tls.TLS_ECDHE_ECDSA_WITH_RC4_128_SHA:              "ECDHE-ECDSA-RC4-SHA",
	tls.TLS_ECDHE_RSA_WITH_RC4_128_SHA:                "ECDHE-RSA-RC4-SHA",
	tls.TLS_RSA_WITH_RC4_128_SHA:                      "RC4-SHA",
}

// cipherName returns the SSL_CIPHER value: the OpenSSL name for TLS 1.2,
// the IANA name (which OpenSSL uses too) for TLS 1.3.
func cipherName(version, suite uint16) string {
	if version < tls.VersionTLS13 {
		if n, ok := openSSLNames[suite]; ok {
			return n
		}
	}
	return tls.CipherSuiteName(suite)
}

// protocolName returns the SSL_PROTOCOL value (OpenSSL's spelling).
func protocolName(version uint16) string {
	switch version {
	case tls.VersionTLS13:
		return "TLSv1.3"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS10:
		return "TLSv1"
	}
	return "0x" + strconv.FormatUint(uint64(version), 16)
}

// maxValue caps one report value: a report must stay under
// ucspi.MaxReport however long the peer's certificate names are.
const maxValue = 1024

// sanitize makes peer text safe for the environment and a log line: bytes
// below 0x20 and 0x7f (NUL and newline among them) become '?', and the
// text is cut to max bytes.
func sanitize(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = '?'
		}
	}
	return string(b)
}

// subjectRFC4514 returns s6's SSL_PEER_CERT_SUBJECT: the RFC 4514 string of
// the C, ST, L, O, OU and CN attributes only.
func subjectRFC4514(n pkix.Name) string {
	return pkix.Name{
		Country:            n.Country,
		Province:           n.Province,
		Locality:           n.Locality,
		Organization:       n.Organization,
		OrganizationalUnit: n.OrganizationalUnit,
		CommonName:         n.CommonName,
	}.String()
}

// Short names of the attributes mod_ssl and ucspi-ssl print in
// /C=../O=../CN=.. distinguished names (OpenSSL's X509_NAME_oneline).
var attrNames = []struct {
	oid  asn1.ObjectIdentifier
	name string
}{
	{asn1.ObjectIdentifier{2, 5, 4, 3}, "CN"},
	{asn1.ObjectIdentifier{2, 5, 4, 4}, "SN"},
	{asn1.ObjectIdentifier{2, 5, 4, 5}, "serialNumber"},
	{asn1.ObjectIdentifier{2, 5, 4, 6}, "C"},
	{asn1.ObjectIdentifier{2, 5, 4, 7}, "L"},
	{asn1.ObjectIdentifier{2, 5, 4, 8}, "ST"},
	{asn1.ObjectIdentifier{2, 5, 4, 9}, "street"},
	{asn1.ObjectIdentifier{2, 5, 4, 10}, "O"},
	{asn1.ObjectIdentifier{2, 5, 4, 11}, "OU"},
	{asn1.ObjectIdentifier{2, 5, 4, 12}, "title"},
	{asn1.ObjectIdentifier{2, 5, 4, 17}, "postalCode"},
	{asn1.ObjectIdentifier{2, 5, 4, 42}, "GN"},
	{asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, "emailAddress"},
	{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, "UID"},
	{asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, "DC"},
}

// dnSlash formats a name the mod_ssl / ucspi-ssl way, in certificate
// order: /C=DE/O=Example/CN=mail.example.com. Unknown attributes appear
// as their dotted OID.
func dnSlash(n pkix.Name) string {
	var b []byte
	for _, a := range n.Names {
		label := a.Type.String()
		for _, k := range attrNames {
			if k.oid.Equal(a.Type) {
				label = k.name
				break
			}
		}
		var v string
		switch x := a.Value.(type) {
		case string:
			v = x
		default:
			v = "<binary>"
		}
		b = append(b, '/')
		b = append(b, label...)
		b = append(b, '=')
		b = append(b, v...)
	}
	return string(b)
}

// buildReport returns every report variable, a bare NAME where it does
// not apply, so the spawner removes stale values.
// verify is SSL_PEER_VERIFY's value (client side; "" on the server).
func buildReport(cs *tls.ConnectionState, server bool, clientSNI, verify string) []ucspi.Var {
	set := func(n, v string) ucspi.Var { return ucspi.Var{Name: n, Value: sanitize(v, maxValue)} }
	unset := func(n string) ucspi.Var { return ucspi.Var{Name: n, Unset: true} }
	opt := func(n, v string) ucspi.Var {
		if v == "" {
			return unset(n)
		}
		return set(n, v)
	}
	var leaf *x509.Certificate
	if len(cs.PeerCertificates) > 0 {
		leaf = cs.PeerCertificates[0]
	}
	sni := cs.ServerName
	if !server {
		sni = clientSNI
	}
	vars := []ucspi.Var{
		set(ucspi.SSLProtocol, protocolName(cs.Version)),
		set(ucspi.SSLCipher, cipherName(cs.Version, cs.CipherSuite)),
		opt(ucspi.SSLSNIServerName, sni),
	}
	if leaf != nil {
		sum := sha256.Sum256(leaf.Raw)
		vars = append(vars,
			set(ucspi.SSLPeerCertHash, "SHA256:"+hex.EncodeToString(sum[:])),
			opt(ucspi.SSLPeerCertSubject, subjectRFC4514(leaf.Subject)))
	} else {
		vars = append(vars, unset(ucspi.SSLPeerCertHash), unset(ucspi.SSLPeerCertSubject))
	}
	if server && leaf != nil {
		vars = append(vars,
			opt(ucspi.SSLClientSDN, dnSlash(leaf.Subject)),
			opt(ucspi.SSLClientSDNCN, leaf.Subject.CommonName),
			opt(ucspi.SSLClientIDN, dnSlash(leaf.Issuer)),
			set(ucspi.SSLClientVerify, "SUCCESS"))
	} else {
		vars = append(vars, unset(ucspi.SSLClientSDN), unset(ucspi.SSLClientSDNCN), unset(ucspi.SSLClientIDN))
		if server {
			vars = append(vars, set(ucspi.SSLClientVerify, "NONE"))
		} else {
			vars = append(vars, unset(ucspi.SSLClientVerify))
		}
	}
	if !server && leaf != nil {
		vars = append(vars, opt(ucspi.SSLServerSDN, dnSlash(leaf.Subject)))
	} else {
		vars = append(vars, unset(ucspi.SSLServerSDN))
	}
	resumed := "0"
	if cs.DidResume {
		resumed = "1"
	}
	vars = append(vars, opt(ucspi.SSLALPN, cs.NegotiatedProtocol), set(ucspi.SSLSessionResumed, resumed),
		opt(ucspi.SSLPeerVerify, verify))
	if leaf != nil {
		sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
		vars = append(vars, set(ucspi.SSLPeerSPKIHash, "SHA256:"+hex.EncodeToString(sum[:])))
	} else {
		vars = append(vars, unset(ucspi.SSLPeerSPKIHash))
	}
	return vars
}

// tlsFields are the fields of the connection's tls line, the one line
// of the suite that says how it was secured: version, cipher, the server
// name, resumed, the peer's certificate (SSL_PEER_CERT_HASH, or "-"), the
// ALPN protocol, and a client's verdict on the server (verify).
func tlsFields(cs *tls.ConnectionState, o *options, verify string) []string {
	sni := cs.ServerName
	if !o.server {
		sni = o.serverName
	}
	resumed := "no"
	if cs.DidResume {
		resumed = "yes"
	}
	cert := "-"
	if len(cs.PeerCertificates) > 0 {
		sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
		cert = "SHA256:" + hex.EncodeToString(sum[:])
	}
	f := []string{"version", protocolName(cs.Version), "cipher", cipherName(cs.Version, cs.CipherSuite),
		"sni", logline.Safe(sni), "resumed", resumed, "peercert", cert, "alpn", logline.Safe(cs.NegotiatedProtocol)}
	if verify != "" {
		// A client checks the server; a server has no such verdict.
		f = append(f, "verify", verify)
	}
	return f
}

// peerVerify returns SSL_PEER_VERIFY: the verifier's result, "verified"
// when crypto/tls checked the server (the handshake would have failed
// otherwise), "none" with --no-verify-cert, "" on the server side.
func peerVerify(o *options, v *verifier) string {
	switch {
	case o.server:
		return ""
	case v != nil:
		return v.result
	case o.noVerify:
		return verifyNone
	}
	return verifiedPKIX
}

// generous rewrites a server report for --any-client-cert, where the client certificate
// was requested but not verified: SSL_CLIENT_VERIFY becomes GENEROUS
// (mod_ssl's optional_no_ca) when one was given, and the SSL_CLIENT_*
// names are removed, so that no app takes an unverified subject for an
// authenticated one. The hashes and SSL_PEER_CERT_SUBJECT stay.
func generous(vars []ucspi.Var) []ucspi.Var {
	given := false
	for _, v := range vars {
		if v.Name == ucspi.SSLPeerCertHash && !v.Unset {
			given = true
		}
	}
	for i, v := range vars {
		switch v.Name {
		case ucspi.SSLClientSDN, ucspi.SSLClientSDNCN, ucspi.SSLClientIDN:
			vars[i] = ucspi.Var{Name: v.Name, Unset: true}
		case ucspi.SSLClientVerify:
			if given {
				vars[i] = ucspi.Var{Name: v.Name, Value: "GENEROUS"}
			}
		}
	}
	return vars
}
