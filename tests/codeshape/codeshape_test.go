// Package codeshape holds the repository to the shape its maintainers agreed
// on (issue "For the next maintainer"): no function over 80 lines, the
// root hostcfg package, the confined filesystem, exporting at most 25 names
// (the parsers live in leaf packages below it), no product package over
// 2,500 lines of code (issue 20: a package per stage), and each source and
// strategy named only in its own files and its registry (locality_test.go).
// `go -C tests test -v ./codeshape` prints the numbers.
package codeshape

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

const (
	maxFuncLines    = 80
	maxRootExports  = 25
	maxPackageLines = 2500
)

// repo is the repository's top folder (this package is tests/codeshape).
const repo = "../.."

// sources are the non-test Go files of the repository, tests/ included, but
// not what is built from elsewhere (.cache) or generated test data.
func sources(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".cache", ".git", "testdata", "bin", "dist":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 50 {
		t.Fatalf("only %d Go files found under %s", len(files), repo)
	}
	return files
}

func TestFunctionLength(t *testing.T) {
	type fn struct {
		where string
		lines int
	}
	var all []fn
	fset := token.NewFileSet()
	for _, p := range sources(t) {
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if d, ok := d.(*ast.FuncDecl); ok && d.Body != nil {
				n := fset.Position(d.End()).Line - fset.Position(d.Pos()).Line + 1
				rel, _ := filepath.Rel(repo, p)
				all = append(all, fn{rel + ":" + d.Name.Name, n})
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].lines > all[j].lines })
	for i := 0; i < 5 && i < len(all); i++ {
		t.Logf("%4d lines  %s", all[i].lines, all[i].where)
	}
	for _, f := range all {
		if f.lines > maxFuncLines {
			t.Errorf("%s is %d lines, over %d: split it along its steps", f.where, f.lines, maxFuncLines)
		}
	}
}

func TestHostcfgExports(t *testing.T) {
	dir := filepath.Join(repo, "hostcfg")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil && d.Name.IsExported() {
					names = append(names, d.Name.Name)
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							names = append(names, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if id.IsExported() {
								names = append(names, id.Name)
							}
						}
					}
				}
			}
		}
	}
	sort.Strings(names)
	t.Logf("hostcfg exports %d names: %s", len(names), strings.Join(names, " "))
	if len(names) == 0 {
		t.Fatal("hostcfg exports nothing: is this the right folder?")
	}
	if len(names) > maxRootExports {
		t.Errorf("hostcfg exports %d names, over %d: a parser belongs in a leaf package below it", len(names), maxRootExports)
	}
}

// productDirs are the folders of the product's packages: what ships in the
// binary, not tests/, configs/ or test data.
var productDirs = []string{"cmd", "remediate", "hostcfg", "systemd"}

// productPackages maps each product package's folder (relative to the
// repository) to its non-test Go files.
func productPackages(t *testing.T) map[string][]string {
	t.Helper()
	pkgs := map[string][]string{}
	for _, p := range sources(t) {
		dir, _ := filepath.Rel(repo, filepath.Dir(p))
		top, _, _ := strings.Cut(filepath.ToSlash(dir), "/")
		if slices.Contains(productDirs, top) {
			pkgs[dir] = append(pkgs[dir], p)
		}
	}
	if len(pkgs) < 10 {
		t.Fatalf("only %d product packages found under %s", len(pkgs), repo)
	}
	return pkgs
}

// codeLines counts the lines of src that hold code: not blank, not a //
// comment, not inside a /* */ comment.
func codeLines(src string) int {
	n, inBlock := 0, false
	for _, line := range strings.Split(src, "\n") {
		rest := strings.TrimSpace(line)
		code := false
		for rest != "" {
			if inBlock {
				end := strings.Index(rest, "*/")
				if end < 0 {
					rest = ""
					break
				}
				inBlock, rest = false, strings.TrimSpace(rest[end+2:])
				continue
			}
			if strings.HasPrefix(rest, "//") {
				break
			}
			if strings.HasPrefix(rest, "/*") {
				inBlock, rest = true, rest[2:]
				continue
			}
			code = true
			break
		}
		if code {
			n++
		}
	}
	return n
}

func TestCodeLines(t *testing.T) {
	src := "package x\n\n// a comment\n\t// another\n/* a block\nstill the block\n*/\nvar a = 1 // code\n/* one line */ var b = 2\n/* one line */\n"
	if n := codeLines(src); n != 3 {
		t.Errorf("codeLines = %d, want 3 (package, var a, var b)", n)
	}
}

// TestPackageSize: no product package holds more than maxPackageLines lines
// of code (its non-test files, blank lines and comments not counted). A
// package over it does more than one stage: split it along them.
func TestPackageSize(t *testing.T) {
	pkgs := productPackages(t)
	dirs := make([]string, 0, len(pkgs))
	for dir := range pkgs {
		dirs = append(dirs, dir)
	}
	sort.Strings(dirs)
	for _, dir := range dirs {
		n := 0
		for _, p := range pkgs[dir] {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			n += codeLines(string(data))
		}
		t.Logf("%5d lines  %s", n, dir)
		if n > maxPackageLines {
			t.Errorf("%s has %d lines of code, over %d: split it along its stages", dir, n, maxPackageLines)
		}
	}
}
