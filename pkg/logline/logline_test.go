package logline

import (
	"strings"
	"testing"
)

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "-",
		"mail.example.com":       "mail.example.com",
		"evil\r\nINJECT: x":      "evil??INJECT:?x",
		"\x00\xff\x7f":           "???",
		strings.Repeat("a", 101): strings.Repeat("a", 100) + "...",
	} {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"", 40, `""`},
		{"may be", 40, `"may be"`},
		{"a\x00b\r\nc\x7f\xc3\xa9", 40, `"a?b??c???"`},
		{strings.Repeat("x", 41), 40, `"` + strings.Repeat("x", 40) + `..."`},
		{strings.Repeat("x", 60), 60, `"` + strings.Repeat("x", 60) + `"`},
	} {
		if got := Quote(tc.in, tc.max); got != tc.want {
			t.Errorf("Quote(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"a\x00b\tc\x7f", 200, "a?b?c?"},
		{"10.0.0.1:allow,X=\"caf\xc3\xa9 noir\"", 200, "10.0.0.1:allow,X=\"caf\xc3\xa9 noir\""},
		{strings.Repeat("x", 300), 200, strings.Repeat("x", 200) + "..."},
		{"ab\ncd", 3, "ab?..."},
	} {
		if got := Printable(tc.in, tc.max); got != tc.want {
			t.Errorf("Printable(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
