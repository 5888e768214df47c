package dane

import (
	"strings"
	"testing"
)

var h32 = strings.Repeat("ab", 32)
var h64 = strings.Repeat("cd", 64)

var parseTests = []struct {
	name   string
	in     string
	n      int // records; -1 = error
	usable int
}{
	{"dane-ee spki sha256", "3 1 1 " + h32, 1, 1},
	{"two records", "3 1 1 " + h32 + ";2 0 2 " + h64, 2, 2},
	{"split hex", "3 1 1 " + h32[:10] + " " + h32[10:], 1, 1},
	{"trailing separator", "3 1 1 " + h32 + ";", 1, 1},
	{"pkix usages unusable", "0 0 1 " + h32 + ";1 1 1 " + h32, 2, 0},
	{"unknown selector", "3 2 1 " + h32, 1, 0},
	{"unknown matching", "3 1 9 " + h32, 1, 0},
	{"short digest", "3 1 1 abcd", 1, 0},
	{"exact match", "3 0 0 3082", 1, 1},
	{"upper hex", "3 1 1 " + strings.ToUpper(h32), 1, 1},
	{"empty", "", -1, 0},
	{"only separators", " ; ;", -1, 0},
	{"missing data", "3 1 1", -1, 0},
	{"bad hex", "3 1 1 zz", -1, 0},
	{"odd hex", "3 1 1 abc", -1, 0},
	{"field too big", "300 1 1 " + h32, -1, 0},
	{"negative", "-1 1 1 " + h32, -1, 0},
	{"NUL", "3 1 1 ab\x00cd", -1, 0},
	{"too long", "3 0 0 " + strings.Repeat("00", MaxData+1), -1, 0},
	{"too many", strings.Repeat("3 1 1 "+h32+";", MaxRecords+1), -1, 0},
}

func TestParse(t *testing.T) {
	for _, tc := range parseTests {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := Parse(tc.in)
			if tc.n < 0 {
				if err == nil {
					t.Fatalf("%q: want an error, got %v", tc.in, rs)
				}
				return
			}
			if err != nil || len(rs) != tc.n {
				t.Fatalf("%q: got %d records, %v", tc.in, len(rs), err)
			}
			if u := len(Usable(rs)); u != tc.usable {
				t.Errorf("%q: %d usable, want %d", tc.in, u, tc.usable)
			}
			again, err := Parse(Format(rs))
			if err != nil || Format(again) != Format(rs) {
				t.Errorf("round trip: %q -> %q, %v", Format(rs), Format(again), err)
			}
		})
	}
}
