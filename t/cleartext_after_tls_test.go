package t

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// No cleartext after TLS, both sides: once a TLS session has begun on a
// connection, its end (close_notify) ends the connection; nothing is
// read or written in clear on it any more.

// TestNoCleartextAfterTLSServer: a client that sends close_notify and
// then cleartext SMTP on the same TCP connection gets no cleartext
// answer, only TLS records or EOF, and the connection ends; a second
// STARTTLS inside TLS is refused with 554.
func TestNoCleartextAfterTLSServer(t *testing.T) {
	s := degradeServer(t, nil)
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	br := bufio.NewReader(c)
	reply := func(r *bufio.Reader) string {
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(l) < 4 || l[3] != '-' {
				return strings.TrimRight(l, "\r\n")
			}
		}
	}
	reply(br)
	c.Write([]byte("EHLO client.test\r\n"))
	reply(br)
	c.Write([]byte("STARTTLS\r\n"))
	if r := reply(br); !strings.HasPrefix(r, "220 ") {
		t.Fatalf("STARTTLS: %q", r)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	tr := bufio.NewReader(tc)
	tc.Write([]byte("EHLO client.test\r\n"))
	reply(tr)
	tc.Write([]byte("STARTTLS\r\n"))
	if r := reply(tr); !strings.HasPrefix(r, "554 ") {
		t.Fatalf("second STARTTLS: %q", r)
	}
	// close_notify, then cleartext on the raw socket.
	if err := tc.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("EHLO cleartext.test\r\nMAIL FROM:<a@b>\r\nSTARTTLS\r\n"))
	raw, err := io.ReadAll(c)
	if err != nil && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the connection did not end: %v after %q", err, raw)
	}
	for _, bad := range []string{"250", "220", "451", "554", "app.test"} {
		if strings.Contains(string(raw), bad) {
			t.Fatalf("cleartext after TLS: %q", raw)
		}
	}
	// Whatever came is TLS records (alert 0x15, application data 0x17).
	for i := 0; i+5 <= len(raw); {
		if raw[i] != 0x15 && raw[i] != 0x17 {
			t.Fatalf("not a TLS record at %d: %q", i, raw)
		}
		i += 5 + int(raw[i+3])<<8 + int(raw[i+4])
	}
}

// TestNoCleartextAfterTLSClient: a server that ends TLS with
// close_notify and then talks in clear on the same connection (a second
// 220, an injected reply) is never heard by prog: it sees EOF.
func TestNoCleartextAfterTLSClient(t *testing.T) {
	dir := certDir(t)
	kp, err := tls.LoadX509KeyPair(dir+"/server.crt", dir+"/server.key")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		br := bufio.NewReader(c)
		c.Write([]byte("220 fake.test ESMTP\r\n"))
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if strings.HasPrefix(strings.ToUpper(l), "STARTTLS") {
				break
			}
			c.Write([]byte("250-fake.test\r\n250 STARTTLS\r\n"))
		}
		c.Write([]byte("220 go ahead\r\n"))
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{kp}})
		if err := tc.Handshake(); err != nil {
			return
		}
		tr := bufio.NewReader(tc)
		tr.ReadString('\n') // prog's EHLO inside TLS
		tc.CloseWrite()     // close_notify
		c.Write([]byte("220 second greeting in clear\r\n250 injected in clear\r\n"))
		io.Copy(io.Discard, c)
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	r := stcSend(t, port, "localhost", "encrypt")
	<-done
	if strings.Contains(r.Stdout, "in clear") || !strings.Contains(r.Stdout, "-> EHLO client.test\n<- EOF") {
		t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}
	if strings.Contains(r.Stdout, "-> MAIL") {
		t.Fatalf("MAIL sent: %s", r.Stdout)
	}
}
