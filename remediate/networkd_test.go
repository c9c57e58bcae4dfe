package remediate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
)

// networkdTree is a node tree whose .network file hands resolved a looping
// DNS=, ready for apply (the journal's folders made).
func networkdTree(t *testing.T, tree string) (string, node.Env, node.Options) {
	t.Helper()
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tree+".txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"var/lib", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, node.Env{Root: root}, treeOptions(t, comment)
}

// TestNetworkdAtItsSource: auto fixes a looping .network DNS= where it is
// made, with a drop-in of unloop's own that sets DNS= again without the
// address, and a reload of networkd; offline the reload is skipped, so the
// lines networkd put into resolved's uplink file are removed too (resolved
// would drop them at the reload). Apply verifies, and rollback restores
// every byte and folder. (Online,
// the reload and resolved's rewritten uplink file are tests/reliability's
// TestNetworkdFixedAtItsSource.)
func TestNetworkdAtItsSource(t *testing.T) {
	for _, tt := range []struct {
		tree, name string
		strategy   []string
		dropIn     string // the drop-in's DNS= lines
	}{
		{"ubuntu-networkd-node-local-dns", "auto", nil, "DNS=\nDNS=10.0.0.2\n"},
		{"ubuntu-networkd-node-local-dns", "networkd", []string{"networkd"}, "DNS=\nDNS=10.0.0.2\n"},
		// Every DNS= server loops: the upstreams given take their place, not an empty list.
		{"networkd-only-looping", "auto", nil, "DNS=\nDNS=192.0.2.53\n"},
		// The looping server came in a DHCPv4 lease: UseDNS=no, the lease's clean server kept as DNS=.
		{"networkd-dhcp-lease", "auto", nil, "DNS=\nDNS=10.0.0.2\n\n[DHCPv4]\nUseDNS=no\n"},
	} {
		t.Run(tt.tree+"/"+tt.name, func(t *testing.T) {
			dir, env, opts := networkdTree(t, tt.tree)
			opts.Strategies = tt.strategy
			before := hostcfgtest.State(t, dir, nil)
			beforeDirs := hostcfgtest.Dirs(t, dir, unloopInfra)
			const dropIn = "/etc/systemd/network/10-netplan-eth0.network.d/" + NetworkdDropIn

			pl, err := MakePlan(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, diffs := planLines(pl)
			want := []string{"file:" + dropIn + ":create:", "file:/run/systemd/resolve/resolv.conf:modify:", "unit:systemd-networkd.service:reload:offline", "pods::recreate:left to you"}
			if !slices.Equal(got, want) || len(pl.Unfixed) > 0 {
				t.Fatalf("changes %q unfixed %v, want %q", got, pl.Unfixed, want)
			}
			golden(t, filepath.Join("testdata", "plans", tt.tree+"_"+tt.name+".diff"), []byte(diffs))

			res, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			b, err := os.ReadFile(filepath.Join(dir, dropIn))
			if err != nil || !strings.Contains(string(b), "[Network]\n"+tt.dropIn) {
				t.Fatalf("drop-in after apply (%v):\n%s\nwant [Network] then %q", err, b, tt.dropIn)
			}
			rep, _, err := Check(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range rep.Findings {
				if f.Code == finding.CodeNetworkdInjects {
					t.Errorf("check after apply still finds %s", codes(rep.Findings))
				}
			}

			if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
				t.Errorf("after rollback the tree differs:\n%q\nwant\n%q", after, before)
			}
			if got := hostcfgtest.Dirs(t, dir, unloopInfra); !slices.Equal(got, beforeDirs) {
				t.Errorf("folders after rollback %q, want %q (a folder apply made is left)", got, beforeDirs)
			}
		})
	}
}

// A drop-in edited after apply is the admin's: rollback refuses it and
// keeps the newer bytes.
func TestNetworkdRollbackRefusesNewerEdit(t *testing.T) {
	rollbackRefusesEdit(t, "ubuntu-networkd-node-local-dns", "etc/systemd/network/10-netplan-eth0.network.d/"+NetworkdDropIn,
		func([]byte) []byte { return []byte("[Network]\nDNS=\nDNS=10.0.0.3\n") })
}

// rollbackRefusesEdit applies on tree, has the admin edit rel (a path in
// the tree) after it, and holds rollback to refusing it, the edit kept.
func rollbackRefusesEdit(t *testing.T, tree, rel string, edit func(applied []byte) []byte) {
	t.Helper()
	dir, env, opts := networkdTree(t, tree)
	res, err := Apply(context.Background(), env, opts)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	p := filepath.Join(dir, rel)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edited := edit(b)
	if err := os.WriteFile(p, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(context.Background(), env, opts, res.Run, false); !errors.Is(err, journal.ErrConflict) {
		t.Fatalf("rollback: %v, want a conflict", err)
	}
	if b, _ := os.ReadFile(p); string(b) != string(edited) {
		t.Errorf("%s after the refused rollback:\n%s\nwant the admin's edit kept", rel, b)
	}
}

// planLines are a plan's changes, each as kind:path-or-unit:action:skipped,
// and its file and link changes' diffs, for a golden file.
func planLines(pl *Plan) ([]string, string) {
	var got []string
	var diffs strings.Builder
	for _, c := range pl.Changes {
		got = append(got, c.Kind+":"+c.Path+c.Unit+":"+c.Action+":"+c.Skipped)
		if c.Kind == KindFile || c.Kind == KindLink {
			fmt.Fprintf(&diffs, "## %s %s %s [%s]\n%s\n", c.Action, c.Kind, c.Path, c.Strategy, c.Diff)
		}
	}
	return got, diffs.String()
}
