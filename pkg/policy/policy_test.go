package policy

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/cdb"
)

var h32 = strings.Repeat("ab", 32)

var lineTests = []struct {
	name string
	in   string
	key  string // "" = error; "-" = skip
	want string // Entry.String()
}{
	{"exact", "example.com may", "example.com", "may"},
	{"subdomains", ".example.com encrypt", ".example.com", "encrypt"},
	{"default star", "* dane", "*", "dane"},
	{"default dot", ". verify", "*", "verify"},
	{"upper case", "EXAMPLE.com. Verify", "", ""},
	{"upper domain", "EXAMPLE.com. verify", "example.com", "verify"},
	{"mx list", "example.com verify mx=mx1.example.com,.mail.example.net", "example.com", "verify mx=mx1.example.com,.mail.example.net"},
	{"mx repeated", "example.com encrypt mx=a.example.com mx=B.example.com", "example.com", "encrypt mx=a.example.com,b.example.com"},
	{"tlsa", `example.com fingerprint tlsa="3 1 1 ` + h32 + `"`, "example.com", `fingerprint tlsa="3 1 1 ` + h32 + `"`},
	{"tlsa two in one", `example.com fingerprint tlsa="3 1 1 ` + h32 + `;3 0 1 ` + h32 + `"`, "example.com", `fingerprint tlsa="3 1 1 ` + h32 + `" tlsa="3 0 1 ` + h32 + `"`},
	{"pin", "example.com fingerprint pin=sha256:" + strings.ToUpper(h32), "example.com", `fingerprint tlsa="3 1 1 ` + h32 + `"`},
	{"secure", "example.com secure", "example.com", "secure"},
	{"tabs and CR", "\texample.com\tnone\r", "example.com", "none"},
	{"comment", "# example.com none", "-", ""},
	{"indented comment", "   # x", "-", ""},
	{"blank", "   \t", "-", ""},
	{"empty", "", "-", ""},
	{"no policy", "example.com", "", ""},
	{"unknown policy", "example.com must", "", ""},
	{"bad domain", "exa mple.com may", "", ""},
	{"bad domain chars", "ex!ample.com may", "", ""},
	{"empty label", "a..b may", "", ""},
	{"double dot key", "..example.com may", "", ""},
	{"long label", strings.Repeat("a", 64) + ".com may", "", ""},
	{"bad attribute", "example.com may foo=bar", "", ""},
	{"no equals", "example.com may mx", "", ""},
	{"bad mx", "example.com may mx=a..b", "", ""},
	{"empty mx", "example.com may mx=", "", ""},
	{"fingerprint without pins", "example.com fingerprint", "", ""},
	{"pins without fingerprint", "example.com verify pin=sha256:" + h32, "", ""},
	{"bad pin", "example.com fingerprint pin=sha256:abcd", "", ""},
	{"pin wrong hash", "example.com fingerprint pin=sha1:" + h32, "", ""},
	{"tlsa dane-ta", `example.com fingerprint tlsa="2 0 1 ` + h32 + `"`, "", ""},
	{"tlsa sha512", `example.com fingerprint tlsa="3 1 2 ` + strings.Repeat("ab", 64) + `"`, "", ""},
	{"tlsa exact", `example.com fingerprint tlsa="3 1 0 3082"`, "", ""},
	{"unterminated quote", `example.com fingerprint tlsa="3 1 1 ` + h32, "", ""},
	{"NUL", "example.com may\x00", "", ""},
	{"long line", "example.com may mx=" + strings.Repeat("a", MaxLine), "", ""},
}

func TestParseLine(t *testing.T) {
	for _, tc := range lineTests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseLine(tc.in)
			switch tc.key {
			case "-":
				if err != ErrSkip {
					t.Fatalf("got %v, %v; want ErrSkip", l, err)
				}
			case "":
				if err == nil || err == ErrSkip {
					t.Fatalf("got %+v, %v; want an error", l, err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if l.Key != tc.key || l.Entry.String() != tc.want {
					t.Fatalf("got %q %q, want %q %q", l.Key, l.Entry.String(), tc.key, tc.want)
				}
			}
		})
	}
}

func TestKeys(t *testing.T) {
	got := strings.Join(Keys("a.b.example.com"), " ")
	if want := "a.b.example.com .b.example.com .example.com .com *"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestAllowsMX(t *testing.T) {
	e, _ := ParseEntry("verify mx=mx.example.com,.mail.example.net")
	sec, _ := ParseEntry("secure")
	any, _ := ParseEntry("encrypt")
	for _, tc := range []struct {
		e    *Entry
		mx   string
		want bool
	}{
		{e, "mx.example.com", true},
		{e, "mx2.example.com", false},
		{e, "a.mail.example.net", true},
		{e, "a.b.mail.example.net", true},
		{e, "mail.example.net", false},
		{e, "evilmail.example.net", false},
		{sec, "example.com", true},
		{sec, "mx.example.com", true},
		{sec, "mx.example.org", false},
		{sec, "notexample.com", false},
		{any, "anything.example.org", true},
	} {
		if got := tc.e.AllowsMX("example.com", tc.mx); got != tc.want {
			t.Errorf("%s: AllowsMX(%s) = %v", tc.e, tc.mx, got)
		}
	}
}

func TestMatchPins(t *testing.T) {
	spki := strings.Repeat("11", 32)
	cert := strings.Repeat("22", 32)
	e, _ := ParseEntry("fingerprint pin=sha256:" + spki + ` tlsa="3 0 1 ` + cert + `"`)
	for _, tc := range []struct {
		cert, spki string
		want       bool
	}{
		{"SHA256:" + h32, "SHA256:" + spki, true},
		{"SHA256:" + cert, "", true},
		{"SHA256:" + strings.ToUpper(cert), "SHA256:" + h32, true},
		{"SHA256:" + spki, "SHA256:" + cert, false}, // selectors not swapped
		{"", "", false},
	} {
		if got := e.MatchPins(tc.cert, tc.spki); got != tc.want {
			t.Errorf("MatchPins(%s, %s) = %v", tc.cert, tc.spki, got)
		}
	}
}

const sample = `# starttls-everywhere style
example.com      verify  mx=mx1.example.com,mx2.example.com
.example.com     encrypt
example.net      secure
pinned.example   fingerprint pin=sha256:` + "abababababababababababababababababababababababababababababababab" + `
*                may
`

func compileFile(t testing.TB, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.cdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := cdb.NewWriter(f)
	if err := Compile(w, strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return path
}

type nopSeeker struct{ *bytes.Buffer }

func (nopSeeker) Seek(int64, int) (int64, error) { return 0, nil }

func TestLookup(t *testing.T) {
	tab, err := Open(compileFile(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	for _, tc := range []struct{ domain, key, policy string }{
		{"example.com", "example.com", "verify"},
		{"sub.example.com", ".example.com", "encrypt"},
		{"a.b.example.com", ".example.com", "encrypt"},
		{"example.net", "example.net", "secure"},
		{"sub.example.net", "*", "may"},
		{"pinned.example", "pinned.example", "fingerprint"},
		{"other.org", "*", "may"},
	} {
		e, key, ok, err := tab.Lookup(tc.domain)
		if err != nil || !ok || key != tc.key || e.Policy != tc.policy {
			t.Errorf("Lookup(%s) = %v %q %v %v, want %s %s", tc.domain, e, key, ok, err, tc.key, tc.policy)
		}
	}
}

func TestLookupNoDefault(t *testing.T) {
	tab, err := Open(compileFile(t, "example.com none\n"))
	if err != nil {
		t.Fatal(err)
	}
	defer tab.Close()
	if _, _, ok, err := tab.Lookup("example.org"); ok || err != nil {
		t.Fatalf("got ok %v, %v", ok, err)
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int
	}{
		{"example.com may\nexample.org bogus\n", 2},
		{"# c\n\nexample.com may\nEXAMPLE.COM verify\n", 4},
		{"* may\n. none\n", 2},
		{"a.example may\n" + strings.Repeat("x", MaxLine+10) + "\n", 2},
	} {
		var buf bytes.Buffer
		err := Compile(cdb.NewWriter(nopSeeker{&buf}), strings.NewReader(tc.text))
		var le *LineError
		if !errors.As(err, &le) || le.Line != tc.line {
			t.Errorf("%q: got %v, want an error on line %d", tc.text, err, tc.line)
		}
	}
}

func TestOpenNotTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rules.cdb")
	f, _ := os.Create(path)
	w := cdb.NewWriter(f)
	w.Add([]byte("127.0.0.1"), []byte("+"))
	w.Close()
	f.Close()
	if _, err := Open(path); err != ErrNotTable {
		t.Fatalf("got %v, want ErrNotTable", err)
	}
}

// BenchmarkLookup measures one connection's cost: open the table, look a
// four-label domain up (five keys tried, the default found), close.
func BenchmarkLookup(b *testing.B) {
	var text strings.Builder
	for i := 0; i < 10000; i++ {
		text.WriteString("d" + strconv.Itoa(i) + ".example verify mx=.d" + strconv.Itoa(i) + ".example\n")
	}
	text.WriteString("* may\n")
	path := compileFile(b, text.String())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tab, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, ok, err := tab.Lookup("a.b.nowhere.example"); !ok || err != nil {
			b.Fatal(ok, err)
		}
		tab.Close()
	}
}
