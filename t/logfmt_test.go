package t

import (
	"crypto/tls"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The log format of doc/ucspi.md, "Log lines", over whole chains: every
// line of every program in the one grammar (logGrammar), every line about
// a connection naming it by conn=, ip= and port=, the same three across
// the programs of one connection, and exactly one tls line for each TLS
// connection, at the default verbosity and with -v.

// logRec is one parsed log line.
type logRec struct {
	line, prog, level, verb string
	kv                      map[string]string
}

var logField = regexp.MustCompile(`([a-z][a-z0-9-]*)=("(?:[^"\\]|\\.)*"|[^ ]+)`)

// parseLog parses the lines of the suite's programs in stderr, failing t
// for a line out of the grammar.
func parseLog(t *testing.T, stderr string) []logRec {
	t.Helper()
	var recs []logRec
	for _, l := range lines(stderr) {
		if !suiteLine.MatchString(l) {
			continue
		}
		if !logGrammar.MatchString(l) {
			t.Errorf("not in the log grammar: %q", l)
			continue
		}
		prog, rest, _ := strings.Cut(l, ": ")
		level, rest, _ := strings.Cut(rest, ": ")
		verb, rest, _ := strings.Cut(rest, " ")
		r := logRec{line: l, prog: prog, level: level, verb: verb, kv: map[string]string{}}
		for _, m := range logField.FindAllStringSubmatch(rest, -1) {
			v := m[2]
			if strings.HasPrefix(v, `"`) {
				var err error
				if v, err = strconv.Unquote(v); err != nil {
					t.Errorf("bad quoting in %q: %v", l, err)
				}
			}
			r.kv[m[1]] = v
		}
		recs = append(recs, r)
	}
	return recs
}

// notAboutConn are the lines of a listener about itself.
var notAboutConn = map[string]bool{"start": true, "stop": true, "hup": true, "listen": true, "check": true}

// checkConns checks the connection lines of recs: conn=, ip= and port=
// on each, one ip and port per conn, and at most one tls line per conn.
// It returns the lines by conn.
func checkConns(t *testing.T, recs []logRec) map[string][]logRec {
	t.Helper()
	by := map[string][]logRec{}
	for _, r := range recs {
		if notAboutConn[r.verb] {
			continue
		}
		id, okC := r.kv["conn"]
		_, okI := r.kv["ip"]
		_, okP := r.kv["port"]
		if !okC || !okI || !okP {
			t.Errorf("a connection line without conn=, ip= and port=: %q", r.line)
			continue
		}
		if id != "-" {
			if first := by[id]; len(first) > 0 && (first[0].kv["ip"] != r.kv["ip"] || first[0].kv["port"] != r.kv["port"]) {
				t.Errorf("conn=%s names two peers:\n%s\n%s", id, first[0].line, r.line)
			}
		}
		by[id] = append(by[id], r)
	}
	for id, rs := range by {
		if n := countVerb(rs, "", "tls"); n > 1 && id != "-" {
			t.Errorf("conn=%s has %d tls lines", id, n)
		}
	}
	return by
}

// countVerb counts the lines of prog ("": any) with verb.
func countVerb(rs []logRec, prog, verb string) int {
	n := 0
	for _, r := range rs {
		if r.verb == verb && (prog == "" || r.prog == prog) {
			n++
		}
	}
	return n
}

// findVerb returns the first line of prog with verb, or fails t.
func findVerb(t *testing.T, rs []logRec, prog, verb string) logRec {
	t.Helper()
	for _, r := range rs {
		if r.prog == prog && r.verb == verb {
			return r
		}
	}
	t.Fatalf("no %s %s line in:\n%s", prog, verb, joinRecs(rs))
	return logRec{}
}

func joinRecs(rs []logRec) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.line + "\n")
	}
	return b.String()
}

// connOf waits for the listener's end line of the connection from local
// port port and returns the lines of that connection.
func connOf(t *testing.T, s *server, listener string, port int) []logRec {
	t.Helper()
	p := strconv.Itoa(port)
	waitLog(t, s, `(?m)^`+listener+`: info: end conn=\S+ ip=127\.0\.0\.1 port=`+p+` `)
	// The listener reaps the app; the engine may end a moment later (under
	// tcpserver it is the app's child): wait for its end line too.
	engineTLS := regexp.MustCompile(`(?m)^tlswrap: info: tls conn=\S+ ip=127\.0\.0\.1 port=` + p + ` `)
	engineEnd := regexp.MustCompile(`(?m)^tlswrap: info: end conn=\S+ ip=127\.0\.0\.1 port=` + p + ` `)
	waitFor(30*time.Second, func() bool {
		l := s.Stderr.String()
		return !engineTLS.MatchString(l) || engineEnd.MatchString(l)
	})
	by := checkConns(t, parseLog(t, s.Stderr.String()))
	for _, rs := range by {
		for _, r := range rs {
			if r.prog == listener && r.verb == "end" && r.kv["port"] == strconv.Itoa(port) {
				return rs
			}
		}
	}
	t.Fatalf("no lines for port %d in:\n%s", port, s.Stderr)
	return nil
}

// tlsOnce checks the one tls line of a TLS connection and the engine's
// end line with its bytes.
func tlsOnce(t *testing.T, rs []logRec) {
	t.Helper()
	if n := countVerb(rs, "", "tls"); n != 1 {
		t.Fatalf("%d tls lines, want 1:\n%s", n, joinRecs(rs))
	}
	tl := findVerb(t, rs, "tlswrap", "tls")
	if tl.kv["version"] != "TLSv1.3" || !strings.HasPrefix(tl.kv["cipher"], "TLS_") || tl.kv["resumed"] != "no" {
		t.Errorf("tls line: %q", tl.line)
	}
	end := findVerb(t, rs, "tlswrap", "end")
	if n, err := strconv.Atoi(end.kv["out"]); err != nil || n == 0 || end.kv["in"] == "" || end.kv["status"] != "0" {
		t.Errorf("engine's end line: %q", end.line)
	}
}

func TestLogFormat(t *testing.T) {
	need(t, "openssl")
	dir := certDir(t)
	app := []string{"sh", "-c", "echo hello; cat"}
	for _, verbose := range []bool{false, true} {
		name, v := "default", []string{}
		if verbose {
			name, v = "verbose", []string{"-v"}
		}
		t.Run(name, func(t *testing.T) {
			t.Run("tcpserver-tlsd", func(t *testing.T) {
				s := serve(t, tlsdEnv(dir), append(append(append([]string{}, v...), "127.0.0.1", "0", "tlsd"), append(v, app...)...)...)
				port := logDial(t, s.Addr, true)
				rs := connOf(t, s, "tcpserver", port)
				tlsOnce(t, rs)
				acc := findVerb(t, rs, "tcpserver", "accept")
				end := findVerb(t, rs, "tcpserver", "end")
				if acc.kv["conn"] == "-" || end.kv["status"] != "0" || end.kv["duration"] == "" {
					t.Errorf("accept/end: %q %q", acc.line, end.line)
				}
			})
			t.Run("tlsserver", func(t *testing.T) {
				s := serveProg(t, tlsdEnv(dir), bin("tlsserver"), append(append([]string{"-1"}, v...), append([]string{"127.0.0.1", "0"}, app...)...)...)
				port := logDial(t, s.Addr, true)
				rs := connOf(t, s, "tlsserver", port)
				tlsOnce(t, rs)
				findVerb(t, rs, "tlsserver", "accept")
			})
			t.Run("starttls", func(t *testing.T) {
				need(t, "/usr/sbin/mailfront")
				s := serve(t, tlsdEnv(dir, "UCSPITLS="), append(append(append([]string{}, v...), "127.0.0.1", "0", "tlsd"),
					append(append(append([]string{}, v...), "-n", "ucspi-starttls"), append(v, "smtp", "/usr/sbin/mailfront", "smtp", "echo", "accept")...)...)...)
				// s_client's exit status says how mailfront closed; the log
				// is what counts here.
				run(t, baseEnv(), "QUIT\n", "openssl", "s_client", "-connect", s.Addr, "-starttls", "smtp", "-quiet")
				rs := logConnAny(t, s, "tcpserver")
				tlsOnce(t, rs)
				st := findVerb(t, rs, "ucspi-starttls", "starttls")
				if st.kv["proto"] != "smtp" || st.kv["result"] != "tls" {
					t.Errorf("starttls line: %q", st.line)
				}
			})
			t.Run("tcpclient-tlsc", func(t *testing.T) {
				s := serve(t, tlsdEnv(dir), "127.0.0.1", "0", "tlsd", "sh", "-c", "echo hello")
				r := run(t, baseEnv("CAFILE="+dir+"/ca.crt"), "", bin("tcpclient"),
					append(append([]string{}, v...), "127.0.0.1", strconv.Itoa(s.Port), "tlsc", "-k", "localhost", "sh", "-c", "cat <&6")...)
				if r.Code != 0 || !strings.Contains(r.Stdout, "hello") {
					t.Fatalf("exit %d %q %s", r.Code, r.Stdout, r.Stderr)
				}
				by := checkConns(t, parseLog(t, r.Stderr))
				if len(by) != 1 {
					t.Fatalf("%d connections in the client's log:\n%s", len(by), r.Stderr)
				}
				for _, rs := range by {
					tlsOnce(t, rs)
					if tl := findVerb(t, rs, "tlswrap", "tls"); tl.kv["port"] != strconv.Itoa(s.Port) || tl.kv["verify"] == "" ||
						tl.kv["peercert"] != certs(t).Server.Hash() {
						t.Errorf("client's tls line: %q", tl.line)
					}
				}
				logConnAny(t, s, "tcpserver")
			})
			t.Run("bad-cert", func(t *testing.T) {
				env := tlsdEnv(dir, "CERTFILE="+dir+"/nonexistent.crt")
				for _, s := range []struct {
					listener string
					s        *server
				}{
					{"tcpserver", serve(t, env, append(append(append([]string{}, v...), "127.0.0.1", "0", "tlsd"), append(v, app...)...)...)},
					{"tlsserver", serveProg(t, env, bin("tlsserver"), append(append([]string{"-1"}, v...), append([]string{"127.0.0.1", "0"}, app...)...)...)},
				} {
					port := logDial(t, s.s.Addr, false)
					rs := connOf(t, s.s, s.listener, port)
					prog := "tlsd"
					if s.listener == "tlsserver" {
						prog = "tlsserver"
					}
					f := findVerb(t, rs, prog, "exit")
					end := findVerb(t, rs, s.listener, "end")
					if f.level != "fatal" || f.kv["status"] != "96" || !strings.Contains(f.kv["err"], "nonexistent.crt") || end.kv["status"] != "96" {
						t.Errorf("%s: fatal and end lines:\n%s", s.listener, joinRecs(rs))
					}
					if countVerb(rs, "", "tls") != 0 {
						t.Errorf("%s: a tls line for a failed connection", s.listener)
					}
				}
			})
			t.Run("dropped-handshake", func(t *testing.T) {
				s := serve(t, tlsdEnv(dir), append(append(append([]string{}, v...), "127.0.0.1", "0", "tlsd"), append(v, app...)...)...)
				c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				port := c.LocalAddr().(*net.TCPAddr).Port
				// The start of a ClientHello record, then nothing.
				c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x80, 0x01, 0x00})
				c.Close()
				rs := connOf(t, s, "tcpserver", port)
				w := findVerb(t, rs, "tlswrap", "handshake")
				end := findVerb(t, rs, "tcpserver", "end")
				if w.level != "warning" || end.kv["status"] != "98" || countVerb(rs, "", "tls") != 0 {
					t.Errorf("lines of a dropped handshake:\n%s", joinRecs(rs))
				}
			})
		})
	}
}

// logDial connects to addr and, with tls, shakes hands and reads to EOF;
// it returns the local port (the chain's TCPREMOTEPORT).
func logDial(t *testing.T, addr string, withTLS bool) int {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	port := raw.LocalAddr().(*net.TCPAddr).Port
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	if !withTLS {
		buf := make([]byte, 1)
		raw.Read(buf) // the server closes
		return port
	}
	c := tls.Client(raw, localhostTLS(t))
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	c.Write([]byte("ping\n"))
	c.CloseWrite()
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	return port
}

// logConnAny waits for one end line of listener and returns the lines of
// its connection.
func logConnAny(t *testing.T, s *server, listener string) []logRec {
	t.Helper()
	m := waitLog(t, s, `(?m)^`+listener+`: info: end conn=\S+ ip=127\.0\.0\.1 port=\d+ `)
	port, _ := strconv.Atoi(regexp.MustCompile(`port=(\d+)`).FindStringSubmatch(m)[1])
	return connOf(t, s, listener, port)
}
