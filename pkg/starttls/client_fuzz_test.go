package starttls

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
