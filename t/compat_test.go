package t

import (
	"context"
	"crypto/tls"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Compatibility and defaults (doc/migrating.md, notqmail): one PEM file
// with key and chain as CERTFILE alone, and close_notify when the app
// closes its output.

// oneFile writes the qmail TLS patch's servercert.pem: the private key and
// the chain (leaf, then the CA) in one file, the key first or last.
func oneFile(t *testing.T, dir string, keyFirst bool) string {
	t.Helper()
	key, leaf, ca := mustReadFile(t, dir+"/server.key"), mustReadFile(t, dir+"/server.crt"), mustReadFile(t, dir+"/ca.crt")
	b := append(append(append([]byte{}, leaf...), ca...), key...)
	if keyFirst {
		b = append(append(append([]byte{}, key...), leaf...), ca...)
	}
	p := t.TempDir() + "/servercert.pem"
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sClientSMTP runs openssl s_client (STARTTLS when starttls) with the
// test CA, EHLO and QUIT on stdin, until the server closes, and checks a
// verified session that ends cleanly: OpenSSL 3 exits 1 with "unexpected
// eof while reading" when the server closes without close_notify.
func sClientSMTP(t *testing.T, s *server, dir string, starttls bool) {
	t.Helper()
	args := []string{"s_client", "-connect", s.Addr, "-CAfile", dir + "/ca.crt", "-verify_return_error", "-verify_hostname", "localhost", "-quiet"}
	if starttls {
		args = append(args, "-starttls", "smtp")
	}
	r := run(t, os.Environ(), "EHLO client.example\r\nQUIT\r\n", "openssl", args...)
	if r.Code != 0 || !strings.Contains(r.Stdout, "\n221 ") || strings.Contains(r.Stderr, "unexpected eof") {
		t.Fatalf("s_client exit %d\nstdout %q\nstderr %q\nlog:\n%s", r.Code, r.Stdout, r.Stderr, s.Stderr)
	}
}

// TestNotqmailOneFile runs notqmail's sslserver -n lines for 587
// (UCSPITLS set to !) and 25 (UCSPITLS empty), translated as doc/migrating.md
// shows them, and tlsserver for 465, each with CERTFILE alone naming one
// PEM file of key and chain, against openssl s_client.
func TestNotqmailOneFile(t *testing.T) {
	need(t, "openssl", "/usr/sbin/mailfront")
	dir := certDir(t)
	app := []string{"/usr/sbin/mailfront", "smtp", "echo", "accept"}
	env := func(ucspitls string, keyFirst bool) []string {
		return baseEnv("UCSPITLS="+ucspitls, "SSL_UID=65534", "SSL_GID=65534", "CERTFILE="+oneFile(t, dir, keyFirst))
	}
	t.Run("587", func(t *testing.T) {
		s := serve(t, env("!", true), append([]string{"-l0", "127.0.0.1", "0", "tlsd", "-n", "ucspi-starttls", "smtp"}, app...)...)
		// Mandatory: no mail before STARTTLS.
		c := stDial(t, s)
		c.line()
		c.send("MAIL FROM:<a@example.org>\r\n")
		if r := c.reply(); !strings.HasPrefix(r[0], "530 ") {
			t.Fatalf("MAIL in clear on 587: %q", r)
		}
		c.end()
		sClientSMTP(t, s, dir, true)
		waitLog(t, s, `ucspi-starttls: info: starttls conn=\d+ ip=127\.0\.0\.1 port=\d+ proto=smtp result=tls`)
	})
	t.Run("25", func(t *testing.T) {
		s := serve(t, env("", false), append([]string{"-l0", "127.0.0.1", "0", "tlsd", "-n", "ucspi-starttls", "smtp"}, app...)...)
		sClientSMTP(t, s, dir, true)
		waitLog(t, s, `ucspi-starttls: info: starttls conn=\d+ ip=127\.0\.0\.1 port=\d+ proto=smtp result=tls`)
	})
	t.Run("465", func(t *testing.T) {
		s := serveProg(t, env("", true), bin("tlsserver"), append([]string{"-1", "-l0", "127.0.0.1", "0"}, app...)...)
		sClientSMTP(t, s, dir, false)
	})
	// The same file without its key: one line and 96, for every
	// connection; tlsserver warns at start.
	t.Run("no key", func(t *testing.T) {
		p := t.TempDir() + "/chain.pem"
		os.WriteFile(p, append(mustReadFile(t, dir+"/server.crt"), mustReadFile(t, dir+"/ca.crt")...), 0o644)
		r := run(t, baseEnv("CERTFILE="+p), "", bin("tlsd"), "--check", "true")
		want := fatalLine("tlsd", 96, "unable to use CERTFILE "+p+": no private key in it and no KEYFILE")
		if r.Code != 96 || r.Stderr != want {
			t.Fatalf("tlsd --check: exit %d, stderr %q; want 96, %q", r.Code, r.Stderr, want)
		}
		s := serveProg(t, baseEnv("CERTFILE="+p), bin("tlsserver"), "-1", "127.0.0.1", "0", "true")
		waitLog(t, s, `tlsserver: warning: check err="with this environment: unable to use CERTFILE \S+: no private key in it and no KEYFILE"`)
	})
}

// TestCloseNotifyOpenSSL: by default tlsd and tlsserver send close_notify
// when the app closes its output, and OpenSSL 3's s_client ends cleanly;
// with -s (half-close only) it reports "unexpected eof while reading".
func TestCloseNotifyOpenSSL(t *testing.T) {
	need(t, "openssl")
	dir := certDir(t)
	for _, tc := range []struct {
		name  string
		start func() *server
		clean bool
	}{
		{"tlsd", func() *server { return tlsdServe(t, tlsdEnv(dir), "echo", "hello") }, true},
		{"tlsd -s", func() *server { return tlsdServe(t, tlsdEnv(dir), "-s", "echo", "hello") }, false},
		{"tlsserver", func() *server {
			return serveProg(t, tlsdEnv(dir), bin("tlsserver"), "-1", "127.0.0.1", "0", "echo", "hello")
		}, true},
		{"tlsserver -s", func() *server {
			return serveProg(t, tlsdEnv(dir), bin("tlsserver"), "-1", "-s", "127.0.0.1", "0", "echo", "hello")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.start()
			r := sClient(t, s.Addr, "-CAfile", dir+"/ca.crt", "-verify_return_error", "-verify_hostname", "localhost", "-quiet")
			unexpected := strings.Contains(r.Stderr, "unexpected eof")
			if !strings.Contains(r.Stdout, "hello\n") || unexpected == tc.clean || (r.Code == 0) != tc.clean {
				t.Fatalf("s_client exit %d, unexpected eof %v (want a clean close: %v)\nstdout %q\nstderr %q", r.Code, unexpected, tc.clean, r.Stdout, r.Stderr)
			}
		})
	}
}

// TestCloseNotifyGnuTLS: gnutls-cli, its stdin held open, reads until the
// server ends the session: by default the server's close_notify ("Peer
// has closed the GnuTLS connection"), with -s a TCP close that gnutls-cli
// calls improperly terminated.
func TestCloseNotifyGnuTLS(t *testing.T) {
	need(t, "gnutls-cli")
	dir := certDir(t)
	for _, tc := range []struct {
		args  []string
		clean bool
	}{{nil, true}, {[]string{"-s"}, false}} {
		t.Run(strings.Join(append([]string{"tlsd"}, tc.args...), " "), func(t *testing.T) {
			s := tlsdServe(t, tlsdEnv(dir), append(tc.args, "echo", "hello")...)
			ctx, cancel := context.WithTimeout(context.Background(), hangLimit)
			defer cancel()
			cmd := exec.CommandContext(ctx, "gnutls-cli", "--port="+strconv.Itoa(s.Port), "--x509cafile="+dir+"/ca.crt",
				"--verify-hostname=localhost", "127.0.0.1")
			stdin, _ := cmd.StdinPipe() // open until gnutls-cli ends: the server must end the session
			defer stdin.Close()
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			o := out.String()
			improper := strings.Contains(o, "non-properly terminated")
			if ctx.Err() != nil || !strings.Contains(o, "hello") || improper == tc.clean || (err == nil) != tc.clean ||
				tc.clean && !strings.Contains(o, "Peer has closed the GnuTLS connection") {
				t.Fatalf("gnutls-cli: %v, improperly terminated %v (want a clean close: %v)\n%s", err, improper, tc.clean, o)
			}
		})
	}
}

// TestHalfCloseStillReads: with -s the app's EOF is a TCP half-close
// only, and the client can still send: the app (which closed its output)
// reads what comes after.
func TestHalfCloseStillReads(t *testing.T) {
	dir := certDir(t)
	got := t.TempDir() + "/got"
	s := tlsdServe(t, tlsdEnv(dir), "-s", "sh", "-c", "echo hello; exec >&-; exec cat >"+got)
	c, err := tls.Dial("tcp", s.Addr, localhostTLS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if out, err := io.ReadAll(c); string(out) != "hello\n" || err != nil {
		t.Fatalf("the app's output: %q, %v", out, err)
	}
	if _, err := c.Write([]byte("after\n")); err != nil {
		t.Fatalf("write after the app's EOF: %v", err)
	}
	c.CloseWrite()
	if !waitFor(hangLimit, func() bool { b, _ := os.ReadFile(got); return string(b) == "after\n" }) {
		b, _ := os.ReadFile(got)
		t.Fatalf("the app got %q, want \"after\\n\"; log:\n%s", b, s.Stderr)
	}
}

// engineEnd waits for the end line of the server's engine and returns
// its exit code: with -J, 98 when the client closed without close_notify.
func engineEnd(t *testing.T, s *server) int {
	t.Helper()
	m := waitLog(t, s, `tlswrap: info: end conn=\S+ ip=\S+ port=\d+ in=\d+ out=\d+ status=\d+`)
	n, _ := strconv.Atoi(regexp.MustCompile(`\d+$`).FindString(m))
	return n
}

// TestCloseNotifyClient: tlsc sends close_notify to the server when its
// app closes fd 7, alone and as tlsc -n under ucspi-starttls -c; with -s
// it half-closes only. The server is the suite's own, with -J -v: its
// engine ends 0 after a close_notify, 98 after a bare FIN.
func TestCloseNotifyClient(t *testing.T) {
	dir := certDir(t)
	env := baseEnv("CAFILE=" + dir + "/ca.crt")
	t.Run("tlsc", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
		}{{nil, 0}, {[]string{"-s"}, 98}} {
			s := tlsdServe(t, tlsdEnv(dir), "-v", "-J", "cat")
			args := append([]string{"127.0.0.1", strconv.Itoa(s.Port), "tlsc", "-k", "localhost"}, tc.args...)
			r := run(t, env, "", bin("tcpclient"), append(args, "sh", "-c", "echo hi >&7; exec 7>&-; cat <&6")...)
			// With -J the server's engine ends at a bare FIN, so cat's
			// answer reaches the client only after a close_notify.
			if r.Code != 0 || tc.code == 0 && r.Stdout != "hi\n" {
				t.Fatalf("tlsc %q: exit %d, stdout %q, stderr %q", tc.args, r.Code, r.Stdout, r.Stderr)
			}
			if code := engineEnd(t, s); code != tc.code {
				t.Fatalf("tlsc %q: the server's engine ended %d, want %d; log:\n%s", tc.args, code, tc.code, s.Stderr)
			}
		}
	})
	t.Run("tlsc -n ucspi-starttls -c", func(t *testing.T) {
		need(t, "/usr/sbin/mailfront")
		for _, tc := range []struct {
			args []string
			code int
		}{{nil, 0}, {[]string{"-s"}, 98}} {
			s := serve(t, tlsdEnv(dir, "UCSPITLS="), "127.0.0.1", "0", "tlsd", "-n", "-v", "-J", "ucspi-starttls", "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")
			args := append([]string{"127.0.0.1", strconv.Itoa(s.Port), "tlsc", "-n", "-k", "localhost", "--verify-report"}, tc.args...)
			args = append(args, "ucspi-starttls", "-c", "-p", "verify", "smtp", "sh", "-c", smtpQuit)
			r := run(t, env, "", bin("tcpclient"), args...)
			if r.Code != 0 || !strings.Contains(r.Stdout, "221") {
				t.Fatalf("tlsc -n %q: exit %d, stdout %q, stderr %q", tc.args, r.Code, r.Stdout, r.Stderr)
			}
			if code := engineEnd(t, s); code != tc.code {
				t.Fatalf("tlsc -n %q: the server's engine ended %d, want %d; log:\n%s", tc.args, code, tc.code, s.Stderr)
			}
		}
	})
}

// smtpQuit is an SMTP client on fd 6/7: it reads the greeting, sends QUIT,
// prints the reply and closes fd 7.
const smtpQuit = `read -r g <&6; printf 'QUIT\r\n' >&7; read -r l <&6; echo "$l"; exec 7>&-; cat <&6 >/dev/null`
