package t

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Tests of ucspi-starttls -c in cleartext (policy none, or may without
// TLS): prog is never told of STARTTLS, its own STARTTLS is answered
// locally and never reaches the server, and message text is not touched.

// stripProg is an SMTP client prog (fd 6/7) that sends EHLO, STARTTLS
// (whatever the EHLO reply says), then a message whose body holds
// command- and reply-like lines, then QUIT. It prints every line read as
// "<- line" and every command as "-> line".
const stripProg = `#!/bin/bash
echo "env SSL_PROTOCOL=${SSL_PROTOCOL-unset}"
reply() {
	while IFS= read -r -t 10 line <&6; do
		line=${line%$'\r'}
		echo "<- $line"
		case $line in [0-9][0-9][0-9]-*) continue ;; esac
		return 0
	done
	echo "<- EOF"
	exit 1
}
cmd() { printf '%s\r\n' "$1" >&7; echo "-> $1"; reply; }
reply
cmd "EHLO client.test"
cmd "STARTTLS"
cmd "MAIL FROM:<a@example.test>"
cmd "RCPT TO:<b@example.test>"
cmd "DATA"
printf '%s' "$STRIP_BODY" >&7
reply
cmd "QUIT"
echo "result done"
`

// stripBody is the message text: lines a filter that parsed it would
// take for STARTTLS, a STARTTLS offer or the end of a reply.
var stripBody = []string{"Subject: strip", "", "STARTTLS", "250-STARTTLS", "250 STARTTLS", "STLS", "starttls x", ".."}

func stripBodyText() string { return strings.Join(stripBody, "\r\n") + "\r\n.\r\n" }

// stripRun runs tcpclient … tlsc -n … ucspi-starttls -c -v -p policy smtp
// stripProg against port.
func stripRun(t *testing.T, port int, k, policy string) result {
	t.Helper()
	dir := certDir(t)
	prog := filepath.Join(t.TempDir(), "strip.sh")
	if err := os.WriteFile(prog, []byte(stripProg), 0o755); err != nil {
		t.Fatal(err)
	}
	env := baseEnv("CAFILE="+dir+"/ca.crt", "STRIP_BODY="+stripBodyText())
	return run(t, env, "", bin("tcpclient"), "-T", "5", "127.0.0.1", strconv.Itoa(port),
		"tlsc", "-n", "-k", k, "--verify-report", "ucspi-starttls", "-c", "-v", "-t", "5", "-p", policy, "smtp", prog)
}

// ehloReply returns the lines prog read in reply to its EHLO.
func ehloReply(out string) []string {
	var r []string
	in := false
	for _, l := range lines(out) {
		switch {
		case l == "-> EHLO client.test":
			in = true
		case in && strings.HasPrefix(l, "<- "):
			r = append(r, l[3:])
		case in:
			return r
		}
	}
	return r
}

// checkNoSTARTTLS fails unless the EHLO reply prog read is well formed
// ("250-" on every line but the last, "250 " there) and lists no
// STARTTLS.
func checkNoSTARTTLS(t *testing.T, r result) {
	t.Helper()
	rep := ehloReply(r.Stdout)
	if len(rep) < 2 {
		t.Fatalf("EHLO reply %q:\n%s\n%s", rep, r.Stdout, r.Stderr)
	}
	for i, l := range rep {
		sep := "-"
		if i == len(rep)-1 {
			sep = " "
		}
		if len(l) < 4 || l[:4] != "250"+sep {
			t.Fatalf("EHLO reply not well formed at line %d: %q", i, rep)
		}
		if i > 0 && strings.EqualFold(strings.Fields(l[4:] + " x")[0], "STARTTLS") {
			t.Fatalf("prog was offered STARTTLS: %q", rep)
		}
	}
}

// starttlsReply is the reply prog read to its STARTTLS.
func starttlsReply(out string) string {
	ls := lines(out)
	for i, l := range ls {
		if l == "-> STARTTLS" && i+1 < len(ls) {
			return ls[i+1]
		}
	}
	return ""
}

// TestStarttlsClientCleartextStrip: against fake servers that offer
// STARTTLS to prog's EHLO (in the middle or as the last line) under
// policy none, refuse ucspi-starttls's own STARTTLS under may, or offer
// it only to prog's EHLO under may: prog's EHLO reply lists no STARTTLS
// and stays well formed, prog's STARTTLS gets the local 454 (logged at
// -v) and the server never sees it, and the message text arrives byte
// for byte, STARTTLS-like lines included.
func TestStarttlsClientCleartextStrip(t *testing.T) {
	const middle = "250-fake.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
	const last = "250-fake.test\r\n250-8BITMIME\r\n250 STARTTLS\r\n"
	const lower = "250-fake.test\r\n250-8BITMIME\r\n250-starttls\r\n250 SIZE 1000\r\n"
	const none = "250-fake.test\r\n250 8BITMIME\r\n"
	tests := []struct {
		name, policy string
		ehlos        []string
		starttls     string
		reason       string
		want         []string // prog's EHLO reply
	}{
		{"none middle", "none", []string{middle}, "", "policy-none", []string{"250-fake.test", "250 8BITMIME"}},
		{"none last", "none", []string{last}, "", "policy-none", []string{"250-fake.test", "250 8BITMIME"}},
		{"none lower case", "none", []string{lower}, "", "policy-none", []string{"250-fake.test", "250-8BITMIME", "250 SIZE 1000"}},
		{"may refused", "may", []string{last}, "454 4.7.0 not now\r\n", "starttls-refused-454", []string{"250-fake.test", "250 8BITMIME"}},
		{"may not offered", "may", []string{none, middle}, "", "starttls-not-offered", []string{"250-fake.test", "250 8BITMIME"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startFakeEHLOs(t, "220 fake.test ESMTP\r\n", tc.ehlos, tc.starttls)
			r := stripRun(t, f.port, "fake.test", tc.policy)
			got := f.lines(t)
			if r.Code != 0 || !strings.Contains(r.Stdout, "result done") || !strings.Contains(r.Stdout, "SSL_PROTOCOL=unset") ||
				!strings.Contains(r.Stderr, "verify=cleartext result=cleartext reason="+tc.reason) {
				t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			checkNoSTARTTLS(t, r)
			if rep := ehloReply(r.Stdout); strings.Join(rep, "|") != strings.Join(tc.want, "|") {
				t.Errorf("EHLO reply %q, want %q", rep, tc.want)
			}
			if s := starttlsReply(r.Stdout); s != "<- 454 4.7.0 TLS not available" {
				t.Errorf("STARTTLS reply %q:\n%s", s, r.Stdout)
			}
			if !strings.Contains(r.Stderr, "starttls from prog refused in cleartext") {
				t.Errorf("no log line for the refused STARTTLS:\n%s", r.Stderr)
			}
			// What the server saw from prog: its commands without
			// STARTTLS, the message text as sent.
			start := -1
			for i, l := range got {
				if l == "EHLO client.test" {
					start = i
				}
			}
			if start < 0 {
				t.Fatalf("prog's EHLO never reached the server: %q", got)
			}
			want := append(append([]string{"EHLO client.test", "MAIL FROM:<a@example.test>", "RCPT TO:<b@example.test>", "DATA"},
				stripBody...), ".", "QUIT")
			if g := strings.Join(got[start:], "\n"); g != strings.Join(want, "\n") {
				t.Fatalf("server saw:\n%s\nwant:\n%s", g, strings.Join(want, "\n"))
			}
		})
	}
}

// TestStarttlsClientCleartextStripReal: the real chain (tlsd -n
// ucspi-starttls smtp mailfront, STARTTLS offered) as the server. Under
// none prog's EHLO reply has no STARTTLS (the server lists it) and its
// STARTTLS is answered 454 by ucspi-starttls -c, not 220 by the server;
// under may against a server without STARTTLS the same; under may with
// STARTTLS offered TLS is up and prog's EHLO inside TLS lists none either
// (the server's ucspi-starttls refuses a second STARTTLS: 554).
func TestStarttlsClientCleartextStripReal(t *testing.T) {
	dir := certDir(t)
	offer := stcServer(t, dir, "server", true)
	clear := stcServer(t, dir, "server", false)
	tests := []struct {
		name, policy string
		port         int
		tls          bool
		reply        string
	}{
		{"none offered", "none", offer, false, "<- 454 4.7.0 TLS not available"},
		{"may not offered", "may", clear, false, "<- 454 4.7.0 TLS not available"},
		{"may tls", "may", offer, true, "<- 554 5.5.1 Error: TLS already active"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := stripRun(t, tc.port, "localhost", tc.policy)
			if r.Code != 0 || !strings.Contains(r.Stdout, "result done") || !strings.Contains(r.Stdout, "<- 250 ") {
				t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if tc.tls != !strings.Contains(r.Stdout, "SSL_PROTOCOL=unset") {
				t.Fatalf("TLS %v expected:\n%s\n%s", tc.tls, r.Stdout, r.Stderr)
			}
			checkNoSTARTTLS(t, r)
			if s := starttlsReply(r.Stdout); s != tc.reply {
				t.Errorf("STARTTLS reply %q, want %q:\n%s", s, tc.reply, r.Stdout)
			}
			if logged := strings.Contains(r.Stderr, "starttls from prog refused in cleartext"); logged == tc.tls {
				t.Errorf("refusal logged %v:\n%s", logged, r.Stderr)
			}
			// The message went through after the refusal, its text
			// whole: mailfront counts it with LF line ends, the ".."
			// unstuffed.
			// Every line and its LF, less the stuffed dot.
			if n := len(strings.Join(stripBody, "\n")+"\n") - 1; !strings.Contains(r.Stdout, "<- 250 Received "+strconv.Itoa(n)+" bytes.") {
				t.Errorf("message text not received whole (%d bytes):\n%s", n, r.Stdout)
			}
		})
	}
}

// pimStripProg is a POP3 or IMAP client prog: it reads the greeting,
// then for each line "command=pattern" of $CMDS sends the command and
// reads lines up to one matching the (bash) pattern.
const pimStripProg = `#!/bin/bash
echo "env SSL_PROTOCOL=${SSL_PROTOCOL-unset}"
IFS= read -r -t 10 l <&6 && echo "<- ${l%$'\r'}"
while IFS= read -r spec; do
	c=${spec%%=*} end=${spec#*=}
	printf '%s\r\n' "$c" >&7
	echo "-> $c"
	n=0
	while IFS= read -r -t 10 l <&6; do
		l=${l%$'\r'}
		echo "<- $l"
		n=$((n + 1))
		[[ $l == $end || $n -gt 50 ]] && break
	done
done <<< "$CMDS"
echo "result done"
`

// TestStarttlsClientCleartextStripPOP3IMAP: the same for POP3 (STLS in
// CAPA, a server without CAPA) and IMAP (STARTTLS in the greeting's
// [CAPABILITY …] and in * CAPABILITY) against fake servers, under none
// and under may with STLS/STARTTLS refused: prog is told of no
// STLS/STARTTLS, its own gets the local -ERR / tagged NO and never
// reaches the server; a server's -ERR to CAPA reaches prog as it came.
func TestStarttlsClientCleartextStripPOP3IMAP(t *testing.T) {
	const pop3Cmds = "CAPA=[.-]*\nSTLS=*\nUSER alice=*\nQUIT=*"
	const imapCmds = "p1 CAPABILITY=p1 *\np2 STARTTLS=p2 *\np3 LOGOUT=p3 *"
	capa := "+OK list\r\nUSER\r\nSTLS\r\nUIDL\r\n.\r\n"
	imapGreet := "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready\r\n"
	imapCaps := "* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n"
	tests := []struct {
		name, proto, policy, greeting string
		answer                        pimAnswer
		cmds                          string
		reason                        string
		want                          []string // in prog's transcript, in order
		progCmd                       string   // prog's STARTTLS, never at the server
		serverSaw                     []string // what the server got from prog
	}{
		{"pop3 none", "pop3", "none", "+OK fake\r\n", fakePOP3(capa, ""), pop3Cmds, "policy-none",
			[]string{"<- +OK list", "<- USER", "<- UIDL", "<- .", "-> STLS", "<- -ERR TLS not available", "-> USER alice", "<- +OK"},
			"STLS", []string{"CAPA", "USER alice", "QUIT"}},
		{"pop3 may refused", "pop3", "may", "+OK fake\r\n", fakePOP3(capa, "-ERR not now\r\n"), pop3Cmds, "starttls-refused-err",
			[]string{"<- +OK list", "<- USER", "<- UIDL", "<- .", "-> STLS", "<- -ERR TLS not available", "-> USER alice", "<- +OK"},
			"STLS", []string{"CAPA", "USER alice", "QUIT"}},
		{"pop3 no capa", "pop3", "none", "+OK fake\r\n", fakePOP3("", ""), pop3Cmds, "policy-none",
			[]string{"-> CAPA", "<- -ERR unknown command", "-> STLS", "<- -ERR TLS not available"},
			"STLS", []string{"CAPA", "USER alice", "QUIT"}},
		{"imap none", "imap", "none", imapGreet, fakeIMAP(imapCaps, ""), imapCmds, "policy-none",
			[]string{"<- * OK [CAPABILITY IMAP4rev1 LOGINDISABLED] fake ready", "-> p1 CAPABILITY", "<- * CAPABILITY IMAP4rev1 LOGINDISABLED",
				"<- p1 OK done", "-> p2 STARTTLS", "<- p2 NO TLS not available", "-> p3 LOGOUT", "<- * BYE", "<- p3 OK bye"},
			"p2 STARTTLS", []string{"p1 CAPABILITY", "p3 LOGOUT"}},
		{"imap may refused", "imap", "may", imapGreet, fakeIMAP(imapCaps, "b NO not now\r\n"), imapCmds, "starttls-refused-no",
			[]string{"<- * OK [CAPABILITY IMAP4rev1 LOGINDISABLED] fake ready", "-> p1 CAPABILITY", "<- * CAPABILITY IMAP4rev1 LOGINDISABLED",
				"<- p1 OK done", "-> p2 STARTTLS", "<- p2 NO TLS not available", "-> p3 LOGOUT", "<- * BYE", "<- p3 OK bye"},
			"p2 STARTTLS", []string{"p1 CAPABILITY", "p3 LOGOUT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := startPimFake(t, tc.greeting, tc.answer)
			dir := certDir(t)
			prog := filepath.Join(t.TempDir(), "pim.sh")
			if err := os.WriteFile(prog, []byte(pimStripProg), 0o755); err != nil {
				t.Fatal(err)
			}
			env := baseEnv("CAFILE="+dir+"/ca.crt", "CMDS="+tc.cmds)
			r := run(t, env, "", bin("tcpclient"), "-T", "5", "127.0.0.1", strconv.Itoa(f.port),
				"tlsc", "-n", "-k", "localhost", "--verify-report", "ucspi-starttls", "-c", "-v", "-t", "5", "-p", tc.policy, tc.proto, prog)
			got := f.lines(t)
			if r.Code != 0 || !strings.Contains(r.Stdout, "result done") || !strings.Contains(r.Stdout, "SSL_PROTOCOL=unset") ||
				!strings.Contains(r.Stderr, "verify=cleartext result=cleartext reason="+tc.reason) ||
				!strings.Contains(r.Stderr, "starttls from prog refused in cleartext") {
				t.Fatalf("exit %d stdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
			}
			if !strings.Contains(strings.Join(lines(r.Stdout), "\n"), strings.Join(tc.want, "\n")) {
				t.Fatalf("prog's transcript lacks\n%s\nstdout:\n%s", strings.Join(tc.want, "\n"), r.Stdout)
			}
			for _, l := range lines(r.Stdout) {
				if strings.HasPrefix(l, "<- ") && (strings.Contains(strings.ToUpper(l), "STARTTLS") || strings.ToUpper(l) == "<- STLS") {
					t.Fatalf("prog was told of STARTTLS: %q\n%s", l, r.Stdout)
				}
			}
			// The server's lines from prog: after ucspi-starttls's own
			// dialogue (under may: CAPA/CAPABILITY and STLS/STARTTLS).
			start := len(got) - len(tc.serverSaw)
			if start < 0 || strings.Join(got[start:], "\n") != strings.Join(tc.serverSaw, "\n") {
				t.Fatalf("server saw %q, want %q at the end", got, tc.serverSaw)
			}
			for _, l := range got[start:] {
				if l == tc.progCmd {
					t.Fatalf("prog's %q reached the server: %q", tc.progCmd, got)
				}
			}
		})
	}
}
