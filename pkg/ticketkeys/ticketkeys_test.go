package ticketkeys

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, n := range []int{0, 1, 31, 33, 9 * 32} {
		if _, err := Parse(make([]byte, n)); err != ErrSize {
			t.Errorf("%d bytes: %v", n, err)
		}
	}
	k, err := Parse(bytes.Repeat([]byte{1}, 64))
	if err != nil || len(k) != 2 {
		t.Fatal(err)
	}
}

func TestNewRotate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "tickets")
	if err := New(p); err != nil {
		t.Fatal(err)
	}
	first, err := Read(p)
	if err != nil || len(first) != 32 {
		t.Fatalf("%d bytes, %v", len(first), err)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", st.Mode())
	}
	for i := 0; i < 5; i++ {
		if err := Rotate(p, 3); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := Read(p)
	if len(b) != 96 || bytes.Contains(b, first) {
		t.Fatalf("after 5 rotations keeping 3: %d bytes, oldest kept %v", len(b), bytes.Contains(b, first))
	}
	prev := b
	Rotate(p, 3)
	b, _ = Read(p)
	if !bytes.Equal(b[32:], prev[:64]) {
		t.Fatal("rotation did not shift the keys by one")
	}
	// A missing file starts with one key.
	q := filepath.Join(dir, "new")
	if err := Rotate(q, 4); err != nil {
		t.Fatal(err)
	}
	if b, _ := Read(q); len(b) != 32 {
		t.Fatalf("%d bytes", len(b))
	}
	if err := Rotate(q, 0); err == nil {
		t.Fatal("n=0 accepted")
	}
	// A damaged file is not rotated over.
	os.WriteFile(q, []byte("short"), 0o600)
	if err := Rotate(q, 2); err == nil || !strings.Contains(err.Error(), "ticket key file must hold") {
		t.Fatalf("damaged file: %v", err)
	}
}

// An unwritable directory leaves the old file whole and says why.
func TestRotateUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions: use a read-only bind? A
		// file in place of the directory fails the same way for root.
		dir := t.TempDir()
		p := filepath.Join(dir, "tickets")
		New(p)
		old, _ := os.ReadFile(p)
		os.Chmod(dir, 0o500)
		defer os.Chmod(dir, 0o700)
		if err := write(filepath.Join(p, "x"), []byte("k")); err == nil {
			t.Fatal("write below a file succeeded")
		}
		if b, _ := os.ReadFile(p); !bytes.Equal(b, old) {
			t.Fatal("old file changed")
		}
		return
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "tickets")
	New(p)
	old, _ := os.ReadFile(p)
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	err := Rotate(p, 2)
	if err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("rotate in a read-only dir: %v", err)
	}
	if b, _ := os.ReadFile(p); !bytes.Equal(b, old) {
		t.Fatal("old file changed")
	}
}
