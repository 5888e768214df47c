package ticketkeys

import (
	"bytes"
	"testing"
)

// FuzzParse: Parse accepts exactly 1 to MaxKeys whole keys, and the keys
// it returns, joined, are the file.
func FuzzParse(f *testing.F) {
	for _, n := range []int{0, 1, 31, 32, 33, 64, 96, 256, 257, 288} {
		f.Add(bytes.Repeat([]byte{0xa5}, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := Parse(b)
		whole := len(b) > 0 && len(b)%KeySize == 0 && len(b)/KeySize <= MaxKeys
		if (err == nil) != whole {
			t.Fatalf("%d bytes: err %v", len(b), err)
		}
		var joined []byte
		for _, k := range keys {
			joined = append(joined, k[:]...)
		}
		if err == nil && !bytes.Equal(joined, b) {
			t.Fatal("keys differ from the file")
		}
	})
}
