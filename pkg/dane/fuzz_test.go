package dane

import "testing"

func FuzzParse(f *testing.F) {
	for _, tc := range parseTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := Parse(s)
		if err != nil {
			return
		}
		if len(rs) == 0 || len(rs) > MaxRecords {
			t.Fatalf("%q: %d records", s, len(rs))
		}
		for _, r := range rs {
			if len(r.Data) == 0 || len(r.Data) > MaxData {
				t.Fatalf("%q: data of %d bytes", s, len(r.Data))
			}
		}
		again, err := Parse(Format(rs))
		if err != nil || Format(again) != Format(rs) {
			t.Fatalf("%q: round trip gave %q, %v", s, Format(again), err)
		}
	})
}
