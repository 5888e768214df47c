package policy

import "testing"

func FuzzParse(f *testing.F) {
	for _, tc := range lineTests {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLine(s)
		if err != nil {
			return
		}
		if len(l.Entry.MX) > MaxPatterns || l.Key == "" {
			t.Fatalf("%q: %+v", s, l)
		}
		again, err := ParseEntry(l.Entry.String())
		if err != nil || !again.Equal(&l.Entry) {
			t.Fatalf("%q: round trip of %q gave %v, %v", s, l.Entry.String(), again, err)
		}
		l2, err := ParseLine(l.Key + " " + l.Entry.String())
		if err != nil || l2.Key != l.Key {
			t.Fatalf("%q: key %q did not round-trip: %v", s, l.Key, err)
		}
	})
}
