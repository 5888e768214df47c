package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/google/renameio/v2"

	"github.com/tlschain/tlschain/pkg/cdb"
	"github.com/tlschain/tlschain/pkg/exitcode"
	"github.com/tlschain/tlschain/pkg/getopt"
	"github.com/tlschain/tlschain/pkg/logline"
	"github.com/tlschain/tlschain/pkg/rules"
)

const name = "tcprules"

const usage = "tcprules rules.cdb [rules.tmp]"

const helpText = "usage: " + usage + `

  -h, --help  print this help and exit
  --version   print the version
`

// MaxLine is the longest rules line read; a longer one is a syntax error.
const MaxLine = 1 << 20

// run compiles standard input into argv[1]; it returns the exit code.
func run(argv, envp []string) int {
	args, err := getopt.HelpOnly(argv[1:])
	if code, done := exitcode.CommandLine(name, usage, helpText, err); done {
		return code
	}
	if len(args) < 1 || len(args) > 2 || args[0] == "" {
		return exitcode.ReportUsage(name, usage, errors.New("need rules.cdb (and optionally rules.tmp)"))
	}
	// rules.tmp is accepted for ucspi-tcp's command line and not used:
	// renameio picks a fresh name in rules.cdb's directory.
	if err := Compile(args[0], os.Stdin); err != nil {
		return exitcode.Report(name, err)
	}
	return exitcode.OK
}

// Compile reads rules from in and atomically replaces the cdb at path.
// Errors are *exitcode.Error: 100 for a line that does not parse, 111 for
// input or output failures.
func Compile(path string, in io.Reader) (err error) {
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
	if err := compile(w, in); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return exitcode.Temp("write", path, err)
	}
	if err := pf.CloseAtomicallyReplace(); err != nil {
		return exitcode.Temp("replace", path, err)
	}
	// renameio does not fsync the directory: without it the rename may not
	// survive a crash.
	if err := syncDir(dir); err != nil {
		return exitcode.Temp("sync directory", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// compile adds the records of every rule read from in, in input order.
func compile(w *cdb.Writer, in io.Reader) error {
	br := bufio.NewReaderSize(in, 64<<10)
	var long []byte
	for n := 1; ; n++ {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: gather it, up to MaxLine.
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull && len(long) <= MaxLine {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			if len(long) > MaxLine {
				return exitcode.New(exitcode.Usage, "parse line", strconv.Itoa(n), errors.New("line longer than "+strconv.Itoa(MaxLine)+" bytes"))
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return exitcode.Temp("read", "standard input", err)
		}
		if len(line) > 0 {
			if perr := add(w, n, string(line)); perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

func add(w *cdb.Writer, n int, line string) error {
	if line[len(line)-1] == '\n' {
		line = line[:len(line)-1]
	}
	r, err := rules.ParseRule(line)
	if err == rules.ErrSkip {
		return nil
	}
	if err != nil {
		msg := logline.Printable(line, 200)
		var se *rules.SyntaxError
		if errors.As(err, &se) && se.Addr {
			msg += ": " + se.Reason
		}
		return exitcode.New(exitcode.Usage, "parse line", strconv.Itoa(n), errors.New(msg))
	}
	keys, _ := r.Keys() // ParseRule checked them
	data := r.Data()
	for _, k := range keys {
		if err := w.Add([]byte(k), data); err != nil {
			return exitcode.Temp("write", "rules", err)
		}
	}
	return nil
}
