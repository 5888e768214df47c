package main

import (
	"github.com/tlschain/tlschain/pkg/lineproto"
)

// POP3 client mode (RFC 2595 §4, RFC 2449): read the greeting, ask CAPA,
// send STLS when it is listed (or, under a mandatory policy, even when
// CAPA is missing or does not list it: RFC 1939 servers have no CAPA),
// accept exactly one "+OK" line with nothing after it, then switch.

// maxCapaLines bounds a CAPA or CAPABILITY answer (and the untagged
// lines before a tagged IMAP reply): no real server comes near it.
const maxCapaLines = 100

// pop3Status returns "+OK", "-ERR" or "" for a trimmed POP3 response
// line (RFC 1939 §3: the indicator, then a space or the end).
func pop3Status(line []byte) string {
	for _, st := range []string{"+OK", "-ERR"} {
		if len(line) >= len(st) && lineproto.Upper(string(line[:len(st)])) == st &&
			(len(line) == len(st) || line[len(st)] == ' ') {
			return st
		}
	}
	return ""
}

func (c *client) negotiatePOP3() (outcome, string) {
	c.arm()
	raw, line, err := c.readLine()
	if err != nil {
		return c.deferNow("greeting-" + err.Error())
	}
	c.greeting = append([]byte(nil), raw...)
	switch pop3Status(line) {
	case "+OK":
	case "-ERR":
		c.decline()
		c.quit()
		return goGreeting, "greeting-err"
	default:
		return c.deferNow("greeting-" + errReplySyntax.Error())
	}
	if !c.pol.tls {
		return goCleartext, "policy-none"
	}
	if c.unasked() {
		return c.deferQuit("unexpected-data-after-greeting")
	}
	if err := c.send("CAPA\r\n"); err != nil {
		return c.deferNow("capa-write-failed")
	}
	offered, err := c.pop3Capa()
	if err != nil {
		return c.deferNow("capa-" + err.Error())
	}
	if c.unasked() {
		return c.deferQuit("unexpected-data-after-capa")
	}
	if !offered && !c.pol.mandatory {
		return c.noTLS("starttls-not-offered")
	}
	if err := c.send("STLS\r\n"); err != nil {
		return c.deferNow("starttls-write-failed")
	}
	c.arm()
	_, line, err = c.readLine()
	if err != nil {
		return c.deferNow("starttls-" + err.Error())
	}
	// Response injection (doc/design.md §5.4): "+OK Begin TLS.\r\n+OK\r\n
	// PLAIN\r\n.\r\n" in one write wants its tail read as the CAPA answer
	// after the switch. Exactly one line, nothing after it.
	if c.unasked() {
		return c.deferNow("response-injection")
	}
	switch pop3Status(line) {
	case "+OK":
		return c.switchTLS()
	case "-ERR":
		if !offered {
			return c.noTLS("starttls-not-offered")
		}
		return c.noTLS("starttls-refused-err")
	}
	return c.deferNow("starttls-" + errReplySyntax.Error())
}

// pop3Capa reads the answer to CAPA and says whether it lists STLS. An
// -ERR is no capabilities (RFC 2449 §5: CAPA is optional).
func (c *client) pop3Capa() (bool, error) {
	c.arm()
	_, line, err := c.readLine()
	if err != nil {
		return false, err
	}
	switch pop3Status(line) {
	case "-ERR":
		return false, nil
	case "+OK":
	default:
		return false, errReplySyntax
	}
	stls := false
	for n := 0; n < maxCapaLines; n++ {
		_, line, err := c.readLine()
		if err != nil {
			return false, err
		}
		if len(line) == 1 && line[0] == '.' {
			return stls, nil
		}
		if lineproto.Keyword(string(line)) == "STLS" {
			stls = true
		}
	}
	return false, errReplyLines
}
