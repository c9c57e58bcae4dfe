package remediate

import (
	"context"
	"maps"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/node"
)

// On Talos, MicroShift and Bottlerocket the distribution rewrites kubelet's config itself:
// apply fails, the node is untouched, and the error is the edit a person
// makes where it lasts.
func TestTalosMicroShiftByHand(t *testing.T) {
	tests := []struct {
		tree string
		want []string
	}{
		{"talos-loop", []string{"/system/resolved/resolv.conf", "machine.network.nameservers", "talosctl"}},
		{"bottlerocket-loop", []string{"/run/netdog/resolv.conf", "apiclient set dns.name-servers"}},
		{"microshift-loop", []string{"/var/lib/microshift/resources/kubelet/config/config.yaml", "/run/systemd/resolve/resolv.conf", "microshift.service"}},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			before := hostcfgtest.State(t, dir, nil)
			opts := treeOptions(t, comment)
			opts.Strategies = []string{node.StrategyKubelet}
			// A clean upstream given, so that planning reaches the layout.
			opts.Upstreams = append(opts.Upstreams, netip.MustParseAddr("192.0.2.53"))
			_, err = Apply(context.Background(), node.Env{Root: root}, opts)
			if err == nil {
				t.Fatalf("apply succeeded on %s", tt.tree)
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not say %q:\n%v", want, err)
				}
			}
			if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
				t.Errorf("apply changed the node")
			}
		})
	}
}
