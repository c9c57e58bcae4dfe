package remediate

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// TestREADMECodes: the README's table of finding codes says exactly what
// the registry says: the same codes, in the same order, with the same
// severity and meaning.
func TestREADMECodes(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "| code | severity | meaning |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README.md has no finding-codes table (| code | severity | meaning |)")
	}
	var got []string
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "|") {
			break
		}
		got = append(got, line)
	}
	var want []string
	for _, c := range Codes {
		want = append(want, "| `"+string(c.Code)+"` | "+string(c.Severity)+" | "+c.Meaning+" |")
	}
	if !slices.Equal(got, want) {
		t.Errorf("README.md's finding codes differ from the registry (remediate/codes.go); want:\n%s", strings.Join(want, "\n"))
	}
}

// TestFindingsKeepTheRegistry: over every node tree, a finding's severity
// is its code's, and its fixes are among the strategies the table says fix
// the code.
func TestFindingsKeepTheRegistry(t *testing.T) {
	trees, _ := filepath.Glob(filepath.Join("testdata", "nodes", "*.txtar"))
	for _, tree := range trees {
		name := strings.TrimSuffix(filepath.Base(tree), ".txtar")
		rep, _ := checkTree(t, name)
		for _, f := range rep.Findings {
			i := slices.IndexFunc(Codes, func(c CodeInfo) bool { return c.Code == f.Code })
			if i < 0 {
				t.Errorf("%s: %s is not in the registry", name, f.Code)
				continue
			}
			info := Codes[i]
			if f.Severity != info.Severity {
				t.Errorf("%s: %s is %s, the registry says %s", name, f.Code, f.Severity, info.Severity)
			}
			for _, s := range f.Fixes {
				if !slices.Contains(info.Fixes, s) {
					t.Errorf("%s: %s is fixed by %s, which the registry does not list", name, f.Code, s)
				}
			}
		}
	}
}

// TestLoops: findings of one cause are one loop; findings of other causes,
// and findings that are no part of a loop, are not.
func TestLoops(t *testing.T) {
	tests := []struct {
		tree  string
		loops []int // findings in each loop
		fixes [][]string
		loop  []int // each finding's loop
	}{
		{"demo-dhclient-node-local-dns", []int{5}, [][]string{{"dhclient"}}, []int{1, 1, 1, 1, 1}},
		{"rhel-kubespray-dhclient", []int{2}, [][]string{{"dhclient", "kubelet"}}, []int{1, 1}},
		{"docker-corefile", []int{2, 1}, [][]string{{"corefile"}, {"corefile"}}, []int{1, 1, 2}},
		{"ubuntu-kubespray-resolved-dns", []int{2}, [][]string{{"kubelet"}}, []int{1, 1}},
		{"ubuntu-misspelled-key", []int{1}, [][]string{{"kubelet", "stub"}}, []int{0, 1}},
		{"limits-local", nil, nil, []int{0, 0, 0}},
		{"no-upstream", []int{1}, [][]string{{}}, []int{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			rep, _ := checkTree(t, tt.tree)
			var sizes []int
			var fixes [][]string
			for _, l := range rep.Loops {
				sizes = append(sizes, l.Findings)
				fixes = append(fixes, l.Fixes)
			}
			if !slices.Equal(sizes, tt.loops) || !slices.EqualFunc(fixes, tt.fixes, slices.Equal) {
				t.Errorf("loops of %v findings fixed by %q, want %v fixed by %q", sizes, fixes, tt.loops, tt.fixes)
			}
			var loop []int
			for _, f := range rep.Findings {
				loop = append(loop, f.Loop)
			}
			if !slices.Equal(loop, tt.loop) {
				t.Errorf("findings' loops %v, want %v", loop, tt.loop)
			}
		})
	}
}

// TestIgnore: an ignored finding is still reported, marked; it counts in
// neither the status nor the plan.
func TestIgnore(t *testing.T) {
	tests := []struct {
		tree    string
		ignore  []node.Ignore
		status  string
		ignored int
		changed bool
	}{
		{"limits-local", []node.Ignore{{Code: finding.CodeNameserverLimit}, {Code: finding.CodeSearchLimit}}, "warning", 2, false},
		{"limits-local", []node.Ignore{{Code: finding.CodeNameserverLimit}, {Code: finding.CodeSearchLimit}, {Code: finding.CodeLocalAddress, File: "/etc/resolv.conf"}}, "ok", 3, false},
		{"limits-local", []node.Ignore{{Code: finding.CodeLocalAddress, File: "/etc/other.conf"}}, "warning", 0, false},
		{"demo-dhclient-node-local-dns", []node.Ignore{{Code: finding.CodeDhclientInjects}}, "error", 1, true},
		{"demo-dhclient-node-local-dns", []node.Ignore{{Code: finding.CodeDhclientInjects}, {Code: finding.CodeNodeLocalDNS}, {Code: finding.CodeCorefileForwardLoop}}, "ok", 5, false},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			opts := treeOptions(t, comment)
			opts.Ignore = tt.ignore
			pl, err := MakePlan(context.Background(), node.Env{Root: root}, opts)
			if err != nil {
				t.Fatal(err)
			}
			ignored := 0
			for _, f := range pl.Report.Findings {
				if f.Ignored {
					ignored++
				}
			}
			if pl.Report.Status != tt.status || ignored != tt.ignored || pl.Changed != tt.changed {
				t.Errorf("status %s, %d ignored, changed %v; want %s, %d, %v", pl.Report.Status, ignored, pl.Changed, tt.status, tt.ignored, tt.changed)
			}
		})
	}
}

// TestREADMEStrategies: the README's table of strategies lists the
// strategy table's, in its order.
func TestREADMEStrategies(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(data), "| strategy | what it changes | chosen by `auto` for |\n|---|---|---|\n")
	if !ok {
		t.Fatal("README.md has no strategies table (| strategy | what it changes | chosen by `auto` for |)")
	}
	var got []string
	for _, line := range strings.Split(table, "\n") {
		name, _, ok := strings.Cut(strings.TrimPrefix(line, "| `"), "` |")
		if !strings.HasPrefix(line, "|") || !ok {
			break
		}
		got = append(got, name)
	}
	if want := StrategyNames(); !slices.Equal(got, want) {
		t.Errorf("README.md's strategies are %q, the table (remediate/strategies.go) says %q", got, want)
	}
}

// TestCorefileFixedAtSource: a host's Corefile that loops through the file
// it forwards to is fixed by the Corefile's edit, and by the strategy that
// cleans the file at its source (here resolved's stub: the stub strategy),
// which the table says fixes the code.
func TestCorefileFixedAtSource(t *testing.T) {
	rep, _ := checkTree(t, "host-coredns-resolved-stub")
	i := slices.IndexFunc(rep.Findings, func(f node.Finding) bool { return f.Code == finding.CodeCorefileForwardLoop })
	if i < 0 {
		t.Fatalf("no %s finding: %q", finding.CodeCorefileForwardLoop, codes(rep.Findings))
	}
	if got, want := rep.Findings[i].Fixes, []string{"corefile", "stub"}; !slices.Equal(got, want) {
		t.Errorf("fixes = %q, want %q", got, want)
	}
}
