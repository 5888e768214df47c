package main

import (
	"errors"

	"github.com/tlschain/tlschain/pkg/lineproto"
	"github.com/tlschain/tlschain/pkg/lineproto/smtp"
)

// Limits of a server's reply in client mode: RFC 5321 §4.5.3.1.5 allows
// 512 octets a line; Postfix accepts 2048. No real EHLO reply comes near
// 100 lines.
const (
	defaultReplyLine = 2048
	maxReplyLines    = 100
)

// Reply-reading errors (client mode). Each becomes a log reason.
var (
	errReplyLong    = errors.New("reply-line-too-long")
	errReplyLines   = errors.New("reply-too-many-lines")
	errReplySyntax  = errors.New("reply-syntax")
	errReplyCode    = errors.New("reply-code-changed")
	errReplyEOF     = errors.New("connection-closed")
	errReplyTimeout = errors.New("timeout")
)

// smtpReply is one whole server reply.
type smtpReply struct {
	code  int
	raw   []byte   // the lines as received, terminators included
	texts []string // the text after "ddd-" / "ddd " of each line
}

// parseReplyLine parses one reply line (terminator included), more
// strictly than a server's app is held to: a code 200–599, then a space,
// a hyphen (more lines follow) or the end of the line (smtp.ParseReply),
// then text without NUL or bare CR (RFC 5321 §4.2).
func parseReplyLine(line []byte) (code int, more bool, text string, err error) {
	t := lineproto.Trim(line)
	code, final, ok := smtp.ParseReply(t)
	if !ok || !lineproto.Clean(t) || code < 200 || code > 599 {
		return 0, false, "", errReplySyntax
	}
	if len(t) > 4 {
		text = string(t[4:])
	}
	return code, !final, text, nil
}

// readReply reads one whole reply: at most maxLines lines of at most
// maxLine bytes each, one code throughout.
func readReply(rd *lineproto.Reader, maxLine, maxLines int) (*smtpReply, error) {
	r := &smtpReply{}
	for n := 0; ; n++ {
		if n == maxLines {
			return nil, errReplyLines
		}
		line, complete, err := rd.Fragment(maxLine)
		if err != nil {
			if err == errReplyTimeout {
				return nil, err
			}
			return nil, errReplyEOF
		}
		if !complete {
			return nil, errReplyLong
		}
		code, more, text, err := parseReplyLine(line)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			r.code = code
		} else if code != r.code {
			return nil, errReplyCode
		}
		r.raw = append(r.raw, line...)
		r.texts = append(r.texts, text)
		if !more {
			return r, nil
		}
	}
}

// offersSTARTTLS says whether an EHLO reply lists the STARTTLS keyword
// (RFC 3207 §4): on a line after the first, as the first word.
func offersSTARTTLS(r *smtpReply) bool {
	if r.code != 250 {
		return false
	}
	for _, t := range r.texts[1:] {
		if lineproto.Keyword(t) == "STARTTLS" {
			return true
		}
	}
	return false
}
