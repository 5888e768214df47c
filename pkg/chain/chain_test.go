package chain

import (
	"os"
	"syscall"
	"testing"

	"github.com/tlschain/tlschain/pkg/exitcode"
)

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/noexec", []byte("#!/bin/sh\n"), 0644)
	os.WriteFile(dir+"/prog", []byte("#!/bin/sh\n"), 0755)
	os.Mkdir(dir+"/adir", 0755)
	env := []string{"PATH=/nonexistent:" + dir}
	for _, tc := range []struct {
		prog string
		code int
	}{
		{"prog", 0},
		{"missing", exitcode.NotFound},
		{"noexec", exitcode.NotExecutable},
		{"adir", exitcode.NotExecutable},
		{dir + "/prog", 0},
		{dir + "/missing", exitcode.NotFound},
		{"", exitcode.NotFound},
	} {
		p, err := LookPath(tc.prog, env)
		if exitcode.Code(err) != tc.code {
			t.Errorf("LookPath(%q) = %q, %v (code %d, want %d)", tc.prog, p, err, exitcode.Code(err), tc.code)
		}
	}
	if p, err := LookPath("sh", nil); err != nil || p == "" {
		t.Errorf("default PATH: %q, %v", p, err)
	}
}

func TestSpawn(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	pid, err := Spawn(&Child{Path: "/bin/sh", Argv: []string{"sh", "-c", "echo $X >&1; exit 3"},
		Env: []string{"X=hello"}, Files: []int{-1, int(w.Fd()), 2}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := r.Read(buf)
	var ws syscall.WaitStatus
	syscall.Wait4(pid, &ws, 0, nil)
	if string(buf[:n]) != "hello\n" || ws.ExitStatus() != 3 {
		t.Errorf("child wrote %q, exit %d", buf[:n], ws.ExitStatus())
	}
	if _, err := Spawn(&Child{Path: "/nonexistent", Argv: []string{"x"}}); exitcode.Code(err) != exitcode.NotFound {
		t.Errorf("spawn of a missing file: %v", err)
	}
}
