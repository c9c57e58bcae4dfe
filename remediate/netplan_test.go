package remediate

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/finding"
)

// TestNetplanAtItsSource: auto fixes a looping server of netplan's YAML
// where it is written: the YAML edited in place (comments, mode and every
// other byte kept), the file netplan renders written as `netplan generate`
// writes it from the edited YAML (tests/configs' TestNetplanRealProgram holds
// that to the real program), and the backend reloaded; offline the reload
// is skipped, so the lines it put into the resolver's file are removed too.
// No networkd drop-in or NetworkManager edit of the rendered file besides.
// Check after apply finds nothing; rollback restores every byte.
func TestNetplanAtItsSource(t *testing.T) {
	for _, tt := range []struct {
		tree, yaml, rendered, resolver, unit string
		wantYAML, wantRendered               string // the edited parts
	}{
		{"netplan-networkd", "/etc/netplan/50-cloud-init.yaml", "/run/systemd/network/10-netplan-eth0.network", "/run/systemd/resolve/resolv.conf", "systemd-networkd.service",
			"      nameservers:\n        addresses:\n          - 10.0.0.2\n", "LinkLocalAddressing=ipv6\nDNS=10.0.0.2\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\n"},
		// The lease brought it: use-dns: false, and the lease's clean server
		// kept as a nameserver (use-dns: false drops it too), rendered as netplan does.
		{"netplan-dhcp-lease", "/etc/netplan/50-cloud-init.yaml", "/run/systemd/network/10-netplan-eth0.network", "/run/systemd/resolve/resolv.conf", "systemd-networkd.service",
			"      nameservers:\n        addresses: [10.0.0.2]\n      dhcp4-overrides:\n        use-dns: false\n      dhcp4: true\n", "LinkLocalAddressing=ipv6\nDNS=10.0.0.2\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\nUseDNS=false\n"},
		{"netplan-networkmanager", "/etc/netplan/01-network-manager.yaml", "/run/NetworkManager/system-connections/netplan-eth0.nmconnection", "/etc/resolv.conf", "NetworkManager.service",
			"      nameservers: {addresses: [10.0.0.2]}\n", "address1=10.0.0.10/24\ndns=10.0.0.2;\n"},
	} {
		t.Run(tt.tree, func(t *testing.T) {
			dir, env, opts := networkdTree(t, tt.tree)
			before := hostcfgtest.State(t, dir, nil)
			modes := map[string]os.FileMode{}
			for _, p := range []string{tt.yaml, tt.rendered} {
				fi, err := os.Stat(filepath.Join(dir, p))
				if err != nil {
					t.Fatal(err)
				}
				modes[p] = fi.Mode()
			}
			pl, err := MakePlan(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, diffs := planLines(pl)
			want := []string{"file:" + tt.yaml + ":modify:", "file:" + tt.rendered + ":modify:", "file:" + tt.resolver + ":modify:", "unit:" + tt.unit + ":reload:offline", "pods::recreate:left to you"}
			if !slices.Equal(got, want) || len(pl.Unfixed) > 0 {
				t.Fatalf("changes %q unfixed %v, want %q", got, pl.Unfixed, want)
			}
			golden(t, filepath.Join("testdata", "plans", tt.tree+"_auto.diff"), []byte(diffs))

			res, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			for p, part := range map[string]string{tt.yaml: tt.wantYAML, tt.rendered: tt.wantRendered} {
				b, err := os.ReadFile(filepath.Join(dir, p))
				if err != nil || !contains(b, part) || contains(b, "169.254.25.10") {
					t.Errorf("%s after apply (%v):\n%s\nwant it to hold %q and not the loop", p, err, b, part)
				}
				if fi, err := os.Stat(filepath.Join(dir, p)); err != nil || fi.Mode() != modes[p] {
					t.Errorf("%s's mode after apply: %v %v, want %v kept", p, fi.Mode(), err, modes[p])
				}
			}
			rep, _, err := Check(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Findings) > 0 {
				t.Errorf("check after apply still finds %s", codes(rep.Findings))
			}
			if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
				t.Errorf("after rollback the tree differs:\n%q\nwant\n%q", after, before)
			}
		})
	}
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// A YAML edited after apply is the admin's: rollback refuses it and keeps
// the newer bytes.
func TestNetplanRollbackRefusesNewerEdit(t *testing.T) {
	rollbackRefusesEdit(t, "netplan-networkd", "etc/netplan/50-cloud-init.yaml",
		func(b []byte) []byte { return append(b, "# edited after unloop\n"...) })
}

// The networkd and NetworkManager sources leave netplan's rendered files to
// netplan: no networkd or networkmanager finding or fix for them.
func TestNetplanOwnsRenderedFiles(t *testing.T) {
	for _, tree := range []string{"netplan-networkd", "netplan-dhcp-lease", "netplan-networkmanager"} {
		rep, _ := checkTree(t, tree)
		for _, f := range rep.Findings {
			if f.Code == finding.CodeNetworkdInjects || f.Code == finding.CodeNetworkManagerInjects ||
				slices.Contains(f.Fixes, "networkd") || slices.Contains(f.Fixes, "networkmanager") {
				t.Errorf("%s: %s at %s:%d offers %v", tree, f.Code, f.File, f.Line, f.Fixes)
			}
		}
	}
}
