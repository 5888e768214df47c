package main

import (
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/lineproto"
)

// FuzzReadReply: any server bytes give a reply of bounded size with one
// code, or an error; never a panic.
func FuzzReadReply(f *testing.F) {
	for _, tc := range replyTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		rd := lineproto.NewReader(strings.NewReader(in), 0)
		r, err := readReply(rd, defaultReplyLine, maxReplyLines)
		if err != nil {
			return
		}
		if r.code < 200 || r.code > 599 || len(r.texts) == 0 || len(r.texts) > maxReplyLines ||
			len(r.raw) > maxReplyLines*defaultReplyLine || !strings.HasPrefix(in, string(r.raw)) {
			t.Fatalf("%q: %+v", in, r)
		}
		for _, line := range strings.SplitAfter(string(r.raw), "\n") {
			if line != "" && line[:3] != string(r.raw[:3]) {
				t.Fatalf("%q: mixed codes", in)
			}
		}
	})
}

// FuzzClearFilter: for any prog and server bytes, the cleartext filter of
// client mode does not panic, passes on no more than it was given (plus
// its own bounded local replies), never sends prog's STARTTLS/STLS to the
// server outside message text, SASL data and literals, and never lets an
// SMTP EHLO reply list STARTTLS.
func FuzzClearFilter(f *testing.F) {
	f.Add(uint8(0), "EHLO me\r\nSTARTTLS\r\nDATA\r\nSTARTTLS\r\n.\r\n", "250-mx\r\n250 STARTTLS\r\n354 go\r\n250 ok\r\n")
	f.Add(uint8(0), "EHLO me\r\n", "250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
	f.Add(uint8(0), "BDAT 3\r\nabcSTARTTLS\r\n", "250 ok\r\n250 ok\r\n")
	f.Add(uint8(1), "CAPA\r\nSTLS\r\nUSER x\r\n", "+OK\r\nSTLS\r\n.\r\n+OK\r\n")
	f.Add(uint8(1), "CAPA\r\n", "-ERR no\r\n")
	f.Add(uint8(2), "a CAPABILITY\r\nb STARTTLS\r\n", "* CAPABILITY IMAP4rev1 STARTTLS\r\na OK\r\n")
	f.Fuzz(func(t *testing.T, which uint8, prog, srv string) {
		proto := []string{"smtp", "pop3", "imap"}[which%3]
		fl := newClearFilter(proto, clearMaxLine(proto, 0))
		greeting := map[string]string{"smtp": "220 mx\r\n", "pop3": "+OK hi\r\n", "imap": "* OK hi\r\n"}[proto]
		fl.greet([]byte(greeting))
		toProg := string(fl.p.TakeClient())
		if toProg != greeting {
			t.Fatalf("greeting %q", toProg)
		}
		var toSrv strings.Builder
		pr := lineproto.NewReader(strings.NewReader(prog), 0)
		sr := lineproto.NewReader(strings.NewReader(srv), 0)
		progLines, progEOF, srvEOF := 0, false, false
		for n := 0; n < 2*(len(prog)+len(srv))+10 && !(progEOF && srvEOF); n++ {
			if want, max := fl.p.WantClient(); want && !progEOF {
				b, complete, err := pr.Read(max)
				if len(b) > 0 && err != lineproto.ErrTruncated {
					fl.fromProg(b, complete)
					progLines++
				}
				progEOF = err != nil
			} else if !srvEOF {
				b, complete, err := sr.Fragment(0)
				if len(b) > 0 {
					fl.fromServer(b, complete)
				}
				srvEOF = err != nil
			} else {
				break
			}
			toSrv.Write(fl.p.TakeApp())
			toProg += string(fl.p.TakeClient())
		}
		if toSrv.Len() > len(prog) {
			t.Fatalf("%d bytes to the server from %d", toSrv.Len(), len(prog))
		}
		// Local replies are short; rewriting adds at most a code and a CRLF a line.
		if len(toProg) > len(greeting)+2*len(srv)+100*(progLines+1)+64 {
			t.Fatalf("%d bytes to prog from %d", len(toProg), len(srv))
		}
		up := strings.ToUpper(prog)
		free := map[string]bool{
			"smtp": !strings.Contains(up, "DATA") && !strings.Contains(up, "BDAT"),
			"pop3": !strings.Contains(up, "AUTH"),
			"imap": !strings.ContainsAny(prog, "{") && !strings.Contains(srv, "+"),
		}[proto]
		if free {
			for _, l := range strings.SplitAfter(toSrv.String(), "\n") {
				if !strings.HasSuffix(l, "\n") {
					continue
				}
				if fl.isStartTLS([]byte(l)) {
					t.Fatalf("STARTTLS reached the server: %q", toSrv.String())
				}
			}
		}
		if proto == "smtp" && prog == "EHLO me\r\n" {
			// The reply to EHLO: every line up to the first final one.
			rest := strings.TrimPrefix(toProg, greeting)
			for i, l := range strings.SplitAfter(rest, "\n") {
				if !strings.HasSuffix(l, "\n") || len(l) < 4 {
					break
				}
				if i > 0 && l[:3] == "250" && lineproto.Keyword(string(lineproto.Trim([]byte(l[4:])))) == "STARTTLS" {
					t.Fatalf("STARTTLS offered to prog: %q", rest)
				}
				if l[3] != '-' {
					break
				}
			}
		}
	})
}
