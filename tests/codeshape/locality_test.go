package codeshape

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The plug-ins' conventions (DESIGN.md §7): a source of DNS settings is
// remediate/node/source_NAME.go, registered in sources.go; a strategy is
// remediate/strategy_NAME.go, registered in strategies.go. A plug-in may
// have more files, NAME_PART (strategy_dhclient_hook.go).
const (
	nodePkg      = "remediate/node"
	remediatePkg = "remediate"
	modulePath   = "github.com/unloop/unloop/"
)

// registries may name every plug-in: the lists, and finding.go's strategy
// names (node.StrategyX, the words findings name their fixes in).
var registries = map[string]bool{
	"remediate/node/sources.go": true,
	"remediate/node/finding.go": true,
	"remediate/strategies.go":   true,
}

// homonyms are string literals that spell a plug-in's name but mean
// something else, by file: the rule is about code that branches on a
// plug-in's name, not about every word.
var homonyms = map[string]map[string]string{
	// --corefile, the setting naming the Corefiles to check.
	"cmd/unloop/cli/settings.go":        {"corefile": "the --corefile setting"},
	"cmd/unloop/settings/config.go":     {"corefile": "the --corefile setting"},
	"cmd/unloop/settings/given.go":      {"corefile": "the --corefile setting"},
	"remediate/node/source_resolved.go": {"stub": "resolved's ResolvConfMode, stub"},
}

// plugin is a source or a strategy as its files declare it.
type plugin struct {
	kind string // "source" or "strategy"
	base string // NAME of its file names
	pkg  string // its package's folder
	name string // its string name: Name()'s value, the Strategy's Name
	own  map[string]bool
	// idents are its top-level names: types, funcs, vars and consts.
	idents map[string]bool
	// nodeMethods are the exported methods it gives *Node: callers reach
	// them as n.NAME, not through the Source interface.
	nodeMethods map[string]bool
	// nodeHelpers are its unexported methods on *Node: the same.
	nodeHelpers map[string]bool
}

func (p *plugin) String() string { return p.kind + " " + p.base }

// goFile is a parsed non-test Go file of remediate/ or cmd/.
type goFile struct {
	rel string // relative to the repository
	pkg string // its folder
	f   *ast.File
	fs  *token.FileSet
}

// TestPluginLocality: a source's or a strategy's identifiers and its string
// name appear only in its own files, its registry, tests and docs. A new
// source or strategy is then one file and a line in the registry, and
// removing one is deleting them.
func TestPluginLocality(t *testing.T) {
	files := parseProduct(t, "remediate", "cmd")
	vocab := stringConsts(t, files, "remediate/node/finding.go")
	var plugins []*plugin
	plugins = append(plugins, findPlugins(t, files, nodePkg, "source_", vocab)...)
	plugins = append(plugins, findPlugins(t, files, remediatePkg, "strategy_", vocab)...)
	// A source and the strategy of its name (dhclient) are one plug-in: the
	// strategy fixes the source at its source, with what the source read.
	for _, a := range plugins {
		for _, b := range plugins {
			if a != b && a.base == b.base {
				for f := range b.own {
					a.own[f] = true
				}
			}
		}
	}
	if len(plugins) < 6 {
		t.Fatalf("found only %d plug-ins: %v", len(plugins), plugins)
	}
	for _, p := range plugins {
		t.Logf("%-8s %-15s name %-18q files %v", p.kind, p.base, p.name, sortedKeys(p.own))
	}
	var violations []string
	for _, gf := range files {
		if registries[gf.rel] {
			continue
		}
		violations = append(violations, identViolations(gf, plugins)...)
		violations = append(violations, nameViolations(gf, plugins)...)
		violations = append(violations, helperUses(gf, plugins)...)
	}
	sort.Strings(violations)
	for _, v := range violations {
		t.Error(v)
	}
}

// parseProduct parses the non-test Go files under dirs (test data skipped).
func parseProduct(t *testing.T, dirs ...string) []*goFile {
	t.Helper()
	var out []*goFile
	fset := token.NewFileSet()
	for pkg, paths := range productPackages(t) {
		if !slicesHasPrefix(pkg, dirs) {
			continue
		}
		for _, p := range paths {
			f, err := parser.ParseFile(fset, p, nil, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			rel, _ := filepath.Rel(repo, p)
			out = append(out, &goFile{rel: filepath.ToSlash(rel), pkg: filepath.ToSlash(pkg), f: f, fs: fset})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out
}

func slicesHasPrefix(pkg string, dirs []string) bool {
	for _, d := range dirs {
		if pkg == d || strings.HasPrefix(pkg, d+"/") {
			return true
		}
	}
	return false
}

// stringConsts are the string constants a file declares (finding.go's
// StrategyX), by name.
func stringConsts(t *testing.T, files []*goFile, rel string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, gf := range files {
		if gf.rel != rel {
			continue
		}
		for _, d := range gf.f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, s := range gd.Specs {
				vs := s.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if v, ok := stringLit(vs.Values[i]); ok {
							out[id.Name] = v
						}
					}
				}
			}
		}
		return out
	}
	t.Fatalf("%s not found", rel)
	return nil
}

func stringLit(e ast.Expr) (string, bool) {
	bl, ok := e.(*ast.BasicLit)
	if !ok || bl.Kind != token.STRING {
		return "", false
	}
	v, err := strconv.Unquote(bl.Value)
	return v, err == nil
}

// findPlugins reads the plug-ins of one package from its PREFIX_NAME.go files.
func findPlugins(t *testing.T, files []*goFile, pkg, prefix string, vocab map[string]string) []*plugin {
	t.Helper()
	stems := map[string]*goFile{}
	for _, gf := range files {
		base := filepath.Base(gf.rel)
		if gf.pkg == pkg && strings.HasPrefix(base, prefix) {
			stems[strings.TrimSuffix(strings.TrimPrefix(base, prefix), ".go")] = gf
		}
	}
	var out []*plugin
	for stem := range stems {
		if owner(stem, stems) != stem {
			continue // a part of another plug-in (dhclient_hook of dhclient)
		}
		p := &plugin{kind: strings.TrimSuffix(prefix, "_"), base: stem, pkg: pkg, own: map[string]bool{}, idents: map[string]bool{}, nodeMethods: map[string]bool{}, nodeHelpers: map[string]bool{}}
		for s, gf := range stems {
			if owner(s, stems) == stem {
				p.own[gf.rel] = true
				p.declare(gf.f, vocab)
			}
		}
		if p.name == "" {
			t.Errorf("%s: no string name found (a Name() returning a literal, or a Strategy{Name: ...})", p)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].base < out[j].base })
	return out
}

// owner is the plug-in a file stem belongs to: the shortest stem that is it
// or a prefix of it followed by "_".
func owner(stem string, stems map[string]*goFile) string {
	best := stem
	for s := range stems {
		if strings.HasPrefix(stem, s+"_") && len(s) < len(best) {
			best = s
		}
	}
	return best
}

// declare adds a file's top-level names and string name to p.
func (p *plugin) declare(f *ast.File, vocab map[string]string) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				p.idents[d.Name.Name] = true
				continue
			}
			if recvType(d) == "Node" {
				if d.Name.IsExported() {
					p.nodeMethods[d.Name.Name] = true
				} else {
					p.nodeHelpers[d.Name.Name] = true
				}
			}
			if d.Name.Name == "Name" && p.kind == "source" && d.Body != nil && len(d.Body.List) == 1 {
				if r, ok := d.Body.List[0].(*ast.ReturnStmt); ok && len(r.Results) == 1 {
					if v, ok := stringLit(r.Results[0]); ok {
						p.name = v
					}
				}
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					p.idents[s.Name.Name] = true
				case *ast.ValueSpec:
					for _, id := range s.Names {
						if id.Name != "_" {
							p.idents[id.Name] = true
						}
					}
					if p.kind == "strategy" {
						p.strategyName(s, vocab)
					}
				}
			}
		}
	}
}

// strategyName reads the Name of a `var xStrategy = Strategy{Name: ...}`.
func (p *plugin) strategyName(s *ast.ValueSpec, vocab map[string]string) {
	for _, v := range s.Values {
		cl, ok := v.(*ast.CompositeLit)
		if !ok {
			continue
		}
		if id, ok := cl.Type.(*ast.Ident); !ok || id.Name != "Strategy" {
			continue
		}
		for _, e := range cl.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if !ok {
				continue
			}
			if k, ok := kv.Key.(*ast.Ident); !ok || k.Name != "Name" {
				continue
			}
			if lit, ok := stringLit(kv.Value); ok {
				p.name = lit
			} else if sel, ok := kv.Value.(*ast.SelectorExpr); ok {
				p.name = vocab[sel.Sel.Name]
			}
		}
	}
}

func recvType(d *ast.FuncDecl) string {
	t := d.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name
	}
	return ""
}

// identViolations: uses in gf of another plug-in's identifiers. In the
// plug-in's own package a use is a name the file leaves unresolved (declared
// elsewhere in the package); from another package it is pkg.Name; a *Node
// method it adds is any .Name selector.
func identViolations(gf *goFile, plugins []*plugin) []string {
	var out []string
	at := func(pos token.Pos) string {
		p := gf.fs.Position(pos)
		return fmt.Sprintf("%s:%d", gf.rel, p.Line)
	}
	imports := importNames(gf.f)
	for _, p := range plugins {
		if p.own[gf.rel] {
			continue
		}
		if gf.pkg == p.pkg {
			for _, id := range gf.f.Unresolved {
				if p.idents[id.Name] {
					out = append(out, fmt.Sprintf("%s: uses %s of %s", at(id.Pos()), id.Name, p))
				}
			}
		}
		local := imports[modulePath+p.pkg]
		ast.Inspect(gf.f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && local != "" && x.Name == local && x.Obj == nil && p.idents[sel.Sel.Name] {
				out = append(out, fmt.Sprintf("%s: uses %s.%s of %s", at(sel.Pos()), local, sel.Sel.Name, p))
			} else if p.nodeMethods[sel.Sel.Name] {
				out = append(out, fmt.Sprintf("%s: calls (*Node).%s of %s", at(sel.Sel.Pos()), sel.Sel.Name, p))
			}
			return true
		})
	}
	return out
}

// helperUses: calls in gf of another plug-in's unexported methods on *Node.
func helperUses(gf *goFile, plugins []*plugin) []string {
	var out []string
	for _, p := range plugins {
		if p.own[gf.rel] {
			continue
		}
		ast.Inspect(gf.f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok && p.nodeHelpers[sel.Sel.Name] {
				out = append(out, fmt.Sprintf("%s:%d: calls (*Node).%s of %s", gf.rel, gf.fs.Position(sel.Sel.Pos()).Line, sel.Sel.Name, p))
			}
			return true
		})
	}
	return out
}

// importNames maps the file's import paths to the names they are used by.
func importNames(f *ast.File) map[string]string {
	out := map[string]string{}
	for _, is := range f.Imports {
		path, _ := strconv.Unquote(is.Path.Value)
		name := filepath.Base(path)
		if is.Name != nil {
			name = is.Name.Name
		}
		out[path] = name
	}
	return out
}

// nameViolations: a plug-in's string name as a string literal outside the
// files of the plug-ins that bear it.
func nameViolations(gf *goFile, plugins []*plugin) []string {
	var out []string
	ast.Inspect(gf.f, func(n ast.Node) bool {
		if _, ok := n.(*ast.ImportSpec); ok {
			return false
		}
		v, ok := stringLit(asExpr(n))
		if !ok || homonyms[gf.rel][v] != "" {
			return true
		}
		var named []string
		for _, p := range plugins {
			if p.name != v {
				continue
			}
			if p.own[gf.rel] {
				return true
			}
			named = append(named, p.String())
		}
		if len(named) > 0 {
			out = append(out, fmt.Sprintf("%s:%d: the string %q names %s", gf.rel, gf.fs.Position(n.Pos()).Line, v, strings.Join(named, " and ")))
		}
		return true
	})
	return out
}

func asExpr(n ast.Node) ast.Expr {
	e, _ := n.(ast.Expr)
	return e
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, filepath.Base(k))
	}
	sort.Strings(out)
	return out
}
