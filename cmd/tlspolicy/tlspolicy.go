package main

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"

	"github.com/tlschain/tlschain/pkg/cdb"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/policy"
	"github.com/tlschain/tlschain/pkg/version"
)

const name = "tlspolicy"

const usage = "tlspolicy [-l domain] policy.cdb"

const help = "usage: " + usage + `

  -l domain  look domain up in policy.cdb and print the key that matched and its entry
  -h         print this help and exit (also --help)
  --version  print the version
`

// run compiles standard input into the table, or looks a domain up.
func run(argv, envp []string) int {
	p := getopt.New(argv[1:], "hl:", "help", "version")
	lookup := ""
	for {
		o, err := p.Next()
		if err == getopt.ErrDone {
			break
		}
		if err != nil {
			return exitcode.ReportUsage(name, usage, err)
		}
		switch o.Name {
		case "h", "help":
			os.Stdout.WriteString(help)
			return exitcode.OK
		case "version":
			os.Stdout.WriteString(version.Line(name))
			return exitcode.OK
		case "l":
			lookup = o.Arg
		}
	}
	args := p.Rest()
	if len(args) != 1 || args[0] == "" {
		return exitcode.ReportUsage(name, usage, errors.New("need policy.cdb"))
	}
	if lookup != "" {
		return find(args[0], lookup)
	}
	if err := Compile(args[0], os.Stdin); err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.OK
}

// find prints "key entry" for domain, or "none" (exit 1) when no key
// matches.
func find(path, domain string) int {
	d, ok := policy.Normalize(domain)
	if !ok {
		return exitcode.ReportUsage(name, usage, errors.New("bad domain "+domain))
	}
	t, err := policy.Open(path)
	if err != nil {
		return exitcode.Report(name, exitcode.Temp("open", path, err))
	}
	defer t.Close()
	e, key, found, err := t.Lookup(d)
	if err != nil {
		return exitcode.Report(name, exitcode.Temp("read", path, err))
	}
	if !found {
		os.Stdout.WriteString("none\n")
		return exitcode.Denied
	}
	os.Stdout.WriteString(key + " " + e.String() + "\n")
	return exitcode.OK
}

// Compile reads the text from in and atomically replaces the table at
// path. Errors are *exitcode.Error: 100 for a line that does not parse
// (named by its number), 111 for input or output failures.
func Compile(path string, in io.Reader) error {
	dir := filepath.Dir(path)
	pf, err := renameio.NewPendingFile(path,
		renameio.WithTempDir(dir),
		renameio.WithPermissions(0o644),
		renameio.WithExistingPermissions())
	if err != nil {
		return exitcode.Temp("create temporary file for", path, err)
	}
	defer pf.Cleanup() // does nothing once the rename is done
	w := cdb.NewWriter(pf)
	if err := policy.Compile(w, in); err != nil {
		var le *policy.LineError
		if errors.As(err, &le) {
			return exitcode.New(exitcode.Usage, "parse", le.Error(), nil)
		}
		return exitcode.Temp("read", "standard input", err)
	}
	if err := w.Close(); err != nil {
		return exitcode.Temp("write", path, err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return exitcode.Temp("replace", path, err)
	}
	// renameio does not fsync the directory: without it the rename may not
	// survive a crash.
	d, err := os.Open(dir)
	if err == nil {
		err = d.Sync()
		d.Close()
	}
	if err != nil {
		return exitcode.Temp("sync directory", dir, err)
	}
	return nil
}
