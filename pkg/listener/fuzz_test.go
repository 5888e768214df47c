package listener

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzOptions feeds argument vectors (NUL-separated) to parseArgs: it must
// never panic, what it accepts must be in range, and argv() must parse
// back to the same options.
func FuzzOptions(f *testing.F) {
	for _, tc := range optionTests {
		f.Add(strings.Join(splitArgs(tc.args), "\x00"), tc.inherited)
	}
	f.Fuzz(func(t *testing.T, s string, inherited bool) {
		var args []string
		if s != "" {
			args = strings.Split(s, "\x00")
		}
		if len(args) > 64 {
			return
		}
		o, err := parseArgs(args, inherited)
		if err != nil {
			if o != nil {
				t.Fatalf("%q: error %v with options", args, err)
			}
			return
		}
		if o.maxConn < 1 || o.maxConn > maxConnLimit || o.maxPerIP < 0 || o.backlog < 1 ||
			(o.readyFD != -1 && o.readyFD < 3) || len(o.prog) == 0 || o.prog[0] == "" {
			t.Fatalf("%q: out of range: %+v", args, o)
		}
		if !inherited && o.port == "" {
			t.Fatalf("%q: no port", args)
		}
		o2, err := parseArgs(o.argv(), inherited)
		if err != nil || !reflect.DeepEqual(o, o2) {
			t.Fatalf("%q: round trip via %q gave %+v, %v; want %+v", args, o.argv(), o2, err, o)
		}
	})
}
