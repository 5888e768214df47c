package lineproto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunks hands out its input in pieces of the sizes in sizes (cycled), so
// that lines straddle reads as they do on a socket.
type chunks struct {
	b     []byte
	sizes []byte
	i     int
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := 1 + int(c.sizes[c.i%len(c.sizes)])*64
	c.i++
	n = min(n, len(p), len(c.b))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// FuzzReader: whatever the input and however it is split into reads, the
// pieces Read returns (lines, fragments, text blocks) put back together
// are the input exactly; a complete piece ends in LF; a fragment never
// exceeds its max; the reader holds no more than its buffer; it ends in a
// bounded number of calls. Seeds: the hostile cases of doc/design.md §6 (empty,
// NUL, CR without LF, a 64 KiB line, bytes pipelined after STARTTLS, a
// dot line inside text).
func FuzzReader(f *testing.F) {
	seeds := []string{
		"", "\x00\x00\r\n", "EHLO a\rb\r\n", "no end", "STARTTLS\r\nRSET\r\n",
		"A STARTTLS\r\nXYZAB NOOP\r\n", strings.Repeat("a", 65536) + "\r\nQUIT\r\n",
		"line\r\n.\r\n..x\r\n.\nrest", "\n\n\n", "\xff\xfe\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), []byte{0, 3, 255}, []byte{0, 1, 2, 3})
	}
	f.Fuzz(func(t *testing.T, in, sizes, modes []byte) {
		if len(sizes) == 0 {
			sizes = []byte{255}
		}
		if len(modes) == 0 {
			modes = []byte{0}
		}
		r := NewReader(&chunks{b: in, sizes: sizes}, 0)
		var got bytes.Buffer
		for call := 0; call <= len(in)+2; call++ {
			var max int
			switch m := modes[call%len(modes)]; m % 4 {
			case 0:
				max = 0
			case 1:
				max = Text
			case 2:
				max = TextMid
			default:
				max = 1 + int(m)
			}
			b, complete, err := r.Read(max)
			got.Write(b)
			if complete && (len(b) == 0 || b[len(b)-1] != '\n') {
				t.Fatalf("complete piece %q without LF", b)
			}
			if max > 0 && len(b) > max {
				t.Fatalf("piece of %d bytes for max %d", len(b), max)
			}
			if r.Buffered() > len(r.buf) {
				t.Fatalf("holds %d bytes", r.Buffered())
			}
			if errors.Is(err, io.EOF) {
				if !bytes.Equal(got.Bytes(), in) {
					t.Fatalf("pieces %q, input %q", got.Bytes(), in)
				}
				return
			}
			if err != nil && err != ErrTruncated {
				t.Fatalf("error %v", err)
			}
		}
		t.Fatalf("no EOF after %d calls", len(in)+3)
	})
}
