package t

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// optionToken finds the option at the start of a -h option line:
// "  -c n     meaning" or "  --close-notify  meaning".
var optionToken = regexp.MustCompile(`^\s+(--?[A-Za-z0-9][A-Za-z0-9-]*)`)

// TestDocsMatchUsage checks, for every program, that "prog --help" exits 0 and
// prints "usage: <synopsis>", that doc/<prog>.md shows that synopsis in its
// Synopsis section, and that every option -h lists appears in the doc's
// Options section.
func TestDocsMatchUsage(t *testing.T) {
	cmds, err := filepath.Glob("../cmd/*")
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no commands: %v", err)
	}
	for _, c := range cmds {
		prog := filepath.Base(c)
		t.Run(prog, func(t *testing.T) {
			doc, err := os.ReadFile("../doc/" + prog + ".md")
			if err != nil {
				t.Fatalf("no doc page: %v", err)
			}
			// --help everywhere (-h too where the letter is free:
			// tcpserver's and tcpclient's -h is ucspi-tcp's reverse lookup).
			r := run(t, baseEnv(), "", bin(prog), "--help")
			if r.Code != 0 {
				t.Fatalf("%s --help exited %d; stderr %q", prog, r.Code, r.Stderr)
			}
			ls := lines(r.Stdout)
			if len(ls) == 0 || !strings.HasPrefix(ls[0], "usage: ") {
				t.Fatalf("%s -h does not start with \"usage: \": %q", prog, r.Stdout)
			}
			synopsis := strings.TrimPrefix(ls[0], "usage: ")
			text := string(doc)
			syn := section(text, "Synopsis")
			if !strings.Contains(syn, synopsis) {
				t.Errorf("doc/%s.md Synopsis does not show %q", prog, synopsis)
			}
			opts := section(text, "Options")
			for _, l := range ls[1:] {
				m := optionToken.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				if !regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(m[1]) + `($|[^A-Za-z0-9-])`).MatchString(opts) {
					t.Errorf("doc/%s.md Options does not document %s", prog, m[1])
				}
			}
		})
	}
}

// section returns the text of the "## name" section of a markdown page.
func section(doc, name string) string {
	i := strings.Index(doc, "\n## "+name)
	if i < 0 {
		return ""
	}
	rest := doc[i+4+len(name):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}
