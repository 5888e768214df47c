package getopt

import (
	"strings"
	"testing"
)

// FuzzNext checks that any command line parses without panicking, that
// parsing always ends, and that the operands are a suffix of the input.
func FuzzNext(f *testing.F) {
	for _, tc := range getoptTests {
		f.Add(strings.Join(tc.args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Split(line, "\x00")
		p := New(args, "1c:C:b:x:vq", "long", "arg=")
		for i := 0; i <= 2*len(line)+2; i++ {
			_, err := p.Next()
			if err != nil {
				rest := p.Rest()
				if len(rest) > len(args) {
					t.Fatalf("rest %q longer than args %q", rest, args)
				}
				return
			}
		}
		t.Fatalf("Next did not end on %q", args)
	})
}
