package t

import (
	"bufio"
	"crypto/tls"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tests of ucspi-starttls -g (gradual cleartext degradation): MAIL before
// TLS gets 451 4.7.0 in the chosen share of sessions, never after TLS,
// never for an exempt client. The statistics are checked in-process
// (TestDegradeStatistics in cmd/ucspi-starttls); here the real chain.

// degradeServer runs tlsd -n ucspi-starttls [opts] smtp app.sh with extra
// environment.
func degradeServer(t *testing.T, env []string, opts ...string) *server {
	t.Helper()
	dir := certDir(t)
	app, _ := filepath.Abs(filepath.Join("testdata", "dane-client", "app.sh"))
	args := append([]string{"-c", "20", "127.0.0.1", "0", "tlsd", "-n", "ucspi-starttls"}, opts...)
	args = append(args, "smtp", app)
	env = append([]string{"CERTFILE=" + dir + "/server.crt", "KEYFILE=" + dir + "/server.key", "UCSPITLS="}, env...)
	return serve(t, baseEnv(env...), args...)
}

// mailTwice sends MAIL in clear, then STARTTLS and MAIL inside TLS, and
// returns the two MAIL replies.
func mailTwice(t *testing.T, port int) (clear, inTLS string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	reply := func() string {
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if len(l) < 4 || l[3] != '-' {
				return strings.TrimRight(l, "\r\n")
			}
		}
	}
	cmd := func(s string) string {
		if _, err := c.Write([]byte(s + "\r\n")); err != nil {
			t.Fatal(err)
		}
		return reply()
	}
	reply()
	cmd("EHLO client.test")
	clear = cmd("MAIL FROM:<a@example.test>")
	if r := cmd("STARTTLS"); !strings.HasPrefix(r, "220 ") {
		t.Fatalf("STARTTLS: %q", r)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c, br = tc, bufio.NewReader(tc)
	cmd("EHLO client.test")
	inTLS = cmd("MAIL FROM:<a@example.test>")
	cmd("QUIT")
	return clear, inTLS
}

func TestDegrade(t *testing.T) {
	tests := []struct {
		name     string
		env      []string
		opts     []string
		degraded bool
	}{
		{"100 percent", nil, []string{"-g", "100"}, true},
		{"0 percent", nil, []string{"-g", "0"}, false},
		{"default off", nil, nil, false},
		{"rule sets 100", []string{"STARTTLS_DEGRADE=100"}, []string{"-g", "0"}, true},
		{"rule sets 0", []string{"STARTTLS_DEGRADE=0"}, []string{"-g", "100"}, false},
		{"exempt", []string{"STARTTLS_DEGRADE_EXEMPT=1"}, []string{"-g", "100"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := degradeServer(t, tc.env, tc.opts...)
			for i := 0; i < 3; i++ {
				clear, inTLS := mailTwice(t, s.Port)
				if !strings.HasPrefix(inTLS, "250 ") {
					t.Fatalf("MAIL inside TLS: %q", inTLS)
				}
				if tc.degraded != (clear == "451 4.7.0 Temporary failure: please retry with STARTTLS") || !tc.degraded && !strings.HasPrefix(clear, "250 ") {
					t.Fatalf("MAIL in clear: %q", clear)
				}
			}
			// The line is written before the 451 is sent; only the
			// harness's copy of stderr may lag.
			const line = "info: degrade conn="
			if tc.degraded && !waitFor(hangLimit, func() bool { return strings.Count(s.Stderr.String(), line) == 3 }) ||
				!tc.degraded && strings.Contains(s.Stderr.String(), "info: degrade ") {
				t.Errorf("log:\n%s", s.Stderr.String())
			}
		})
	}
}

// TestDegradeUsage: a share outside 0-100, from -g or the environment,
// is a usage error (100).
func TestDegradeUsage(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"-g", "101", "smtp", "true"}},
		{nil, []string{"-g", "-1", "smtp", "true"}},
		{nil, []string{"-g", "x", "smtp", "true"}},
		{[]string{"STARTTLS_DEGRADE=150"}, []string{"smtp", "true"}},
		{[]string{"STARTTLS_DEGRADE=ten"}, []string{"-g", "10", "smtp", "true"}},
	} {
		r := run(t, baseEnv(tc.env...), "", bin("ucspi-starttls"), tc.args...)
		if r.Code != 100 || !strings.Contains(r.Stderr, usageLine("ucspi-starttls")) {
			t.Errorf("%q %q: exit %d %s", tc.env, tc.args, r.Code, r.Stderr)
		}
	}
}
