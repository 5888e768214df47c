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
