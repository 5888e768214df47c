package main

import (
	"strconv"

	"github.com/tlschain/tlschain/pkg/proxyproto"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// applyHeader rewrites e for header h.
//
// A proxied header replaces TCPREMOTEIP/PORT and TCPLOCALIP/PORT and keeps
// the proxy's address in PROXYREMOTEIP/PORT. TCPREMOTEHOST, TCPREMOTEINFO
// and the TCP6 names described the proxy's connection and go. A header
// with no client addresses (LOCAL, UNKNOWN, AF_UNSPEC, AF_UNIX) keeps the
// real connection's variables. PROXYREMOTE* from an earlier hop never
// survives.
//
// With sslVars, every SSL_* report variable is removed, then set from the
// SSL TLV when it says the client used TLS, so that none is left stale.
// The client-certificate claims (SSL_CLIENT_VERIFY, SSL_CLIENT_S_DN_CN)
// are set only with certClaims too: a verify result of 0 is worth what
// the proxy's own verification is (which CAs, which errors it ignores),
// which proxy-server cannot see, so only the operator can vouch for it.
func applyHeader(e *ucspi.Env, h *proxyproto.Header, sslVars, certClaims bool) {
	e.Unset(ucspi.ProxyRemoteIP, ucspi.ProxyRemotePort)
	if h.Proxied() {
		if ip, ok := e.Get(ucspi.TCPRemoteIP); ok {
			e.Set(ucspi.ProxyRemoteIP, ip)
		}
		if port, ok := e.Get(ucspi.TCPRemotePort); ok {
			e.Set(ucspi.ProxyRemotePort, port)
		}
		// Unmap as tcpserver does: a v4-mapped client is an IPv4 client.
		e.Set(ucspi.TCPRemoteIP, h.Src.Addr().Unmap().String())
		e.Set(ucspi.TCPRemotePort, strconv.Itoa(int(h.Src.Port())))
		e.Set(ucspi.TCPLocalIP, h.Dst.Addr().Unmap().String())
		e.Set(ucspi.TCPLocalPort, strconv.Itoa(int(h.Dst.Port())))
		e.Unset(ucspi.TCPRemoteHost, ucspi.TCPRemoteInfo, ucspi.TCP6RemoteIP, ucspi.TCP6LocalIP)
	}
	if !sslVars {
		return
	}
	e.Unset(ucspi.ReportVars...)
	s := h.SSL
	if s == nil || s.Client&proxyproto.ClientSSL == 0 {
		return
	}
	set := func(name, v string) {
		if v != "" {
			e.Set(name, v)
		}
	}
	set(ucspi.SSLProtocol, s.Version)
	set(ucspi.SSLCipher, s.Cipher)
	set(ucspi.SSLSNIServerName, h.Authority)
	set(ucspi.SSLALPN, h.ALPN)
	if !certClaims {
		return
	}
	set(ucspi.SSLClientSDNCN, s.CN)
	// mod_ssl's values for SSL_CLIENT_VERIFY.
	switch {
	case s.Client&(proxyproto.ClientCertConn|proxyproto.ClientCertSess) == 0:
		e.Set(ucspi.SSLClientVerify, "NONE")
	case s.Verify == 0:
		e.Set(ucspi.SSLClientVerify, "SUCCESS")
	default:
		e.Set(ucspi.SSLClientVerify, "FAILED")
	}
}
