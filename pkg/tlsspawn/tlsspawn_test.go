package tlsspawn

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

var optionTests = []struct {
	name string
	args []string
	err  string // substring; "" = ok
	want func(*ServerConfig) bool
}{
	{"defaults", nil, "", func(c *ServerConfig) bool {
		return c.SNILevel == 1 && c.MinVersion == "1.2" && c.CloseNotify && !c.StrictTrunc && !c.KeepVars && c.EngineMaxProcs == "1"
	}},
	{"handshake deadline", []string{"-K", "5000"}, "", func(c *ServerConfig) bool { return c.HandshakeMS == 5000 }},
	{"deadline attached", []string{"-K250"}, "", func(c *ServerConfig) bool { return c.HandshakeMS == 250 }},
	{"deadline long", []string{"--handshake-timeout=7"}, "", func(c *ServerConfig) bool { return c.HandshakeMS == 7 }},
	{"deadline negative", []string{"-K", "-1"}, "needs a number", nil},
	{"deadline huge", []string{"-K", "99999999999"}, "needs a number", nil},
	{"idle", []string{"-I", "3600"}, "", func(c *ServerConfig) bool { return c.IdleSecs == 3600 }},
	{"close notify then half close", []string{"-S", "-s"}, "", func(c *ServerConfig) bool { return !c.CloseNotify }},
	{"close notify", []string{"-sS"}, "", func(c *ServerConfig) bool { return c.CloseNotify }},
	{"strict truncation", []string{"-J"}, "", func(c *ServerConfig) bool { return c.StrictTrunc }},
	{"keep vars", []string{"-zZ"}, "", func(c *ServerConfig) bool { return c.KeepVars }},
	{"tls 1.3", []string{"-m", "1.3"}, "", func(c *ServerConfig) bool { return c.MinVersion == "1.3" }},
	{"tls 1.1", []string{"-m", "1.1"}, "needs 1.2 or 1.3", nil},
	{"alpn", []string{"-a", "h2,http/1.1"}, "", func(c *ServerConfig) bool { return c.ALPN == "h2,http/1.1" }},
	{"alpn empty item", []string{"-a", "h2,"}, "bad ALPN", nil},
	{"alpn space", []string{"-a", "h 2"}, "bad ALPN", nil},
	{"alpn empty", []string{"-a", ""}, "at least one", nil},
	{"quiet", []string{"-q"}, "", func(c *ServerConfig) bool { return c.Verbosity == logline.Quiet }},
	{"app user", []string{"-u", "daemon", "-g", "1"}, "", func(c *ServerConfig) bool { return c.App.User == "daemon" && c.App.Group == "1" }},
	{"app env", []string{"-U"}, "", func(c *ServerConfig) bool { return c.App.FromEnv }},
	{"app bad user", []string{"-u", "a:b"}, "bad user", nil},
	{"uid pool", []string{"--engine-uids", "100"}, "", func(c *ServerConfig) bool { return c.UIDPool == 100 }},
	{"uid dir relative", []string{"--engine-uid-dir", "x"}, "absolute", nil},
	{"gomaxprocs unset", []string{"--engine-gomaxprocs="}, "", func(c *ServerConfig) bool { return c.EngineMaxProcs == "" }},
	{"gomaxprocs 0", []string{"--engine-gomaxprocs=0"}, "needs a number", nil},
}

func parseCommon(args []string) (*ServerConfig, error) {
	c := NewServerConfig()
	p := getopt.New(args, commonShort, CommonLong...)
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			return c, c.Check()
		}
		if err != nil {
			return nil, err
		}
		if err := c.Option(o); err != nil {
			return nil, err
		}
	}
}

func TestOptions(t *testing.T) {
	for _, tc := range optionTests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parseCommon(tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.want(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
}

func TestEngineArgs(t *testing.T) {
	c := NewServerConfig()
	c.RequireClientCert, c.HandshakeMS, c.StrictTrunc, c.MinVersion, c.ALPN = true, 500, true, "1.3", "smtp"
	c.SNILevel, c.Verbosity, c.RequireJail, c.EngineMemMiB = 2, logline.Verbose, true, 128
	want := []string{"tlswrap", "--server", "--sni-level", "2", "--require-client-cert", "-K", "500", "-J", "-m", "1.3", "-a", "smtp",
		"--require-jail", "--memory", "128", "-v"}
	if got := c.engineArgs(false); !reflect.DeepEqual(got, want) {
		t.Errorf("server args %q, want %q", got, want)
	}
	c = NewServerConfig()
	c.AnyClientCert, c.Verbosity = true, logline.Quiet
	want = []string{"tlswrap", "--server", "--sni-level", "1", "--any-client-cert", "-K", "30000", "--prestarted", "-q"}
	if got := c.engineArgs(true); !reflect.DeepEqual(got, want) {
		t.Errorf("server args %q, want %q", got, want)
	}
	cc := NewClientConfig()
	cc.ServerName, cc.NoVerify, cc.IdleSecs, cc.SendClientCert, cc.CloseNotify = "mx.example", true, 60, true, false
	want = []string{"tlswrap", "--client", "--server-name", "mx.example", "--no-verify-cert", "--send-client-cert", "-K", "30000", "-I", "60", "-s"}
	if got := cc.engineArgs(false); !reflect.DeepEqual(got, want) {
		t.Errorf("client args %q, want %q", got, want)
	}
	cc = NewClientConfig()
	cc.ServerName, cc.VerifyReport = "mx.example", true
	want = []string{"tlswrap", "--client", "--server-name", "mx.example", "--verify-report", "-K", "30000"}
	if got := cc.engineArgs(false); !reflect.DeepEqual(got, want) {
		t.Errorf("client args %q, want %q", got, want)
	}
}

// TestKeyHolderArgs: the key holder is told what decides which files it
// reads and its window, nothing else (cmd/tlskeyholder parses the same
// lines).
func TestKeyHolderArgs(t *testing.T) {
	c := NewServerConfig()
	c.SNILevel, c.RequestClientCert, c.OCSPFile, c.HandshakeMS, c.ALPN = 2, true, "/o.der", 500, "smtp"
	// A root spawner (Cred set) passes the engine's ids to drop to.
	root := engineID{Cred: &syscall.Credential{Uid: 4321, Gid: 4322}, UID: 4321, GID: 4322}
	want := []string{"tlskeyholder", "--server", "--sni-level", "2", "--request-client-cert", "--ocsp=/o.der", "--as=4321:4322", "-K", "500", "--", "42"}
	if got := c.keyHolderArgs(root, 42); !reflect.DeepEqual(got, want) {
		t.Errorf("server args %q, want %q", got, want)
	}
	cc := NewClientConfig()
	cc.ServerName, cc.SendClientCert, cc.VerifyReport = "mx.example", true, true
	want = []string{"tlskeyholder", "--client", "--server-name=mx.example", "--send-client-cert", "-K", "30000", "--", "7"}
	if got := cc.keyHolderArgs(engineID{UID: 1000, GID: 1000}, 7); !reflect.DeepEqual(got, want) {
		t.Errorf("client args %q, want %q", got, want)
	}
	cc.NoVerify = true
	if got := cc.keyHolderArgs(engineID{}, 7); !slices.Contains(got, "--no-verify-cert") {
		t.Errorf("client args %q lack --no-verify-cert", got)
	}
}

// pki writes a throwaway CA-less pair of self-signed ECDSA certificates.
type pair struct{ cert, key string }

func writePair(t *testing.T, dir, name string) pair {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	p := pair{dir + "/" + name + ".crt", dir + "/" + name + ".key"}
	os.WriteFile(p.cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(p.key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600)
	return p
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a.test")
	b := writePair(t, dir, "b.test")
	os.WriteFile(dir+"/tickets", make([]byte, 64), 0o600)
	os.WriteFile(dir+"/badtickets", make([]byte, 33), 0o600)
	os.WriteFile(dir+"/ocsp.der", []byte{0x30, 0}, 0o600)
	cadir := t.TempDir()
	os.WriteFile(cadir+"/ca.pem", mustRead(t, a.cert), 0o644)
	os.Symlink("ca.pem", cadir+"/abcdef01.0")
	os.WriteFile(cadir+"/README", []byte("not a cert"), 0o644)

	type tc struct {
		name    string
		server  bool
		srv     func(*ServerConfig)
		cli     func(*ClientConfig)
		env     []string
		bundles []string
		code    int
		msg     string
		check   func(*testing.T, *material)
	}
	base := []string{"CERTFILE=" + a.cert, "KEYFILE=" + a.key}
	// One PEM file with key and chain, the key after or before it (the
	// qmail TLS patch's servercert.pem, ucspi-ssl's CERTFILE alone).
	keyAfter, keyBefore := dir+"/after.pem", dir+"/before.pem"
	os.WriteFile(keyAfter, append(append(mustRead(t, a.cert), mustRead(t, b.cert)...), mustRead(t, a.key)...), 0o600)
	os.WriteFile(keyBefore, append(mustRead(t, a.key), mustRead(t, a.cert)...), 0o600)
	combined := func(t *testing.T, m *material) {
		if len(m.Pairs) != 1 || !bytes.Equal(m.Pairs[0].KeyPEM, m.Pairs[0].CertPEM) {
			t.Fatalf("pairs %+v", m.Pairs)
		}
		if _, err := m.loadKeys(); err != nil {
			t.Fatalf("the key of the one file: %v", err)
		}
	}
	tests := []tc{
		{name: "default pair", server: true, env: base, check: func(t *testing.T, m *material) {
			if len(m.Pairs) != 1 || m.Pairs[0].Name != "" || len(m.Setup.CAs) != 0 {
				t.Errorf("material %+v", m)
			}
		}},
		{name: "no CERTFILE", server: true, env: nil, code: 100, msg: "CERTFILE not set"},
		{name: "no KEYFILE, no key in CERTFILE", server: true, env: []string{"CERTFILE=" + a.cert}, code: 96,
			msg: "unable to use CERTFILE " + a.cert + ": no private key in it and no KEYFILE"},
		{name: "empty KEYFILE, no key in CERTFILE", server: true, env: []string{"CERTFILE=" + a.cert, "KEYFILE="}, code: 96, msg: "no private key in it"},
		{name: "key after the chain, KEYFILE unset", server: true, env: []string{"CERTFILE=" + keyAfter}, check: combined},
		{name: "key before the chain, KEYFILE unset", server: true, env: []string{"CERTFILE=" + keyBefore}, check: combined},
		{name: "key inside CERTFILE, KEYFILE empty", server: true, env: []string{"CERTFILE=" + keyAfter, "KEYFILE="}, check: combined},
		{name: "client key inside CERTFILE", cli: func(c *ClientConfig) { c.SendClientCert = true; c.NoVerify = true }, env: []string{"CERTFILE=" + keyBefore}, check: combined},
		{name: "client CERTFILE without key", cli: func(c *ClientConfig) { c.SendClientCert = true; c.NoVerify = true }, env: []string{"CERTFILE=" + a.cert}, code: 96, msg: "no private key in it and no KEYFILE"},
		{name: "sni pair in one file", server: true, env: append([]string{"CERTFILE:c.test=" + keyAfter}, base...), check: func(t *testing.T, m *material) {
			if len(m.Pairs) != 2 || m.Pairs[1].Name != "c.test" || !bytes.Equal(m.Pairs[1].KeyPEM, m.Pairs[1].CertPEM) {
				t.Fatalf("pairs %+v", m.Pairs)
			}
			if _, err := m.loadKeys(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "unreadable key", server: true, env: []string{"CERTFILE=" + a.cert, "KEYFILE=" + dir + "/nope"}, code: 96, msg: "unable to read KEYFILE " + dir + "/nope: no such file"},
		{name: "key is a directory", server: true, env: []string{"CERTFILE=" + a.cert, "KEYFILE=" + dir}, code: 96, msg: "is a directory"},
		{name: "sni pair", server: true, env: append([]string{"CERTFILE:B.test=" + b.cert, "KEYFILE:B.test=" + b.key}, base...), check: func(t *testing.T, m *material) {
			if len(m.Pairs) != 2 || m.Pairs[0].Name != "" || m.Pairs[1].Name != "b.test" {
				t.Errorf("pairs %q %q", m.Pairs[0].Name, m.Pairs[1].Name)
			}
		}},
		{name: "sni level 0 ignores pairs", server: true, srv: func(c *ServerConfig) { c.SNILevel = 0 },
			env: append([]string{"CERTFILE:b.test=" + b.cert, "KEYFILE:b.test=" + b.key}, base...), check: func(t *testing.T, m *material) {
				if len(m.Pairs) != 1 {
					t.Errorf("%d pairs", len(m.Pairs))
				}
			}},
		{name: "sni level 2 pairs only", server: true, srv: func(c *ServerConfig) { c.SNILevel = 2 },
			env: []string{"CERTFILE:*.b.test=" + b.cert, "KEYFILE:*.b.test=" + b.key}, check: func(t *testing.T, m *material) {
				if len(m.Pairs) != 1 || m.Pairs[0].Name != "*.b.test" {
					t.Errorf("pairs %+v", m.Pairs)
				}
			}},
		{name: "sni level 2 without pairs", server: true, srv: func(c *ServerConfig) { c.SNILevel = 2 }, code: 100, msg: "no CERTFILE"},
		{name: "KEYFILE:x without CERTFILE:x", server: true, env: append([]string{"KEYFILE:x.test=" + b.key}, base...), code: 96, msg: "CERTFILE:x.test not set"},
		{name: "CERTFILE:x without key and KEYFILE:x", server: true, env: append([]string{"CERTFILE:x.test=" + b.cert}, base...), code: 96,
			msg: "unable to use CERTFILE:x.test " + b.cert + ": no private key in it and no KEYFILE:x.test"},
		{name: "bad sni name", server: true, env: append([]string{"CERTFILE:a..b=" + b.cert, "KEYFILE:a..b=" + b.key}, base...), code: 96, msg: "bad server name"},
		{name: "client certs need a CA", server: true, srv: func(c *ServerConfig) { c.RequireClientCert = true }, env: base, code: 96, msg: "CAFILE and CADIR not set"},
		{name: "CAFILE", server: true, srv: func(c *ServerConfig) { c.RequestClientCert = true }, env: append([]string{"CAFILE=" + b.cert}, base...), check: func(t *testing.T, m *material) {
			if len(m.Setup.CAs) != 1 {
				t.Errorf("%d CAs", len(m.Setup.CAs))
			}
		}},
		{name: "CAFILE without certificate", server: true, srv: func(c *ServerConfig) { c.RequestClientCert = true }, env: append([]string{"CAFILE=" + b.key}, base...), code: 96, msg: "no PEM certificate"},
		{name: "CADIR reads each file once", server: true, srv: func(c *ServerConfig) { c.RequestClientCert = true }, env: append([]string{"CADIR=" + cadir}, base...), check: func(t *testing.T, m *material) {
			if len(m.Setup.CAs) != 1 {
				t.Errorf("%d CAs from CADIR", len(m.Setup.CAs))
			}
		}},
		{name: "ticket keys", server: true, env: append([]string{"TLS_TICKETKEYS=" + dir + "/tickets"}, base...), check: func(t *testing.T, m *material) {
			if len(m.TicketKeys) != 64 || !m.Setup.Tickets {
				t.Errorf("%d ticket key bytes, tickets %v", len(m.TicketKeys), m.Setup.Tickets)
			}
			var b bytes.Buffer
			keysign.WriteSetup(&b, &m.Setup)
			if bytes.Contains(b.Bytes(), m.TicketKeys[:32]) || bytes.Contains(b.Bytes(), m.TicketKeys[32:]) {
				t.Error("the engine's setup carries a ticket key")
			}
		}},
		{name: "bad ticket keys", server: true, env: append([]string{"TLS_TICKETKEYS=" + dir + "/badtickets"}, base...), code: 96, msg: "ticket key file must hold 1 to 8 keys"},
		{name: "ocsp", server: true, srv: func(c *ServerConfig) { c.OCSPFile = dir + "/ocsp.der" }, env: base, check: func(t *testing.T, m *material) {
			if len(m.Setup.OCSP) != 2 {
				t.Error("no OCSP staple")
			}
		}},
		{name: "client system bundle", bundles: []string{dir + "/nope", b.cert}, check: func(t *testing.T, m *material) {
			if len(m.Pairs) != 0 || len(m.Setup.CAs) != 1 {
				t.Errorf("material %+v", m)
			}
		}},
		{name: "client SSL_CERT_FILE", env: []string{"SSL_CERT_FILE=" + b.cert}, bundles: []string{dir + "/nope"}, check: func(t *testing.T, m *material) {
			if len(m.Setup.CAs) != 1 {
				t.Errorf("%d CAs", len(m.Setup.CAs))
			}
		}},
		{name: "client SSL_CERT_DIR", env: []string{"SSL_CERT_DIR=" + cadir}, bundles: []string{dir + "/nope"}, check: func(t *testing.T, m *material) {
			if len(m.Setup.CAs) != 1 {
				t.Errorf("%d CAs", len(m.Setup.CAs))
			}
		}},
		{name: "client CAFILE beats SSL_CERT_FILE", env: []string{"CAFILE=" + a.cert, "SSL_CERT_FILE=" + dir + "/nope"}, check: func(t *testing.T, m *material) {
			if len(m.Setup.CAs) != 1 {
				t.Errorf("%d CAs", len(m.Setup.CAs))
			}
		}},
		{name: "client bad SSL_CERT_FILE", env: []string{"SSL_CERT_FILE=" + dir + "/nope"}, code: 96, msg: "unable to read SSL_CERT_FILE"},
		{name: "client without any CA", bundles: []string{dir + "/nope"}, code: 96, msg: "--no-verify-cert"},
		{name: "client no verify", cli: func(c *ClientConfig) { c.NoVerify = true }, check: func(t *testing.T, m *material) {
			if len(m.Setup.CAs) != 0 {
				t.Error("CAs loaded for --no-verify-cert")
			}
		}},
		{name: "client cert", cli: func(c *ClientConfig) { c.SendClientCert = true; c.NoVerify = true }, env: base, check: func(t *testing.T, m *material) {
			if len(m.Pairs) != 1 {
				t.Error("no client pair")
			}
		}},
		{name: "client cert missing", cli: func(c *ClientConfig) { c.SendClientCert = true; c.NoVerify = true }, code: 100, msg: "CERTFILE not set"},
		{name: "client TLSA", cli: func(c *ClientConfig) { c.ServerName = "mx.test" },
			env: []string{"CAFILE=" + a.cert, "TLSA=3 1 1 " + strings.Repeat("AB", 32) + ";9 9 9 00"}, check: func(t *testing.T, m *material) {
				if m.Setup.TLSABase != "mx.test" || m.Setup.TLSA != "3 1 1 "+strings.Repeat("ab", 32)+";9 9 9 00" {
					t.Errorf("TLSA %q base %q", m.Setup.TLSA, m.Setup.TLSABase)
				}
			}},
		{name: "client TLSA base name", cli: func(c *ClientConfig) { c.ServerName = "mx.test" },
			env: []string{"CAFILE=" + a.cert, "TLSA=3 1 1 00", "TLSA_BASENAME=mx.base.test"}, check: func(t *testing.T, m *material) {
				if m.Setup.TLSABase != "mx.base.test" {
					t.Errorf("base %q", m.Setup.TLSABase)
				}
			}},
		{name: "client TLSA ignored without verification", cli: func(c *ClientConfig) { c.NoVerify = true },
			env: []string{"TLSA=3 1 1 00"}, check: func(t *testing.T, m *material) {
				if m.Setup.TLSA != "" {
					t.Error("TLSA sent for --no-verify-cert")
				}
			}},
		{name: "client bad TLSA", env: []string{"CAFILE=" + a.cert, "TLSA=3 1 1 xyz"}, code: 96, msg: "unable to use TLSA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c side
			if tc.server {
				sc := NewServerConfig()
				if tc.srv != nil {
					tc.srv(sc)
				}
				c = sc
			} else {
				cc := NewClientConfig()
				if tc.cli != nil {
					tc.cli(cc)
				}
				c = cc
			}
			m, err := c.load(ucspi.NewEnv(tc.env), tc.bundles)
			if tc.code != 0 {
				if err == nil || exitcode.Code(err) != tc.code || !strings.Contains(err.Error(), tc.msg) {
					t.Fatalf("err = %v (code %d), want %d %q", err, exitcode.Code(err), tc.code, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, m)
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPairErrorNamesFiles(t *testing.T) {
	dir := t.TempDir()
	a := writePair(t, dir, "a.test")
	b := writePair(t, dir, "b.test")
	m, err := NewServerConfig().load(ucspi.NewEnv([]string{"CERTFILE=" + a.cert, "KEYFILE=" + b.key}), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = keysign.LoadKeys(m.Pairs)
	err = pairError(m, err)
	if exitcode.Code(err) != 96 || !strings.Contains(err.Error(), a.cert) || !strings.Contains(err.Error(), b.key) || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatch error %v", err)
	}
}

func TestEngineID(t *testing.T) {
	c := NewServerConfig()
	id, err := c.engineID(ucspi.NewEnv([]string{"TLS_UID=0"}), 1000)
	if err != nil || id.Cred != nil || id.UID != 1000 {
		t.Errorf("not root: %+v %v", id, err)
	}
	id, err = c.engineID(ucspi.NewEnv(nil), 0)
	if err != nil || id.Cred == nil || id.Cred.Uid != nobody || id.Cred.Gid != nobody || !reflect.DeepEqual(id.Cred.Groups, []uint32{nobody}) {
		t.Errorf("root default: %+v %v", id.Cred, err)
	}
	id, err = c.engineID(ucspi.NewEnv([]string{"SSL_UID=123", "SSL_GID=456", "TLS_GID=789"}), 0)
	if err != nil || id.Cred.Uid != 123 || id.Cred.Gid != 789 {
		t.Errorf("SSL_UID/TLS_GID: %+v %v", id.Cred, err)
	}
	for _, env := range [][]string{{"TLS_UID=0"}, {"SSL_UID=0"}, {"TLS_GID=0"}, {"TLS_UID=x y"}, {"TLS_UID=-1"}} {
		_, err = c.engineID(ucspi.NewEnv(env), 0)
		if exitcode.Code(err) != 100 {
			t.Errorf("%q: err %v, want 100", env, err)
		}
	}
	_, err = (&Common{UIDPool: 3}).engineID(ucspi.NewEnv(nil), 1000)
	if exitcode.Code(err) != 100 {
		t.Errorf("pool as non-root: %v", err)
	}
}

func TestLockSlot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the lock directory must be owned by root")
	}
	dir := t.TempDir() + "/uids"
	var fds []int
	seen := map[int]bool{}
	for i := 0; i < 3; i++ {
		uid, fd, err := lockSlot(dir, 5000, 3, 7)
		if err != nil {
			t.Fatal(err)
		}
		if seen[uid] || uid < 5000 || uid > 5002 {
			t.Fatalf("slot %d twice or out of range", uid)
		}
		seen[uid] = true
		fds = append(fds, fd)
	}
	if _, _, err := lockSlot(dir, 5000, 3, 7); exitcode.Code(err) != 111 || !strings.Contains(err.Error(), "5000..5002") {
		t.Fatalf("full pool: %v", err)
	}
	syscall.Close(fds[1])
	if uid, _, err := lockSlot(dir, 5000, 3, 0); err != nil || !seen[uid] {
		t.Fatalf("freed slot: %d %v", uid, err)
	}
	os.Chmod(dir, 0o777)
	if _, _, err := lockSlot(dir, 5000, 3, 0); exitcode.Code(err) != 97 {
		t.Fatalf("world-writable lock dir: %v", err)
	}
}

func TestAppEnv(t *testing.T) {
	in := []string{"PATH=/bin", "CERTFILE=/c", "KEYFILE=/k", "CERTFILE:a=/x", "KEYFILE:a=/y", "CAFILE=/ca",
		"CADIR=/d", "TLS_UID=1", "TLS_GID=2", "SSL_UID=3", "SSL_GID=4", "TLS_TICKETKEYS=/t",
		"SSL_CLIENT_S_DN=stale", "SSL_CIPHER=old", "UID=5", "GID=6", "GIDLIST=7", "TCPREMOTEIP=192.0.2.1"}
	vars := []ucspi.Var{{Name: "SSL_PROTOCOL", Value: "TLSv1.3"}, {Name: "SSL_CIPHER", Value: "TLS_AES_128_GCM_SHA256"}, {Name: "SSL_ALPN", Unset: true}}
	c := NewServerConfig()
	c.App.FromEnv = true
	got := c.appEnv(ucspi.NewEnv(in), vars)
	want := []string{"PATH=/bin", "TCPREMOTEIP=192.0.2.1", "SSL_PROTOCOL=TLSv1.3", "SSL_CIPHER=TLS_AES_128_GCM_SHA256"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("app env\n got %q\nwant %q", got, want)
	}
	c = NewServerConfig()
	c.KeepVars = true
	got = c.appEnv(ucspi.NewEnv(in), vars)
	m := strings.Join(got, " ")
	for _, v := range []string{"CERTFILE=/c", "KEYFILE:a=/y", "TLS_UID=1", "SSL_GID=4", "UID=5"} {
		if !strings.Contains(m, v) {
			t.Errorf("-Z lost %s: %q", v, got)
		}
	}
	if strings.Contains(m, "stale") {
		t.Errorf("-Z kept a stale report variable: %q", got)
	}
}

func TestEngineEnv(t *testing.T) {
	c := NewServerConfig()
	got := c.engineEnv(ucspi.NewEnv([]string{"CERTFILE=/c", "TCPREMOTEIP=192.0.2.1", "TCPREMOTEPORT=5", "PATH=/bin"}))
	want := []string{"TCPREMOTEIP=192.0.2.1", "TCPREMOTEPORT=5", "GOMAXPROCS=1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("engine env %q", got)
	}
}

func TestSplitPEM(t *testing.T) {
	block := "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	all := strings.Repeat(block, 10)
	var chunks []string
	b := []byte(all)
	for len(b) > 0 {
		c, rest, err := splitPEM(b, len(block)*3+5)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, string(c))
		b = rest
	}
	if strings.Join(chunks, "") != all || len(chunks) != 4 {
		t.Fatalf("%d chunks", len(chunks))
	}
	if _, _, err := splitPEM([]byte(all), 10); err == nil {
		t.Fatal("an oversized certificate was split")
	}
}

func TestEngineFailed(t *testing.T) {
	for _, tc := range []struct {
		ws     syscall.WaitStatus
		code   int
		logged bool
	}{
		{98 << 8, 98, true}, {96 << 8, 96, true}, {97 << 8, 97, true}, {1 << 8, 98, true}, {0, 98, false}, {9, 98, false},
	} {
		e := engineFailed(tc.ws)
		if e.Code != tc.code || e.Logged != tc.logged {
			t.Errorf("status %#x: %+v", int(tc.ws), e)
		}
	}
}

func TestCheckSNIName(t *testing.T) {
	for s, ok := range map[string]bool{"a.example": true, "*.example.com": true, "x": true, "": false, "*.": false,
		"a..b": false, "a b": false, "*.*.a": false, "a.*": false, strings.Repeat("a", 64): false, "é.test": false} {
		if err := checkSNIName(s); (err == nil) != ok {
			t.Errorf("checkSNIName(%q) = %v", s, err)
		}
	}
}

func TestEngineMemoryFloor(t *testing.T) {
	for arg, ok := range map[string]bool{"127": false, "1": false, "128": true, "512": true} {
		c := NewServerConfig()
		err := c.Option(getopt.Opt{Name: "engine-memory", Arg: arg})
		if (err == nil) != ok {
			t.Errorf("--engine-memory %s: %v", arg, err)
		}
	}
}

// TestVerifyMode: tlsc -n tells its app whether a server certificate that
// does not verify fails the handshake (TLSC_VERIFY).
func TestVerifyMode(t *testing.T) {
	for _, tc := range []struct {
		noVerify, report bool
		want             string
	}{{false, false, "enforce"}, {false, true, "report"}, {true, false, "none"}} {
		c := NewClientConfig()
		c.NoVerify, c.VerifyReport = tc.noVerify, tc.report
		if got := c.verifyMode(); got != tc.want {
			t.Errorf("--no-verify-cert %v --verify-report %v: %q, want %q", tc.noVerify, tc.report, got, tc.want)
		}
	}
}
