package t

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestStarttlsReapsEngine: under tlsd -n the engine and the key holder are
// ucspi-starttls's children (tlsd spawned them, then exec'd it). The key
// holder ends right after the handshake; during the TLS session that
// follows it must not linger as a zombie (DESIGN §3.3: reap it).
func TestStarttlsReapsEngine(t *testing.T) {
	s, _ := stServe(t, []string{"UCSPITLS="}, "-n", "ucspi-starttls", "smtp", testdata("smtp.sh"))
	c := stDial(t, s)
	c.reply()
	c.send("STARTTLS\r\n")
	c.line()
	c.startTLS(localhostTLS(t))
	c.send("EHLO client.test\r\n")
	c.reply()
	pid := c.pid()
	zombies := func() []string {
		var z []string
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			b, err := os.ReadFile("/proc/" + d.Name() + "/status")
			if err != nil {
				continue
			}
			st := string(b)
			if strings.Contains(st, "\nPPid:\t"+pid+"\n") && strings.Contains(st, "\nState:\tZ") {
				z = append(z, d.Name())
			}
		}
		return z
	}
	// The session is live (the TLS app waits for the next command); give
	// the key holder time to end and to be reaped.
	if !waitFor(3*time.Second, func() bool { return len(zombies()) == 0 }) {
		t.Errorf("zombie children of ucspi-starttls %s during the session: %v", pid, zombies())
	}
	c.send("QUIT\r\n")
	c.reply()
	if code := c.end(); code != 0 {
		t.Errorf("exit %d; log:\n%s", code, s.Stderr)
	}
}
