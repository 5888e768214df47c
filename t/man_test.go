package t

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestManPages installs the man pages and the docs as a package build
// would (make install-man install-doc DESTDIR=tmp PREFIX=/usr), then checks
// that every program has a page, that man renders each one at 80 columns
// with no warning (groff's and tbl's, --warnings on) and a NAME line
// whatis can read, and that "man tlsd" finds the installed page.
func TestManPages(t *testing.T) {
	need(t, "make", "man", "lexgrog", "go-md2man")
	dest := t.TempDir()
	cmd := exec.Command("make", "-s", "-C", "..", "install-man", "install-doc", "DESTDIR="+dest, "PREFIX=/usr")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make install-man install-doc: %v\n%s", err, out)
	}
	progs, _ := filepath.Glob("../cmd/*")
	if len(progs) == 0 {
		t.Fatal("no programs")
	}
	mandir := filepath.Join(dest, "usr/share/man")
	for _, c := range progs {
		prog := filepath.Base(c)
		page := filepath.Join(mandir, "man1", prog+".1")
		if _, err := os.Stat(page); err != nil {
			t.Errorf("no man page for %s: %v", prog, err)
			continue
		}
		man := exec.Command("man", "--warnings", "-l", page)
		man.Env = append(os.Environ(), "MANWIDTH=80", "LC_ALL=C.UTF-8", "MANPAGER=cat", "PAGER=cat")
		var so, se bytes.Buffer
		man.Stdout, man.Stderr = &so, &se
		if err := man.Run(); err != nil {
			t.Errorf("man -l %s: %v\n%s", page, err, se.String())
		}
		if se.Len() > 0 {
			t.Errorf("man -l %s warns:\n%s", page, se.String())
		}
		out := so.String()
		if !strings.Contains(out, strings.ToUpper(prog)+"(1)") || !strings.Contains(out, "\nNAME\n") || !strings.Contains(out, "\nSYNOPSIS\n") {
			t.Errorf("%s.1 lacks its title, NAME or SYNOPSIS:\n%.400s", prog, out)
		}
		w, err := exec.Command("lexgrog", page).CombinedOutput()
		if err != nil || !strings.Contains(string(w), ": \""+prog+" - ") {
			t.Errorf("lexgrog %s: %v %s", page, err, w)
		}
	}
	// man tlsd finds the installed page when MANDIR is in its path.
	w := exec.Command("man", "-w", "tlsd")
	w.Env = append(os.Environ(), "MANPATH="+mandir)
	if out, err := w.Output(); err != nil || strings.TrimSpace(string(out)) != filepath.Join(mandir, "man1/tlsd.1") {
		t.Errorf("man -w tlsd = %q, %v", out, err)
	}
	for _, f := range []string{"README.md", "doc/tlsd.md", "doc/ucspi.md", "examples/submission-587/run"} {
		if _, err := os.Stat(filepath.Join(dest, "usr/share/doc/tlschain", f)); err != nil {
			t.Errorf("install-doc: %v", err)
		}
	}
}
