package main

import (
	"time"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

// What client mode needs per protocol beyond SMTP's client.go: the
// dialogue of the cleartext phase (client_pop3.go, client_imap.go), the
// session-ending command, and the reply that defers prog.

// negotiateProto runs the cleartext phase of the -c protocol.
func (c *client) negotiateProto() (outcome, string) {
	if c.cfg.proto != "smtp" && c.pol.refuse != "" {
		return c.deferNow(c.pol.refuse)
	}
	switch c.cfg.proto {
	case "pop3":
		return c.negotiatePOP3()
	case "imap":
		return c.negotiateIMAP()
	}
	return c.negotiate()
}

// quitCmd ends a session politely: POP3 and SMTP QUIT, IMAP LOGOUT.
func (c *client) quitCmd() string {
	if c.cfg.proto == "imap" {
		return "z LOGOUT\r\n"
	}
	return "QUIT\r\n"
}

// deferReply is what prog gets instead of the server's greeting when
// the policy forbids going on, then EOF: a temporary failure in the
// protocol's words, so that the client retries later and sends nothing
// in clear. SMTP 421 (RFC 5321 §3.8); POP3 -ERR with the SYS/TEMP
// response code (RFC 3206 §4); IMAP BYE with UNAVAILABLE (RFC 5530 §3).
func (c *client) deferReply(reason string) []byte {
	text := "TLS policy " + c.pol.name + ": " + reason + "\r\n"
	switch c.cfg.proto {
	case "pop3":
		return []byte("-ERR [SYS/TEMP] " + text)
	case "imap":
		return []byte("* BYE [UNAVAILABLE] " + text)
	}
	return []byte(replyDefer + text)
}

// arm starts the timeout for the next response (all its lines).
func (c *client) arm() { c.conn.deadline = time.Now().Add(c.cfg.timeout) }

// readLine reads one response line of POP3 or IMAP within the armed
// timeout: the line as received (terminator included; valid until the next read)
// and trimmed. A line over -l bytes, a NUL or bare CR in it, a close or
// the timeout is an error named for the log.
func (c *client) readLine() (raw, line []byte, err error) {
	raw, complete, err := c.rd.Fragment(c.maxLine())
	if err != nil {
		if err == errReplyTimeout {
			return nil, nil, err
		}
		return nil, nil, errReplyEOF
	}
	if !complete {
		return nil, nil, errReplyLong
	}
	line = lineproto.Trim(raw)
	if !lineproto.Clean(line) {
		return nil, nil, errReplySyntax
	}
	return raw, line, nil
}

// unasked says whether the server sent something nobody asked for yet:
// bytes in our buffer or waiting in the kernel. POP3 and IMAP servers
// speak only when spoken to (after the greeting), so these bytes are an
// injection attempt or a broken server; either way they must not be read
// as the answer to the next command.
func (c *client) unasked() bool {
	return c.rd.Buffered() > 0 || pending(c.conn.rfd)
}

// switchTLS is the end of the cleartext phase once the server agreed to
// STARTTLS/STLS: the handshake through the engine, then the policy's
// verdict on the report.
func (c *client) switchTLS() (outcome, string) {
	vars, err := c.handshake()
	if isBadReport(err) {
		// Not a failed handshake but an engine that is not ours any
		// more: prog is not started, not even to be told 421, so that
		// nothing of this connection reaches it (the caller sees 98).
		c.dropConnection()
		return goAbort, err.Error()
	}
	if err != nil {
		// The connection is unusable now, whatever the policy.
		return goDefer, "handshake-failed"
	}
	c.vars = vars
	c.verify = "unknown"
	for _, v := range vars {
		if v.Unset {
			continue
		}
		switch v.Name {
		case ucspi.SSLPeerVerify:
			c.verify = logline.Safe(v.Value)
		case ucspi.SSLSNIServerName:
			if c.host == "-" {
				c.host = logline.Safe(v.Value)
			}
		}
	}
	if !c.pol.accept(c.verify) {
		c.quitTLS()
		return goDefer, "verification-" + c.verify
	}
	return goTLS, ""
}
