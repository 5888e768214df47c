package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/rules"
)

func TestMainUsage(t *testing.T) {
	for _, argv := range [][]string{
		{name},
		{name, "a", "b", "c"},
		{name, "-z", "a"},
		{name, ""},
	} {
		if code := run(argv, nil); code != exitcode.Usage {
			t.Errorf("%q: exit %d, want 100", argv, code)
		}
	}
}

func TestCompile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.cdb")
	if err := Compile(path, strings.NewReader("1.2.3.4:deny\n10.0.0.0/8:allow,X=1")); err != nil {
		t.Fatal(err)
	}
	db, err := rules.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	r, err := db.Lookup(rules.Query{IP: "10.9.8.7"})
	if err != nil || r.Key != "10." || len(r.Env) != 1 || r.Env[0] != "X=1" {
		t.Fatalf("got %+v, %v", r, err)
	}
	old, _ := os.ReadFile(path)
	// A failing reader: 111, old file kept, no temporary file.
	err = Compile(path, iotest.ErrReader(os.ErrDeadlineExceeded))
	if exitcode.Code(err) != exitcode.Temporary {
		t.Fatalf("read error: %v", err)
	}
	// A bad line: 100.
	err = Compile(path, strings.NewReader("ok:allow\nbad\n"))
	if exitcode.Code(err) != exitcode.Usage || err.Error() != "unable to parse line 2: bad" {
		t.Fatalf("bad line: %v", err)
	}
	now, _ := os.ReadFile(path)
	ents, _ := os.ReadDir(dir)
	if !bytes.Equal(now, old) || len(ents) != 1 {
		t.Fatalf("old file changed or temporary left (%d files)", len(ents))
	}
}

func TestLongLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.cdb")
	// 200 KiB: longer than the read buffer, shorter than MaxLine.
	v := strings.Repeat("v", 200<<10)
	if err := Compile(path, strings.NewReader("1.2.3.4:allow,X=\""+v+"\"\n")); err != nil {
		t.Fatal(err)
	}
	db, _ := rules.Open(path)
	r, err := db.Lookup(rules.Query{IP: "1.2.3.4"})
	db.Close()
	if err != nil || len(r.Env) != 1 || r.Env[0] != "X="+v {
		t.Fatalf("got %d vars, %v", len(r.Env), err)
	}
	err = Compile(path, strings.NewReader(strings.Repeat("x", MaxLine+10)))
	if exitcode.Code(err) != exitcode.Usage {
		t.Fatalf("too long: %v", err)
	}
}
