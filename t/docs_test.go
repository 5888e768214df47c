package t

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tlschain/tlschain/pkg/tlsspawn"
)

// optionToken finds the option at the start of a -h option line:
// "  -c n     meaning" or "  --close-notify  meaning".
var optionToken = regexp.MustCompile(`^\s+(--?[A-Za-z0-9][A-Za-z0-9-]*)`)

// TestDocsMatchUsage checks, for every program, that "prog --help" exits 0 and
// prints "usage: <synopsis>", that doc/<prog>.md shows that synopsis in its
// Synopsis section, that every option -h lists appears in the doc's
// Options section, that every long option the parser accepts (read from
// the program's source) appears in both, and that --version prints
// "prog version".
func TestDocsMatchUsage(t *testing.T) {
	cmds, err := filepath.Glob("../cmd/*")
	if err != nil || len(cmds) == 0 {
		t.Fatalf("no commands: %v", err)
	}
	for _, c := range cmds {
		prog := filepath.Base(c)
		t.Run(prog, func(t *testing.T) {
			doc, err := os.ReadFile("../doc/" + prog + ".md")
			if err != nil {
				t.Fatalf("no doc page: %v", err)
			}
			// --help everywhere (-h too where the letter is free:
			// tcpserver's and tcpclient's -h is ucspi-tcp's reverse lookup).
			r := run(t, baseEnv(), "", bin(prog), "--help")
			if r.Code != 0 {
				t.Fatalf("%s --help exited %d; stderr %q", prog, r.Code, r.Stderr)
			}
			ls := lines(r.Stdout)
			if len(ls) == 0 || !strings.HasPrefix(ls[0], "usage: ") {
				t.Fatalf("%s -h does not start with \"usage: \": %q", prog, r.Stdout)
			}
			synopsis := strings.TrimPrefix(ls[0], "usage: ")
			text := string(doc)
			syn := section(text, "Synopsis")
			if !strings.Contains(syn, synopsis) {
				t.Errorf("doc/%s.md Synopsis does not show %q", prog, synopsis)
			}
			opts := section(text, "Options")
			for _, l := range ls[1:] {
				m := optionToken.FindStringSubmatch(l)
				if m == nil {
					continue
				}
				if !hasToken(opts, m[1]) {
					t.Errorf("doc/%s.md Options does not document %s", prog, m[1])
				}
			}
			long := longOptions(t, prog)
			for _, l := range long {
				if !hasToken(r.Stdout, "--"+l) {
					t.Errorf("%s --help does not list --%s", prog, l)
				}
				if !hasToken(opts, "--"+l) {
					t.Errorf("doc/%s.md Options does not document --%s", prog, l)
				}
			}
			for _, l := range regexp.MustCompile(`(?:^|[^A-Za-z0-9-])--([a-z0-9][a-z0-9-]*)`).FindAllStringSubmatch(r.Stdout, -1) {
				if sort.SearchStrings(long, l[1]) == len(long) || long[sort.SearchStrings(long, l[1])] != l[1] {
					t.Errorf("%s --help lists --%s, which the parser does not accept", prog, l[1])
				}
			}
			v := run(t, baseEnv(), "", bin(prog), "--version")
			if v.Code != 0 || !regexp.MustCompile(`^`+regexp.QuoteMeta(prog)+` [0-9A-Za-z.+~-]+\n$`).MatchString(v.Stdout) {
				t.Errorf("%s --version: exit %d, stdout %q, not \"%s version\"", prog, v.Code, v.Stdout, prog)
			}
		})
	}
}

// section returns the text of the "## name" section of a markdown page.
func section(doc, name string) string {
	i := strings.Index(doc, "\n## "+name)
	if i < 0 {
		return ""
	}
	rest := doc[i+4+len(name):]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// hasToken says whether opt (an option such as -c or --close-notify)
// appears in text as a whole word.
func hasToken(text, opt string) bool {
	return regexp.MustCompile(`(^|[^A-Za-z0-9-])` + regexp.QuoteMeta(opt) + `($|[^A-Za-z0-9-])`).MatchString(text)
}

// internalLong are long options that are not for users: tlsd and tlsc
// start themselves as the key holder of a delayed-mode session.
var internalLong = map[string]bool{"key-holder": true}

// longOptions returns, sorted, the long options prog's parser accepts,
// read from the source of cmd/<prog>: the long names
// given to getopt.New and to getopt.HelpOnly (help, version), the literal lists
// assigned to a variable named long or *Long, and tlsspawn.CommonLong
// where the package parses with tlsspawn's Config.Parse.
func longOptions(t *testing.T, prog string) []string {
	t.Helper()
	fset := token.NewFileSet()
	dir := "../cmd/" + prog
	files, _ := filepath.Glob(dir + "/*.go")
	set := map[string]bool{}
	add := func(e ast.Expr) {
		if l, ok := e.(*ast.BasicLit); ok && l.Kind == token.STRING {
			v, _ := strconv.Unquote(l.Value)
			set[strings.TrimSuffix(v, "=")] = true
		}
	}
	isLongName := func(e ast.Expr) bool {
		id, ok := e.(*ast.Ident)
		return ok && (id.Name == "long" || strings.HasSuffix(id.Name, "Long"))
	}
	addList := func(e ast.Expr) {
		if c, ok := e.(*ast.CompositeLit); ok {
			for _, x := range c.Elts {
				add(x)
			}
		}
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				sel, ok := n.Fun.(*ast.SelectorExpr)
				if !ok {
					break
				}
				pkg, _ := sel.X.(*ast.Ident)
				switch {
				case pkg != nil && pkg.Name == "getopt" && sel.Sel.Name == "New":
					for _, a := range n.Args[2:] {
						add(a)
					}
				case pkg != nil && pkg.Name == "getopt" && sel.Sel.Name == "HelpOnly":
					set["help"], set["version"] = true, true
				case sel.Sel.Name == "Parse" && len(n.Args) == 4 && isLongName(n.Args[2]):
					// tlsspawn.Config.Parse(args, short, long, own)
					for _, l := range tlsspawn.CommonLong {
						set[strings.TrimSuffix(l, "=")] = true
					}
				}
			case *ast.AssignStmt:
				for i, l := range n.Lhs {
					if isLongName(l) && i < len(n.Rhs) {
						addList(n.Rhs[i])
					}
				}
			case *ast.ValueSpec:
				for i, l := range n.Names {
					if isLongName(l) && i < len(n.Values) {
						addList(n.Values[i])
					}
				}
			}
			return true
		})
	}
	var out []string
	for l := range set {
		if !internalLong[l] {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatalf("found no long option of %s in %s", prog, dir)
	}
	return out
}
