package main

import (
	"strings"

	"github.com/tlschain/tlschain/pkg/lineproto"
)

// IMAP client mode (RFC 3501 §6.2.1, RFC 9051): read the greeting, send
// "a CAPABILITY", send "b STARTTLS" when STARTTLS is listed, accept
// exactly the tagged OK with nothing after it, then switch. A PREAUTH
// greeting means the connection is authenticated already and STARTTLS is
// impossible: under a policy that needs TLS that is a refusal.

// imapGreeting returns the status of an untagged greeting line: "OK",
// "PREAUTH", "BYE", or "" when the line is none of these.
func imapGreeting(line []byte) string {
	w := strings.Fields(string(line))
	if len(w) < 2 || w[0] != "*" {
		return ""
	}
	switch st := lineproto.Upper(w[1]); st {
	case "OK", "PREAUTH", "BYE":
		return st
	}
	return ""
}

// imapTagged splits a response line into its tag and status (upper
// case); untagged ("*") and continuation ("+") lines give tag "*"/"+".
func imapTagged(line []byte) (tag, status string) {
	w := strings.Fields(string(line))
	if len(w) == 0 {
		return "", ""
	}
	if len(w) == 1 {
		return w[0], ""
	}
	return w[0], lineproto.Upper(w[1])
}

func (c *client) negotiateIMAP() (outcome, string) {
	c.arm()
	raw, line, err := c.readLine()
	if err != nil {
		return c.deferNow("greeting-" + err.Error())
	}
	c.greeting = append([]byte(nil), raw...)
	kind := imapGreeting(line)
	switch kind {
	case "OK", "PREAUTH":
	case "BYE":
		c.decline()
		return goGreeting, "greeting-bye"
	default:
		return c.deferNow("greeting-" + errReplySyntax.Error())
	}
	if !c.pol.tls {
		return goCleartext, "policy-none"
	}
	if c.unasked() {
		return c.deferQuit("unexpected-data-after-greeting")
	}
	if kind == "PREAUTH" {
		// Already authenticated in clear: STARTTLS is not allowed in
		// this state (RFC 3501 §6.2.1), so TLS cannot happen. A client
		// that needs it must close (doc/design.md §5.4, PREAUTH vector).
		return c.noTLS("preauth-greeting")
	}
	if err := c.send("a CAPABILITY\r\n"); err != nil {
		return c.deferNow("capability-write-failed")
	}
	offered, err := c.imapCapability()
	if err != nil {
		return c.deferNow("capability-" + err.Error())
	}
	if c.unasked() {
		return c.deferQuit("unexpected-data-after-capability")
	}
	if !offered {
		return c.noTLS("starttls-not-offered")
	}
	if err := c.send("b STARTTLS\r\n"); err != nil {
		return c.deferNow("starttls-write-failed")
	}
	c.arm()
	tag, status := "", ""
	for n := 0; ; n++ {
		if n == maxCapaLines {
			return c.deferNow("starttls-" + errReplyLines.Error())
		}
		_, line, err = c.readLine()
		if err != nil {
			return c.deferNow("starttls-" + err.Error())
		}
		// Untagged responses may come at any time (RFC 3501 §7); those
		// before the tagged reply are dropped, so nothing the server
		// said in clear (an EXISTS, an ALERT) survives the switch.
		if tag, status = imapTagged(line); tag != "*" {
			break
		}
	}
	// Response injection (doc/design.md §5.4): "b OK begin\r\n* CAPABILITY
	// IMAP4REV1 AUTH=PLAIN\r\n" in one write wants its tail read after
	// the switch. Exactly the tagged line, nothing after it.
	if c.unasked() {
		return c.deferNow("response-injection")
	}
	if tag != "b" {
		return c.deferNow("starttls-" + errReplySyntax.Error())
	}
	switch status {
	case "OK":
		return c.switchTLS()
	case "NO", "BAD":
		return c.noTLS("starttls-refused-" + strings.ToLower(status))
	}
	return c.deferNow("starttls-" + errReplySyntax.Error())
}

// imapCapability reads the answer to "a CAPABILITY" and says whether an
// untagged CAPABILITY line lists STARTTLS. A tagged NO or BAD is no
// capabilities.
func (c *client) imapCapability() (bool, error) {
	c.arm()
	starttls := false
	for n := 0; n < maxCapaLines; n++ {
		_, line, err := c.readLine()
		if err != nil {
			return false, err
		}
		tag, status := imapTagged(line)
		switch {
		case tag == "*":
			if status == "CAPABILITY" {
				for _, w := range strings.Fields(string(line))[2:] {
					if lineproto.Upper(w) == "STARTTLS" {
						starttls = true
					}
				}
			}
		case tag == "a" && status == "OK":
			return starttls, nil
		case tag == "a" && (status == "NO" || status == "BAD"):
			return false, nil
		default:
			return false, errReplySyntax
		}
	}
	return false, errReplyLines
}
