package tlsspawn

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/tlschain/tlschain/pkg/dane"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/keysign"
	"github.com/tlschain/tlschain/pkg/ticketkeys"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// Material is everything the spawner reads from files, as root, before the
// engine starts: the key pairs and the session-ticket keys (these stay
// here), the CA certificates and the OCSP staple (these go to the engine).
type Material struct {
	Pairs      []keysign.Pair
	Files      []string // Files[i] names the files of Pairs[i], for messages
	TicketKeys []byte   // TLS_TICKETKEYS's content: the holder seals tickets with it
	Setup      keysign.Setup
}

// loadKeys parses the private keys and the ticket keys of m: what the
// holder keeps and the engine never gets.
func (m *Material) loadKeys() (*keysign.Keys, error) {
	keys, err := keysign.LoadKeys(m.Pairs)
	if err != nil {
		return nil, pairError(m, err)
	}
	if len(m.TicketKeys) > 0 {
		if keys.Tickets, err = keysign.NewSealer(m.TicketKeys); err != nil {
			return nil, exitcode.Config("use", ucspi.TicketKeyFile, err)
		}
	}
	m.Setup.Pairs = m.Pairs
	return keys, nil
}

// SystemBundles are the CA bundle files tried, in order, when tlsc
// verifies a server without CAFILE or CADIR (the list Go's crypto/x509
// uses on Linux).
var SystemBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// maxFile bounds every file read: certificates, keys and CA bundles are
// small, and a path pointing at something huge must not eat the memory.
const maxFile = 16 << 20

// maxCADirFiles bounds the files read from CADIR.
const maxCADirFiles = 10000

// Load reads the files c needs, as named by env.
func Load(c *Config, env *ucspi.Env, bundles []string) (*Material, error) {
	m := &Material{}
	if c.Server {
		if err := m.loadServerPairs(c, env); err != nil {
			return nil, err
		}
	} else if c.ClientCert {
		if err := m.loadDefaultPair(env); err != nil {
			return nil, err
		}
	}
	needCA := c.Server && (c.ClientCert || c.RequestCert) || !c.Server && !c.NoVerify
	if needCA {
		if err := m.loadCAs(c, env, bundles); err != nil {
			return nil, err
		}
	}
	if !c.Server && !c.NoVerify {
		if err := m.loadTLSA(c, env); err != nil {
			return nil, err
		}
	}
	if c.Server && c.OCSPFile != "" {
		der, err := readFile("OCSP staple", c.OCSPFile)
		if err != nil {
			return nil, err
		}
		if len(der) == 0 {
			return nil, exitcode.Config("use OCSP staple", c.OCSPFile, errors.New("empty file"))
		}
		m.Setup.OCSP = der
	}
	if c.Server {
		if path, ok := env.Get(ucspi.TicketKeyFile); ok && path != "" {
			keys, err := readFile(ucspi.TicketKeyFile, path)
			if err != nil {
				return nil, err
			}
			if _, err := ticketkeys.Parse(keys); err != nil {
				return nil, exitcode.Config("use "+ucspi.TicketKeyFile, path, err)
			}
			m.TicketKeys = keys
			m.Setup.Tickets = true
		}
	}
	return m, nil
}

// loadTLSA takes the server's TLSA records from TLSA (set by tlsa-lookup
// from a DNSSEC-secure answer) for the engine's DANE check, with the base
// name from TLSA_BASENAME, else -k. Records with unknown parameters are
// passed on (the engine ignores them); bad syntax is a configuration
// error rather than a silent fall back to PKIX.
func (m *Material) loadTLSA(c *Config, env *ucspi.Env) error {
	text, ok := env.Get(ucspi.TLSA)
	if !ok || text == "" {
		return nil
	}
	rs, err := dane.Parse(text)
	if err != nil {
		return exitcode.Config("use", ucspi.TLSA, err)
	}
	base, _ := env.Get(ucspi.TLSABaseName)
	if base == "" {
		base = c.ServerName
	}
	m.Setup.TLSABase = base
	m.Setup.TLSA = dane.Format(rs)
	return nil
}

// loadDefaultPair reads CERTFILE and KEYFILE. KEYFILE unset or empty
// means the key is inside CERTFILE, before or after the chain (ucspi-ssl's
// and the qmail TLS patch's one file).
func (m *Material) loadDefaultPair(env *ucspi.Env) error {
	cert, ok := env.Get(ucspi.CertFile)
	if !ok || cert == "" {
		return exitcode.UsageError(ucspi.CertFile + " not set")
	}
	key, _ := env.Get(ucspi.KeyFile)
	return m.addPair("", ucspi.CertFile, cert, ucspi.KeyFile, key)
}

// loadServerPairs reads the default pair and, from SNI level 1 on, the
// CERTFILE:name/KEYFILE:name pairs. At level 2 the default pair is
// optional, since a client must name one of the pairs anyway.
func (m *Material) loadServerPairs(c *Config, env *ucspi.Env) error {
	_, haveCert := env.Get(ucspi.CertFile)
	if c.SNILevel < 2 || haveCert {
		if err := m.loadDefaultPair(env); err != nil {
			return err
		}
	}
	if c.SNILevel == 0 {
		return nil
	}
	for _, kv := range env.Environ() {
		var name string
		switch {
		case strings.HasPrefix(kv, ucspi.CertFilePrefix):
			name, _, _ = strings.Cut(kv[len(ucspi.CertFilePrefix):], "=")
			keyVar := ucspi.KeyFilePrefix + name
			key, _ := env.Get(keyVar)
			cert, _ := env.Get(ucspi.CertFilePrefix + name)
			if err := checkSNIName(name); err != nil {
				return exitcode.Config("use", ucspi.CertFilePrefix+name, err)
			}
			if err := m.addPair(strings.ToLower(name), ucspi.CertFilePrefix+name, cert, keyVar, key); err != nil {
				return err
			}
		case strings.HasPrefix(kv, ucspi.KeyFilePrefix):
			name, _, _ = strings.Cut(kv[len(ucspi.KeyFilePrefix):], "=")
			if _, ok := env.Get(ucspi.CertFilePrefix + name); !ok {
				return exitcode.Config("use", ucspi.KeyFilePrefix+name, errors.New(ucspi.CertFilePrefix+name+" not set"))
			}
		}
	}
	if len(m.Pairs) == 0 {
		return exitcode.UsageError("no " + ucspi.CertFile + " and no " + ucspi.CertFilePrefix + "name pairs for SNI level 2")
	}
	return nil
}

// checkSNIName accepts a DNS name, or a wildcard "*." followed by one.
func checkSNIName(name string) error {
	n := strings.TrimPrefix(name, "*.")
	if n == "" || len(n) > 253 {
		return errors.New("bad server name " + strconv.Quote(name))
	}
	for _, label := range strings.Split(n, ".") {
		if label == "" || len(label) > 63 {
			return errors.New("bad server name " + strconv.Quote(name))
		}
		for i := 0; i < len(label); i++ {
			ch := label[i]
			if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
				return errors.New("bad server name " + strconv.Quote(name))
			}
		}
	}
	return nil
}

func (m *Material) addPair(name, certVar, certPath, keyVar, keyPath string) error {
	if certPath == "" {
		return exitcode.UsageError(certVar + " not set")
	}
	cert, err := readFile(certVar, certPath)
	if err != nil {
		return err
	}
	key := cert
	if keyPath != "" {
		if key, err = readFile(keyVar, keyPath); err != nil {
			return err
		}
	} else if !bytes.Contains(cert, []byte("PRIVATE KEY-----")) {
		return exitcode.Config("use "+certVar, certPath, errors.New("no private key in it and no "+keyVar))
	}
	m.Pairs = append(m.Pairs, keysign.Pair{Name: name, CertPEM: cert, KeyPEM: key})
	desc := certVar + " " + certPath
	if keyPath != "" {
		desc += " and " + keyVar + " " + keyPath
	}
	m.Files = append(m.Files, desc)
	return nil
}

// loadCAs reads CAFILE and the files of CADIR; a client with neither
// falls back to the system bundle. The engine may be chrooted, so it gets
// the certificates, not the paths.
func (m *Material) loadCAs(c *Config, env *ucspi.Env, bundles []string) error {
	file, haveFile := env.Get(ucspi.CAFile)
	dir, haveDir := env.Get(ucspi.CADir)
	haveFile = haveFile && file != ""
	haveDir = haveDir && dir != ""
	if haveFile {
		pem, err := readFile(ucspi.CAFile, file)
		if err != nil {
			return err
		}
		if err := m.addCA(ucspi.CAFile, file, pem); err != nil {
			return err
		}
	}
	if haveDir {
		if err := m.loadDir(ucspi.CADir, dir); err != nil {
			return err
		}
	}
	if haveFile || haveDir {
		return nil
	}
	if c.Server {
		return exitcode.Config("verify client certificates", "",
			errors.New(ucspi.CAFile+" and "+ucspi.CADir+" not set"))
	}
	// The system's CAs: SSL_CERT_FILE / SSL_CERT_DIR as OpenSSL and Go
	// read them, else the first bundle that exists.
	if f, ok := env.Get(ucspi.SSLCertFile); ok && f != "" {
		pem, err := readFile(ucspi.SSLCertFile, f)
		if err != nil {
			return err
		}
		return m.addCA(ucspi.SSLCertFile, f, pem)
	}
	if d, ok := env.Get(ucspi.SSLCertDir); ok && d != "" {
		return m.loadDir(ucspi.SSLCertDir, d)
	}
	for _, b := range bundles {
		pem, err := os.ReadFile(b)
		if err == nil && len(pem) > 0 {
			return m.addCA("system CA bundle", b, pem)
		}
	}
	return exitcode.Config("find", "the system CA bundle",
		errors.New("set "+ucspi.CAFile+" or "+ucspi.CADir+", or use --no-verify-cert"))
}

// loadDir reads every regular file of dir (following symlinks, each file
// once: OpenSSL's hash links point at files that are there too) that holds
// a PEM certificate.
func (m *Material) loadDir(what, dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return exitcode.Config("read "+what, dir, err)
	}
	type fileID struct{ dev, ino uint64 }
	seen := map[fileID]bool{}
	n := 0
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := dir + "/" + e.Name()
		var st syscall.Stat_t
		if syscall.Stat(p, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG {
			continue
		}
		id := fileID{uint64(st.Dev), st.Ino}
		if seen[id] {
			continue
		}
		seen[id] = true
		if n++; n > maxCADirFiles {
			return exitcode.Config("read "+what, dir, errors.New("too many files"))
		}
		pem, err := readFile(what+" file", p)
		if err != nil {
			return err
		}
		if !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")) {
			continue
		}
		if err := m.addCA(what+" file", p, pem); err != nil {
			return err
		}
	}
	if len(m.Setup.CAs) == 0 {
		return exitcode.Config("use "+what, dir, errors.New("no PEM certificates in it"))
	}
	return nil
}

// addCA adds a PEM bundle, split into messages the key channel can carry.
func (m *Material) addCA(what, path string, pem []byte) error {
	if !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")) {
		return exitcode.Config("use "+what, path, errors.New("no PEM certificate in it"))
	}
	for len(pem) > 0 {
		chunk, rest, err := splitPEM(pem, keysign.MaxMessage)
		if err != nil {
			return exitcode.Config("use "+what, path, err)
		}
		m.Setup.CAs = append(m.Setup.CAs, chunk)
		pem = rest
	}
	return nil
}

// splitPEM cuts b after the last "-----END CERTIFICATE-----" line that
// fits in max bytes.
func splitPEM(b []byte, max int) (chunk, rest []byte, err error) {
	if len(b) <= max {
		return b, nil, nil
	}
	end := []byte("-----END CERTIFICATE-----")
	i := bytes.LastIndex(b[:max], end)
	if i < 0 {
		return nil, nil, errors.New("a certificate larger than 1 MiB")
	}
	i += len(end)
	for i < len(b) && i < max && (b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return b[:i], b[i:], nil
}

// readFile reads a configuration file; every failure is a TLS
// configuration error (96) naming the variable and the path.
func readFile(what, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, exitcode.Config("read "+what, path, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, exitcode.Config("read "+what, path, syscall.EISDIR)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, exitcode.Config("read "+what, path, err)
	}
	if len(b) > maxFile {
		return nil, exitcode.Config("read "+what, path, errors.New("file too big"))
	}
	return b, nil
}
