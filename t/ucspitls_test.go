package t

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The UCSPI-TLS cases of doc/ucspi-tls.md that the other delayed-mode
// tests do not cover: lowercase y, an app that dies before or right after
// its command, and a STARTTLS dialogue by a real client against a minimal
// SMTP responder that speaks the protocol itself (bash: the fds are above
// 9, which dash cannot redirect).

// TestUCSPITLSLowercaseY: 'y' starts TLS and nothing is written back on
// SSLCTLFD; it is closed after the handshake.
func TestUCSPITLSLowercaseY(t *testing.T) {
	dir := certDir(t)
	app := `echo plain
printf y >&$SSLCTLFD
n=$(cat <&$SSLCTLFD | wc -c)
echo "ctl bytes $n" >&$SSLWRITEFD
echo "proto ${SSL_PROTOCOL:-unset}" >&$SSLWRITEFD`
	s := tlsdServe(t, tlsdEnv(dir), "-n", "bash", "-c", app)
	raw, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	greet := make([]byte, len("plain\n"))
	if _, err := io.ReadFull(raw, greet); err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(tls.Client(raw, localhostTLS(t)))
	if err != nil {
		t.Fatalf("%v (got %q); stderr %s", err, out, s.Stderr)
	}
	// y reports nothing: the app's environment has no SSL_PROTOCOL.
	if string(out) != "ctl bytes 0\nproto unset\n" {
		t.Errorf("got %q; stderr %s", out, s.Stderr)
	}
}

// TestUCSPITLSAppDies: an app that exits before its command leaves a
// cleartext session that just ends (the engine declines, exit 0); one
// that exits right after 'Y' still lets the handshake finish and the
// client sees a clean end. Either way no key holder is left.
func TestUCSPITLSAppDies(t *testing.T) {
	dir := certDir(t)
	t.Run("before the command", func(t *testing.T) {
		mark := "UCSPITLS_MARK=" + strconv.FormatInt(time.Now().UnixNano(), 10)
		s := tlsdServe(t, tlsdEnv(dir, mark), "-n", "bash", "-c", "echo bye")
		if out := dial(t, s.Addr, nil); string(out) != "bye\n" {
			t.Errorf("got %q", out)
		}
		if code := endCode(t, s); code != 0 {
			t.Errorf("exit %d", code)
		}
		noKeyHolder(t, mark)
		if strings.Contains(s.Stderr.String(), "warning") {
			t.Errorf("a decline by exit logged a warning: %s", s.Stderr)
		}
	})
	t.Run("after the command", func(t *testing.T) {
		mark := "UCSPITLS_MARK=" + strconv.FormatInt(time.Now().UnixNano(), 10)
		s := tlsdServe(t, tlsdEnv(dir, mark), "-n", "bash", "-c", `printf Y >&$SSLCTLFD`)
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.Addr, localhostTLS(t))
		if err != nil {
			t.Fatalf("handshake: %v; stderr %s", err, s.Stderr)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		out, err := io.ReadAll(c)
		c.Close()
		if len(out) != 0 || err != nil {
			t.Errorf("after the app's death: %q %v", out, err)
		}
		noKeyHolder(t, mark)
	})
}

// smtpResponder is a minimal SMTP server written against UCSPI-TLS: it
// offers STARTTLS, answers 220, sends Y, reads the report, and answers the
// client's EHLO inside TLS with the protocol it was told.
const smtpResponder = `echo "220 mini ESMTP"
read -r l
echo "250-mini"
echo "250 STARTTLS"
read -r l
case $l in STARTTLS*) ;; *) echo "502 no"; exit 1;; esac
echo "220 go ahead"
printf Y >&$SSLCTLFD
proto=$(tr '\0' '\n' <&$SSLCTLFD | sed -n 's/^SSL_PROTOCOL=//p')
exec <&$SSLREADFD >&$SSLWRITEFD
read -r l
echo "250 mini $proto"
read -r l
echo "221 bye"`

// TestUCSPITLSOpenSSLStartTLS: openssl s_client -starttls smtp completes
// the dialogue with the minimal responder and verifies the certificate.
// The engine sends close_notify by default: OpenSSL 3 calls a session
// that ends without one an "unexpected eof" and exits 1.
func TestUCSPITLSOpenSSLStartTLS(t *testing.T) {
	need(t, "openssl")
	dir := certDir(t)
	s := tlsdServe(t, tlsdEnv(dir), "-n", "bash", "-c", smtpResponder)
	r := run(t, os.Environ(), "EHLO again\r\nQUIT\r\n", "openssl", "s_client", "-starttls", "smtp",
		"-connect", s.Addr, "-CAfile", dir+"/ca.crt", "-verify_return_error", "-verify_hostname", "localhost", "-quiet")
	if r.Code != 0 || !strings.Contains(r.Stdout, "250 mini TLSv1.3") || !strings.Contains(r.Stdout, "221 bye") {
		t.Errorf("s_client exit %d\nstdout %q\nstderr %q\nserver %s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
}
