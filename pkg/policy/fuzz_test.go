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

// Equal reports whether two entries are the same policy.
func (e *Entry) Equal(o *Entry) bool {
	if e.Policy != o.Policy || len(e.MX) != len(o.MX) || len(e.TLSA) != len(o.TLSA) {
		return false
	}
	for i := range e.MX {
		if e.MX[i] != o.MX[i] {
			return false
		}
	}
	for i := range e.TLSA {
		if e.TLSA[i].String() != o.TLSA[i].String() {
			return false
		}
	}
	return true
}
