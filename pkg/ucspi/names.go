// Package ucspi holds the suite's whole contract with the programs it runs:
// fd numbers, every environment variable name, environment building
// (set, unset, keep) and the UCSPI-TLS "NAME=value\0…\0" report codec.
// doc/ucspi.md describes the contract for users.
package ucspi

// File descriptors of the UCSPI contract.
const (
	ServerReadFD  = 0 // a server app reads the peer here
	ServerWriteFD = 1 // and writes here
	ClientReadFD  = 6 // a client app reads the peer here
	ClientWriteFD = 7 // and writes here
)

// Variables set by tcpserver and tcpclient (tcp-environ(5)).
const (
	Proto         = "PROTO"
	TCPLocalIP    = "TCPLOCALIP"
	TCPLocalPort  = "TCPLOCALPORT"
	TCPLocalHost  = "TCPLOCALHOST"
	TCPRemoteIP   = "TCPREMOTEIP"
	TCPRemotePort = "TCPREMOTEPORT"
	TCPRemoteHost = "TCPREMOTEHOST"
	TCPRemoteInfo = "TCPREMOTEINFO"
	TCPConnNum    = "TCPCONNNUM"
	TCP6RemoteIP  = "TCP6REMOTEIP"
	TCP6LocalIP   = "TCP6LOCALIP"
	ProtoTCP      = "TCP"
	ListenFDs     = "LISTEN_FDS"
	ListenPID     = "LISTEN_PID"
	ListenFDNames = "LISTEN_FDNAMES"
	Path          = "PATH"
	UID           = "UID"
	GID           = "GID"
	GIDList       = "GIDLIST"
	RootEnv       = "ROOT"
	ConnSlot      = "TCPCONNSLOT"
	// ConnPID is the connection's id in log lines (conn=): the pid of the
	// process the listener started for it, set by tcpclient (its own pid)
	// and by the programs that start a process for the connection (tlsd,
	// tlsc, tlsserver, ucspi-starttls); unset, a program's own pid is the
	// id (it was exec'd by the listener's child).
	ConnPID    = "CONNPID"
	GoMaxProcs = "GOMAXPROCS"
)

// Variables set by proxy-server: the proxy's own address, from the real
// connection, when a PROXY header replaced TCPREMOTEIP and TCPREMOTEPORT.
const (
	ProxyRemoteIP   = "PROXYREMOTEIP"
	ProxyRemotePort = "PROXYREMOTEPORT"
)

// Variables read by the TLS programs.
const (
	CertFile      = "CERTFILE"
	KeyFile       = "KEYFILE"
	CAFile        = "CAFILE"
	CADir         = "CADIR"
	TLSUID        = "TLS_UID"
	TLSGID        = "TLS_GID"
	SSLUID        = "SSL_UID" // ucspi-ssl's spelling of TLS_UID
	SSLGID        = "SSL_GID"
	TicketKeyFile = "TLS_TICKETKEYS"
	UCSPITLS      = "UCSPITLS"
	// SSLCertFile and SSLCertDir name the system CA bundle and directory
	// in OpenSSL's and Go's convention; tlsc reads them when CAFILE and
	// CADIR are unset.
	SSLCertFile = "SSL_CERT_FILE"
	SSLCertDir  = "SSL_CERT_DIR"
)

// Variables of the UCSPI-TLS delayed mode.
const (
	SSLCtlFD   = "SSLCTLFD"
	SSLReadFD  = "SSLREADFD"
	SSLWriteFD = "SSLWRITEFD"
	// TLSCVerify is what tlsc -n tells its app about the check of the
	// server's certificate: VerifyEnforce (a certificate that does not
	// verify fails the handshake), VerifyReport (--verify-report: the
	// handshake never fails on it, SSL_PEER_VERIFY says) or VerifyNone
	// (--no-verify-cert). Removed everywhere else.
	TLSCVerify    = "TLSC_VERIFY"
	VerifyEnforce = "enforce"
	VerifyReport  = "report"
	VerifyNone    = "none"
)

// Variables written for the app after a handshake.
const (
	SSLProtocol        = "SSL_PROTOCOL"
	SSLCipher          = "SSL_CIPHER"
	SSLSNIServerName   = "SSL_TLS_SNI_SERVERNAME"
	SSLPeerCertHash    = "SSL_PEER_CERT_HASH"
	SSLPeerCertSubject = "SSL_PEER_CERT_SUBJECT"
	SSLClientSDN       = "SSL_CLIENT_S_DN"
	SSLClientSDNCN     = "SSL_CLIENT_S_DN_CN"
	SSLClientIDN       = "SSL_CLIENT_I_DN"
	SSLClientVerify    = "SSL_CLIENT_VERIFY"
	SSLServerSDN       = "SSL_SERVER_S_DN"
	SSLALPN            = "SSL_ALPN"
	SSLSessionResumed  = "SSL_SESSION_RESUMED"
	SSLVersionIface    = "SSL_VERSION_INTERFACE"
	// SSLPeerVerify is the client side's check of the server:
	// verified (PKIX and name), dane-ee, dane-ta, untrusted:<reason>
	// (only with tlsc --verify-report) or none (--no-verify-cert).
	SSLPeerVerify = "SSL_PEER_VERIFY"
	// SSLPeerSPKIHash is "SHA256:<hex>" of the peer leaf's
	// SubjectPublicKeyInfo DER: what a DANE "3 1 1" record or a pin
	// names, matched from the report without the engine knowing the
	// name (ucspi-starttls's client-certificate DANE, policy pins).
	SSLPeerSPKIHash = "SSL_PEER_SPKI_HASH"
	// SSLClientDANE is ucspi-starttls -D's check of the client
	// certificate against the TLSA records of the EHLO name: verified,
	// failed or none. SSLClientDANEName is the EHLO name checked.
	SSLClientDANE     = "SSL_CLIENT_DANE"
	SSLClientDANEName = "SSL_CLIENT_DANE_NAME"
)

// Variables of outbound STARTTLS and DANE (tlsa-lookup, tlsc,
// ucspi-starttls -c).
const (
	// TLSA holds the server's TLSA records as pkg/dane's text:
	// "3 1 1 <hex>;2 0 1 <hex>". Set only from a DNSSEC-secure answer.
	TLSA = "TLSA"
	// TLSABaseName is the TLSA base name (the MX host): DANE-TA chains
	// are checked against it.
	TLSABaseName = "TLSA_BASENAME"
	// StarttlsPolicy is ucspi-starttls -c's policy when -p is not given:
	// none, may, encrypt, verify, dane, dane-only.
	StarttlsPolicy = "STARTTLS_POLICY"
	// StarttlsDomain is the destination (recipient) domain whose entry
	// ucspi-starttls -c -P looks up when -d is not given.
	StarttlsDomain = "STARTTLS_DOMAIN"
)

// Variables of ucspi-starttls's gradual cleartext degradation (server
// mode, set by the operator or a tcprules rule).
const (
	// StarttlsDegrade is the percentage (0-100) of SMTP sessions whose
	// MAIL before TLS gets a 451; it overrides -g.
	StarttlsDegrade = "STARTTLS_DEGRADE"
	// StarttlsDegradeExempt, set to any value, exempts the client.
	StarttlsDegradeExempt = "STARTTLS_DEGRADE_EXEMPT"
)

// CertFilePrefix and KeyFilePrefix start the per-name SNI pairs
// CERTFILE:name and KEYFILE:name.
const (
	CertFilePrefix = CertFile + ":"
	KeyFilePrefix  = KeyFile + ":"
)

// ReportVars lists every variable a handshake report may set, so that a
// stale value from an earlier hop is removed when it does not apply.
var ReportVars = []string{
	SSLProtocol, SSLCipher, SSLSNIServerName, SSLPeerCertHash,
	SSLPeerCertSubject, SSLClientSDN, SSLClientSDNCN, SSLClientIDN,
	SSLClientVerify, SSLServerSDN, SSLALPN, SSLSessionResumed,
	SSLPeerVerify, SSLPeerSPKIHash,
}

// TCPVars lists the variables tcpserver and tcpclient own; each connection
// sets or removes every one of them.
var TCPVars = []string{
	Proto, TCPLocalIP, TCPLocalPort, TCPLocalHost, TCPRemoteIP,
	TCPRemotePort, TCPRemoteHost, TCPRemoteInfo, TCPConnNum, TCP6RemoteIP,
	TCP6LocalIP, ConnPID,
}

// UIDGIDVars are the variables privdrop -U and the -U options read.
var UIDGIDVars = []string{UID, GID, GIDList}
