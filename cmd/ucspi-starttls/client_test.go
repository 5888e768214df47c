package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/ucspi"
)

var replyTests = []struct {
	name  string
	in    string
	code  int   // 0 = error
	err   error // when code is 0
	tls   bool  // offersSTARTTLS
	lines int
}{
	{"greeting", "220 mx.example ESMTP\r\n", 220, nil, false, 1},
	{"multi-line greeting", "220-mx.example\r\n220-more\r\n220 ESMTP\r\n", 220, nil, false, 3},
	{"bare LF", "220 ok\n", 220, nil, false, 1},
	{"code only", "220\r\n", 220, nil, false, 1},
	{"ehlo with starttls", "250-mx.example\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n", 250, nil, true, 4},
	{"starttls last", "250-mx.example\r\n250 starttls\r\n", 250, nil, true, 2},
	{"starttls on the first line is the domain", "250 STARTTLS\r\n", 250, nil, false, 1},
	{"starttls as a word inside a line", "250-mx.example\r\n250 X-NOT STARTTLS\r\n", 250, nil, false, 2},
	{"refusal", "454 4.7.0 TLS not available\r\n", 454, nil, false, 1},
	{"code changes", "250-a\r\n251 b\r\n", 0, errReplyCode, false, 0},
	{"bad separator", "250+a\r\n", 0, errReplySyntax, false, 0},
	{"letters", "2x0 a\r\n", 0, errReplySyntax, false, 0},
	{"code out of range", "199 a\r\n", 0, errReplySyntax, false, 0},
	{"NUL", "220 a\x00b\r\n", 0, errReplySyntax, false, 0},
	{"bare CR inside", "220 a\rb\r\n", 0, errReplySyntax, false, 0},
	{"empty line", "\r\n", 0, errReplySyntax, false, 0},
	{"eof mid reply", "250-a\r\n", 0, errReplyEOF, false, 0},
	{"eof mid line", "220 a", 0, errReplyEOF, false, 0},
	{"nothing", "", 0, errReplyEOF, false, 0},
	{"long line", "220 " + strings.Repeat("x", 3000) + "\r\n", 0, errReplyLong, false, 0},
	{"endless", strings.Repeat("250-x\r\n", 200), 0, errReplyLines, false, 0},
}

func TestReadReply(t *testing.T) {
	for _, tc := range replyTests {
		t.Run(tc.name, func(t *testing.T) {
			rd := lineproto.NewReader(strings.NewReader(tc.in), 0)
			r, err := readReply(rd, defaultReplyLine, maxReplyLines)
			if tc.code == 0 {
				if err != tc.err {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || r.code != tc.code || len(r.texts) != tc.lines || offersSTARTTLS(r) != tc.tls {
				t.Fatalf("got %+v, %v", r, err)
			}
			if !bytes.Equal(r.raw, []byte(tc.in)) {
				t.Errorf("raw %q", r.raw)
			}
		})
	}
}

// The injection vector of doc/design.md §5.4: the reader returns one reply
// and says the rest is buffered, which the client refuses.
func TestReadReplyLeavesInjection(t *testing.T) {
	rd := lineproto.NewReader(strings.NewReader("220 go ahead\r\n250 injected\r\n"), 0)
	r, err := readReply(rd, defaultReplyLine, maxReplyLines)
	if err != nil || r.code != 220 || len(r.texts) != 1 || rd.Buffered() == 0 {
		t.Fatalf("reply %+v err %v buffered %d", r, err, rd.Buffered())
	}
}

func TestResolvePolicy(t *testing.T) {
	ee := "3 1 1 " + strings.Repeat("ab", 32)
	tests := []struct {
		name, tlsa        string
		have              bool
		tls, mandatory    bool
		refuse            string
		accept, notAccept string
	}{
		{"none", "", false, false, false, "", "", ""},
		{"may", "", false, true, false, "", "untrusted:x", ""},
		{"encrypt", "", false, true, true, "", "untrusted:x", ""},
		{"verify", "", false, true, true, "", "verified", "dane-ee"},
		{"dane", ee, true, true, true, "", "dane-ee", "verified"},
		{"dane", "", false, true, false, "", "untrusted:x", ""},
		{"dane", "1 1 1 " + strings.Repeat("ab", 32), true, true, true, "", "untrusted:x", ""},
		{"dane", "garbage", true, true, true, "", "untrusted:x", ""},
		{"dane-only", "", false, true, true, "no-usable-tlsa", "", ""},
		{"dane-only", ee, true, true, true, "", "dane-ta", "untrusted:dane-mismatch"},
		{"secure", "", false, true, true, "", "verified", "untrusted:x"},
		{"fingerprint", "", false, true, true, "no-pins", "", "verified"},
	}
	for _, tc := range tests {
		p, err := resolvePolicy(tc.name, tc.tlsa, tc.have)
		if err != nil {
			t.Fatal(err)
		}
		if p.tls != tc.tls || p.mandatory != tc.mandatory || p.refuse != tc.refuse ||
			tc.accept != "" && !p.accept(tc.accept) || tc.notAccept != "" && p.accept(tc.notAccept) {
			t.Errorf("%s %q: %+v", tc.name, tc.tlsa, p)
		}
	}
	if _, err := resolvePolicy("must", "", false); err == nil {
		t.Error("unknown policy accepted")
	}
}

func TestClientUsage(t *testing.T) {
	for _, args := range [][]string{
		{"-c", "-p", "bogus", "smtp", "true"},
		{"-c", "pop3", "true"},
	} {
		if code := run(append([]string{name}, args...), nil); code != 100 {
			t.Errorf("%q: exit %d", args, code)
		}
	}
	// A policy that needs TLS without tlsc -n's fds is fatal (100).
	if code := run([]string{name, "-c", "-p", "encrypt", "smtp", "true"}, nil); code != 100 {
		t.Errorf("no SSLCTLFD: exit %d", code)
	}
}

// TestNeedReport: the policies that take a server whose certificate does
// not verify refuse a tlsc -n that fails the handshake on it (TLSC_VERIFY
// enforce, unset or anything else); verify, secure, dane-only and none do
// not ask.
func TestNeedReport(t *testing.T) {
	for _, name := range []string{"none", "may", "encrypt", "verify", "secure", "dane", "dane-only", "fingerprint"} {
		p, err := resolvePolicy(name, "", false)
		if err != nil {
			t.Fatal(err)
		}
		needs := name == "may" || name == "encrypt" || name == "dane" || name == "fingerprint"
		for _, env := range [][]string{nil, {"TLSC_VERIFY=enforce"}, {"TLSC_VERIFY=REPORT"}, {"TLSC_VERIFY=report"}, {"TLSC_VERIFY=none"}} {
			ok := !needs || len(env) == 1 && (env[0] == "TLSC_VERIFY=report" || env[0] == "TLSC_VERIFY=none")
			err := p.needReport(ucspi.NewEnv(env))
			if (err == nil) != ok || err != nil && (exitcode.Code(err) != 100 || !strings.Contains(err.Error(), "policy "+name+" needs tlsc -n --verify-report")) {
				t.Errorf("%s %q: %v", name, env, err)
			}
		}
	}
}
