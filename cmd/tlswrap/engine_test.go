package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// pair makes a self-signed certificate for names with key.
func pair(t testing.TB, key crypto.Signer, names ...string) keysign.Pair {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: names[0]},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     names,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	return keysign.Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}),
	}
}

var (
	ecKey, _    = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey, _   = rsa.GenerateKey(rand.Reader, 2048)
	_, edKey, _ = ed25519.GenerateKey(rand.Reader)
)

// signerFunc is a key holder for tests: a local key, no tickets.
type signerFunc func(int, crypto.PublicKey) crypto.Signer

func (f signerFunc) NewSigner(i int, pub crypto.PublicKey) crypto.Signer { return f(i, pub) }
func (signerFunc) Wrap([]byte) ([]byte, error)                           { return nil, errors.New("no tickets") }
func (signerFunc) Unwrap([]byte) ([]byte, error)                         { return nil, nil }

// sealer is a key holder for tests that seals tickets as the real one
// does, with a local key.
type sealer struct {
	signerFunc
	s *keysign.Sealer
}

func (h sealer) Wrap(state []byte) ([]byte, error) { return h.s.Seal(state), nil }
func (h sealer) Unwrap(t []byte) ([]byte, error) {
	state, _ := h.s.Open(t)
	return state, nil
}

// remoteSigner serves p's key with keysign.ServeStream over a socketpair, the
// way tlsd does, and returns the engine's end of the key channel.
func remoteSigner(t *testing.T, pairs []keysign.Pair) *keysign.Channel {
	t.Helper()
	keys, err := keysign.LoadKeys(pairs)
	if err != nil {
		t.Fatal(err)
	}
	p, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	holder := os.NewFile(uintptr(p[0]), "key holder")
	go func() {
		done <- keysign.ServeStream(holder, keys, &keysign.Setup{Pairs: pairs}, keysign.ServerGrant(0, false))
	}()
	ch := os.NewFile(uintptr(p[1]), "key channel")
	if _, err := keysign.ReadSetup(ch); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Shutdown(p[1], syscall.SHUT_RDWR)
		if err := <-done; err != nil {
			t.Errorf("ServeStream: %v", err)
		}
		holder.Close()
		ch.Close()
	})
	return keysign.NewChannel(ch)
}

// handshake runs an in-process client against a server config over
// loopback TCP (buffered, unlike net.Pipe, so TLS 1.3 tickets cannot
// deadlock) and returns both connection states.
func handshake(t *testing.T, srv, cli *tls.Config) (tls.ConnectionState, tls.ConnectionState, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	b, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	a.SetDeadline(time.Now().Add(10 * time.Second))
	b.SetDeadline(time.Now().Add(10 * time.Second))
	defer a.Close()
	defer b.Close()
	s := tls.Server(a, srv)
	c := tls.Client(b, cli)
	errc := make(chan error, 1)
	read := make(chan struct{})
	go func() {
		defer close(read)
		errc <- c.Handshake()
		c.Write([]byte("x"))
		c.Read(make([]byte, 1))
	}()
	defer func() { <-read }()
	err = s.Handshake()
	cerr := <-errc
	if err == nil {
		err = cerr
	}
	if err == nil {
		s.Read(make([]byte, 1))
		s.Write([]byte("y")) // lets the client read its TLS 1.3 ticket
	}
	return s.ConnectionState(), c.ConnectionState(), err
}

// A real handshake where the server's key never leaves the holder: each
// key type, TLS 1.2 (RSA: PKCS#1 v1.5) and 1.3 (RSA: PSS).
func TestRemoteSigningHandshake(t *testing.T) {
	cases := []struct {
		name    string
		key     crypto.Signer
		version uint16
		scheme  tls.SignatureScheme
	}{
		{"ECDSA P-256 TLS 1.3", ecKey, tls.VersionTLS13, tls.ECDSAWithP256AndSHA256},
		{"ECDSA P-256 TLS 1.2", ecKey, tls.VersionTLS12, tls.ECDSAWithP256AndSHA256},
		{"RSA 2048 TLS 1.3 (PSS)", rsaKey, tls.VersionTLS13, tls.PSSWithSHA256},
		{"RSA 2048 TLS 1.2 (PKCS#1)", rsaKey, tls.VersionTLS12, tls.PKCS1WithSHA256},
		{"Ed25519 TLS 1.3", edKey, tls.VersionTLS13, tls.Ed25519},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pair(t, tc.key, "host.example")
			o := &options{server: true, sniLevel: 1, minVersion: tls.VersionTLS12}
			cfg, err := buildConfig(o, &keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}}, remoteSigner(t, []keysign.Pair{p}))
			if err != nil {
				t.Fatal(err)
			}
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(p.CertPEM)
			cli := &tls.Config{RootCAs: roots, ServerName: "host.example", MaxVersion: tc.version,
				// Force the scheme under test where the client can choose.
				CipherSuites: nil}
			if tc.version == tls.VersionTLS12 && tc.key == rsaKey {
				cli.CipherSuites = []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}
			}
			sst, _, err := handshake(t, cfg, cli)
			if err != nil {
				t.Fatal(err)
			}
			if sst.Version != tc.version {
				t.Fatalf("version %x", sst.Version)
			}
		})
	}
}

func TestSNISelection(t *testing.T) {
	def := pair(t, ecKey, "default.example")
	mail := pair(t, ecKey, "mail.example")
	wild := pair(t, ecKey, "*.example.org")
	setup := &keysign.Setup{Pairs: []keysign.Pair{
		{CertPEM: def.CertPEM},
		{Name: "mail.example", CertPEM: mail.CertPEM},
		{Name: "*.example.org", CertPEM: wild.CertPEM},
	}}
	local := signerFunc(func(int, crypto.PublicKey) crypto.Signer { return ecKey })
	cases := []struct {
		level int
		sni   string
		want  string // CN, "" = failure
	}{
		{0, "mail.example", "default.example"},
		{1, "mail.example", "mail.example"},
		{1, "MAIL.Example.", "mail.example"},
		{1, "www.example.org", "*.example.org"},
		{1, "a.b.example.org", "default.example"}, // one label only
		{1, "example.org", "default.example"},
		{1, "", "default.example"},
		{2, "mail.example", "mail.example"},
		{2, "x.example.org", "*.example.org"},
		{2, "other.example", ""},
		{2, "", ""},
	}
	for _, tc := range cases {
		cfg, err := buildConfig(&options{server: true, sniLevel: tc.level, minVersion: tls.VersionTLS12}, setup, local)
		if err != nil {
			t.Fatal(err)
		}
		c, err := cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: tc.sni})
		got := ""
		if err == nil {
			got = c.Leaf.Subject.CommonName
		}
		if got != tc.want {
			t.Errorf("level %d sni %q: got %q (%v), want %q", tc.level, tc.sni, got, err, tc.want)
		}
	}
	// Level 2 without a named pair, level 1 without a default: 96.
	if _, err := buildConfig(&options{server: true, sniLevel: 2}, &keysign.Setup{Pairs: setup.Pairs[:1]}, local); err == nil {
		t.Error("level 2 with only a default pair accepted")
	}
	if _, err := buildConfig(&options{server: true, sniLevel: 1}, &keysign.Setup{Pairs: setup.Pairs[1:]}, local); err == nil {
		t.Error("level 1 without a default pair accepted")
	}
}

func TestConfigErrors(t *testing.T) {
	p := pair(t, ecKey, "h")
	local := signerFunc(func(int, crypto.PublicKey) crypto.Signer { return ecKey })
	cases := []struct {
		name  string
		o     options
		setup keysign.Setup
		want  string
	}{
		{"server without certs", options{server: true}, keysign.Setup{}, "no certificate in the setup"},
		{"bad PEM", options{server: true}, keysign.Setup{Pairs: []keysign.Pair{{CertPEM: []byte("junk")}}}, "certificate record 0 (default): no CERTIFICATE block"},
		{"-y without CAs", options{server: true, clientCert: true}, keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}}, "no CA certificates"},
		{"bad CA", options{server: true}, keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}, CAs: [][]byte{[]byte("x")}}, "CA record 0"},
		{"client without CAs", options{serverName: "h"}, keysign.Setup{}, "no CA certificates"},
		{"client -y without cert", options{noVerify: true, clientCert: true}, keysign.Setup{}, "no certificate"},
	}
	for _, tc := range cases {
		_, err := buildConfig(&tc.o, &tc.setup, local)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	cfg, err := buildConfig(&options{server: true}, &keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}, Tickets: true}, local)
	if err != nil || cfg.SessionTicketsDisabled || cfg.WrapSession == nil || cfg.UnwrapSession == nil {
		t.Errorf("tickets sealed by the holder: %v", err)
	}
	cfg, _ = buildConfig(&options{server: true, anyCert: true}, &keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}, Tickets: true}, local)
	if !cfg.SessionTicketsDisabled {
		t.Error("tickets with -A, which verifies no client certificate")
	}
	cfg, _ = buildConfig(&options{server: true}, &keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}}, local)
	if !cfg.SessionTicketsDisabled {
		t.Error("tickets without a shared key file")
	}
}

// Resumption across two configs (two engines) that load one ticket-key
// file.
func TestTicketResumption(t *testing.T) {
	p := pair(t, ecKey, "host.example")
	local := signerFunc(func(int, crypto.PublicKey) crypto.Signer { return ecKey })
	tk := make([]byte, 64)
	rand.Read(tk)
	ts, err := keysign.NewSealer(tk)
	if err != nil {
		t.Fatal(err)
	}
	h := sealer{local, ts}
	setup := &keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}, Tickets: true}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.CertPEM)
	cli := &tls.Config{RootCAs: roots, ServerName: "host.example", ClientSessionCache: tls.NewLRUClientSessionCache(4)}
	for i := 0; i < 2; i++ {
		srv, _ := buildConfig(&options{server: true, sniLevel: 1}, setup, h)
		sst, _, err := handshake(t, srv, cli)
		if err != nil {
			t.Fatal(err)
		}
		if sst.DidResume != (i == 1) {
			t.Fatalf("engine %d: resumed %v", i, sst.DidResume)
		}
		var resumed ucspi.Var
		for _, v := range buildReport(&sst, true, "", "") {
			if v.Name == ucspi.SSLSessionResumed {
				resumed = v
			}
		}
		if want := map[bool]string{false: "0", true: "1"}[i == 1]; resumed.Value != want {
			t.Fatalf("SSL_SESSION_RESUMED %v", resumed)
		}
	}
}

func TestCipherNames(t *testing.T) {
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		for _, v := range s.SupportedVersions {
			if v == tls.VersionTLS12 {
				if _, ok := openSSLNames[s.ID]; !ok {
					t.Errorf("no OpenSSL name for %s", s.Name)
				}
			}
		}
	}
	if n := cipherName(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256); n != "ECDHE-ECDSA-AES128-GCM-SHA256" {
		t.Error(n)
	}
	if n := cipherName(tls.VersionTLS13, tls.TLS_AES_256_GCM_SHA384); n != "TLS_AES_256_GCM_SHA384" {
		t.Error(n)
	}
	if protocolName(tls.VersionTLS13) != "TLSv1.3" || protocolName(tls.VersionTLS12) != "TLSv1.2" {
		t.Error("protocol names")
	}
}

func TestDNFormats(t *testing.T) {
	n := pkix.Name{Names: []pkix.AttributeTypeAndValue{
		{Type: asn1.ObjectIdentifier{2, 5, 4, 6}, Value: "DE"},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 10}, Value: "Ex, \"Inc\""},
		{Type: asn1.ObjectIdentifier{2, 5, 4, 3}, Value: "evil\nname\x00"},
		{Type: asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, Value: "a@b"},
		{Type: asn1.ObjectIdentifier{1, 2, 3}, Value: "x"},
	}}
	if got := dnSlash(n); got != "/C=DE/O=Ex, \"Inc\"/CN=evil\nname\x00/emailAddress=a@b/1.2.3=x" {
		t.Errorf("dnSlash %q", got)
	}
	if got := sanitize(dnSlash(n), 1000); strings.ContainsAny(got, "\n\x00") {
		t.Errorf("sanitize left %q", got)
	}
	if got := subjectRFC4514(pkix.Name{CommonName: "a,b", Country: []string{"DE"}, SerialNumber: "1"}); got != "CN=a\\,b,C=DE" {
		t.Errorf("rfc4514 %q", got)
	}
	if got := sanitize(strings.Repeat("x", 5000), maxValue); len(got) != maxValue {
		t.Errorf("sanitize kept %d", len(got))
	}
}

func TestReportAllVars(t *testing.T) {
	cs := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: "x\ny"}
	for _, server := range []bool{true, false} {
		vars := buildReport(cs, server, "k", "verified")
		if len(vars) != len(ucspi.ReportVars) {
			t.Fatalf("%d vars, want %d", len(vars), len(ucspi.ReportVars))
		}
		for i, v := range vars {
			if v.Name != ucspi.ReportVars[i] {
				t.Errorf("var %d is %s, want %s", i, v.Name, ucspi.ReportVars[i])
			}
			if strings.ContainsAny(v.Value, "\n\x00") {
				t.Errorf("%s = %q", v.Name, v.Value)
			}
		}
		if _, err := ucspi.ParseReport(ucspi.EncodeReport(vars)); err != nil {
			t.Fatal(err)
		}
	}
}

var optionTests = []struct {
	args []string
	ok   bool
}{
	{[]string{"-s"}, true},
	{[]string{"-c", "-k", "mx.example"}, true},
	{[]string{"-c", "-N"}, true},
	{[]string{"-sy", "-z2", "-K", "5000", "-I", "300", "-SJ", "-m", "1.3", "-a", "smtp,h2", "-j", "-M", "128", "-v"}, true},
	{[]string{"-s", "-M", "0"}, true},
	{nil, false},
	{[]string{"-s", "-c"}, false},
	{[]string{"-c"}, false},
	{[]string{"-s", "-k", "x"}, false},
	{[]string{"-c", "-N", "-Y"}, false},
	{[]string{"-s", "-A"}, true},
	{[]string{"-c", "-N", "-A"}, false},
	{[]string{"-s", "-z", "3"}, false},
	{[]string{"-s", "-m", "1.1"}, false},
	{[]string{"-s", "-a", "a,,b"}, false},
	{[]string{"-s", "-M", "8"}, false},
	{[]string{"-s", "-M", "96"}, false},
	{[]string{"-s", "-K", "-1"}, false},
	{[]string{"-s", "operand"}, false},
	{[]string{"-s", "-x"}, false},
	{[]string{"-c", "-k", "a b"}, false},
	{[]string{"-c", "-k", "mx.example", "-V"}, true},
	{[]string{"-c", "-N", "-V"}, false},
	{[]string{"-s", "-V"}, false},
}

func TestOptions(t *testing.T) {
	for _, tc := range optionTests {
		o, err := parseOptions(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("%q: %v", tc.args, err)
		}
		if err == nil && o.server != (tc.args[0][1] == 's') {
			t.Errorf("%q: side", tc.args)
		}
	}
	o, _ := parseOptions(optionTests[3].args)
	if !o.clientCert || o.sniLevel != 2 || o.handshake != 5*time.Second || o.idle != 300*time.Second || !o.closeNotify ||
		!o.strictEOF || o.minVersion != tls.VersionTLS13 || len(o.alpn) != 2 || !o.requireJail || o.memLimitMiB != 128 {
		t.Errorf("%+v", o)
	}
	if _, err := parseOptions([]string{"-h"}); err != getopt.ErrHelp {
		t.Error("-h")
	}
	// close_notify unless the spawner asks for a bare half-close (-H).
	for _, tc := range []struct {
		args []string
		want bool
	}{{[]string{"-s"}, true}, {[]string{"-s", "-H"}, false}, {[]string{"-s", "-H", "-S"}, true}} {
		if o, err := parseOptions(tc.args); err != nil || o.closeNotify != tc.want {
			t.Errorf("%q: closeNotify %v, want %v (%v)", tc.args, o != nil && o.closeNotify, tc.want, err)
		}
	}
}

func TestHelpListsOptions(t *testing.T) {
	for _, c := range "sckNVyYzKISHJmajMqv" {
		if !strings.Contains(help, "\n  -"+string(c)+" ") {
			t.Errorf("help lacks -%c", c)
		}
	}
}

// SSL_PEER_SPKI_HASH is the SHA-256 of the leaf's SubjectPublicKeyInfo,
// what a TLSA "3 1 1" record holds; SSL_PEER_CERT_HASH that of the DER.
func TestReportSPKIHash(t *testing.T) {
	p := pair(t, ecKey, "host.example")
	blk, _ := pem.Decode(p.CertPEM)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	der := sha256.Sum256(leaf.Raw)
	cs := &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{leaf}}
	got := map[string]string{}
	for _, v := range buildReport(cs, false, "k", "verified") {
		got[v.Name] = v.Value
	}
	if got[ucspi.SSLPeerSPKIHash] != "SHA256:"+hex.EncodeToString(spki[:]) || got[ucspi.SSLPeerCertHash] != "SHA256:"+hex.EncodeToString(der[:]) {
		t.Fatalf("spki %s cert %s", got[ucspi.SSLPeerSPKIHash], got[ucspi.SSLPeerCertHash])
	}
}

// -A asks for any client certificate without CAs, and the report says
// GENEROUS with the subject names removed and the hashes kept.
func TestAnyClientCert(t *testing.T) {
	p := pair(t, ecKey, "host.example")
	local := signerFunc(func(int, crypto.PublicKey) crypto.Signer { return ecKey })
	cfg, err := buildConfig(&options{server: true, anyCert: true, sniLevel: 1}, &keysign.Setup{Pairs: []keysign.Pair{{CertPEM: p.CertPEM}}}, local)
	if err != nil || cfg.ClientAuth != tls.RequestClientCert || cfg.ClientCAs != nil {
		t.Fatalf("config: %v %v", cfg.ClientAuth, err)
	}
	blk, _ := pem.Decode(p.CertPEM)
	leaf, _ := x509.ParseCertificate(blk.Bytes)
	cs := &tls.ConnectionState{Version: tls.VersionTLS13, PeerCertificates: []*x509.Certificate{leaf}}
	got := map[string]ucspi.Var{}
	for _, v := range generous(buildReport(cs, true, "", "")) {
		got[v.Name] = v
	}
	if got[ucspi.SSLClientVerify].Value != "GENEROUS" || !got[ucspi.SSLClientSDN].Unset || !got[ucspi.SSLClientSDNCN].Unset ||
		!got[ucspi.SSLClientIDN].Unset || got[ucspi.SSLPeerSPKIHash].Unset || got[ucspi.SSLPeerCertHash].Unset {
		t.Fatalf("report %+v", got)
	}
	for _, v := range generous(buildReport(&tls.ConnectionState{Version: tls.VersionTLS13}, true, "", "")) {
		if v.Name == ucspi.SSLClientVerify && v.Value != "NONE" {
			t.Fatalf("no certificate: %+v", v)
		}
	}
}

// TestResumedClientVerified: a ticket whose state claims a client
// certificate the CAs never issued does not make an honest engine report
// it. The forged state is what a compromised engine could have the
// holder seal: a genuine session's state with the leaf replaced by one of
// the attacker's, its verified chain still ending at the real CA (all
// crypto/tls checks on resumption: the chain's root is in ClientCAs).
func TestResumedClientVerified(t *testing.T) {
	srvPair := pair(t, ecKey, "host.example")
	ca, caKey := issue(t, nil, nil, "ca.example", true)
	client, clientKey := issue(t, ca, caKey, "client.example", false)
	rogue, _ := issue(t, nil, nil, "admin", false)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})

	tk := make([]byte, 32)
	rand.Read(tk)
	ts, _ := keysign.NewSealer(tk)
	h := &forger{sealer: sealer{signerFunc(func(int, crypto.PublicKey) crypto.Signer { return ecKey }), ts}}
	setup := &keysign.Setup{Pairs: []keysign.Pair{{CertPEM: srvPair.CertPEM}}, CAs: [][]byte{caPEM}, Tickets: true}
	// One config per handshake, as one engine per connection.
	srv := func() *tls.Config {
		cfg, err := buildConfig(&options{server: true, sniLevel: 1, optionalCert: true}, setup, h)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(srvPair.CertPEM)
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		cli := &tls.Config{RootCAs: roots, ServerName: "host.example", MinVersion: v, MaxVersion: v,
			Certificates:       []tls.Certificate{{Certificate: [][]byte{client.Raw}, PrivateKey: clientKey}},
			ClientSessionCache: tls.NewLRUClientSessionCache(4)}
		h.swap = nil
		if sst, _, err := handshake(t, srv(), cli); err != nil || len(sst.VerifiedChains) == 0 {
			t.Fatalf("TLS %x: first handshake: %v", v, err)
		}
		h.swap = func(state []byte) []byte { return swapLeaf(t, state, client.Raw, rogue.Raw) }
		sst, _, err := handshake(t, srv(), cli)
		if err == nil && sst.DidResume && len(sst.PeerCertificates) > 0 && sst.PeerCertificates[0].Subject.CommonName == "admin" {
			t.Errorf("TLS %x: resumed with the forged certificate of %q", v, sst.PeerCertificates[0].Subject.CommonName)
		}
		if h.swapped == 0 {
			t.Fatalf("TLS %x: no ticket was opened", v)
		}
	}
}

// forger is the test holder that opens a ticket to a state it alters.
type forger struct {
	sealer
	swap    func([]byte) []byte
	swapped int
}

func (f *forger) Unwrap(t []byte) ([]byte, error) {
	state, err := f.sealer.Unwrap(t)
	if state != nil && f.swap != nil {
		state = f.swap(state)
		f.swapped++
	}
	return state, err
}

// swapLeaf replaces the leaf certificate old in a serialised session
// state with leaf, fixing the two 24-bit lengths before it (the entry's
// and the certificate list's).
func swapLeaf(t *testing.T, state, old, leaf []byte) []byte {
	i := bytes.Index(state, old)
	if i < 6 {
		t.Fatal("no client certificate in the session state")
	}
	out := append(append(append([]byte{}, state[:i]...), leaf...), state[i+len(old):]...)
	put24 := func(at, n int) { out[at], out[at+1], out[at+2] = byte(n>>16), byte(n>>8), byte(n) }
	get24 := func(at int) int { return int(state[at])<<16 | int(state[at+1])<<8 | int(state[at+2]) }
	d := len(leaf) - len(old)
	put24(i-3, get24(i-3)+d)
	put24(i-6, get24(i-6)+d)
	return out
}

// issue makes a certificate for cn signed by parent (self-signed when
// parent is nil), with a new ECDSA key.
func issue(t *testing.T, parent *x509.Certificate, parentKey crypto.Signer, cn string, isCA bool) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, key
}

// buildConfig is buildConfigV without the verifier, for the tests of
// server configurations.
func buildConfig(o *options, s *keysign.Setup, h keyHolder) (*tls.Config, error) {
	cfg, _, err := buildConfigV(o, s, h)
	return cfg, err
}
