package remediate

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/node"
)

// TestUplinkMustAnswer: the kubelet and stub strategies hand pods (and, for
// stub, the host) resolved's uplink file only when one of its servers
// answers DNS. A clean file of dead servers is a black hole: kubelet falls
// back to unloop's own file from upstreams that answer, stub refuses, and a
// refusal writes nothing. (The real thing, on booted nodes: tests/e2e
// TestBlackHole.)
func TestUplinkMustAnswer(t *testing.T) {
	tests := []struct {
		name     string
		strategy string
		answers  []string // the addresses that answer a DNS question
		upstream []string // --upstream
		want     string   // kubelet: its resolvConf after the plan; stub: the link's target; "" refused
		wantErr  string
	}{
		{"kubelet, uplink answers", node.StrategyKubelet, []string{"10.0.0.2"}, nil, resolvconf.ResolvedUplinkFile, ""},
		{"kubelet, uplink silent", node.StrategyKubelet, nil, nil, "", "no upstream answers DNS (10.0.0.2: i/o timeout)"},
		{"kubelet, uplink silent, --upstream answers", node.StrategyKubelet, []string{"192.0.2.53"}, []string{"192.0.2.53"}, UnloopResolvConf, ""},
		{"kubelet, --upstream given, uplink answers", node.StrategyKubelet, []string{"10.0.0.2", "192.0.2.53"}, []string{"192.0.2.53"}, resolvconf.ResolvedUplinkFile, ""},
		{"stub, uplink answers", node.StrategyStub, []string{"10.0.0.2"}, nil, "../run/systemd/resolve/resolv.conf", ""},
		{"stub, uplink silent", node.StrategyStub, nil, nil, "", "no server in /run/systemd/resolve/resolv.conf answers DNS (10.0.0.2: i/o timeout)"},
		{"stub, uplink silent, --upstream answers", node.StrategyStub, []string{"192.0.2.53"}, []string{"192.0.2.53"}, "", "no server in /run/systemd/resolve/resolv.conf answers DNS (10.0.0.2: i/o timeout)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			probe := func(_ context.Context, a netip.Addr) error {
				for _, ok := range tt.answers {
					if a.String() == ok {
						return nil
					}
				}
				return errors.New("i/o timeout")
			}
			env := node.Env{Root: root, Probe: probe}
			opts := node.Options{Strategies: []string{tt.strategy}}
			for _, u := range tt.upstream {
				opts.Upstreams = append(opts.Upstreams, netip.MustParseAddr(u))
			}
			before := hostcfgtest.State(t, dir, nil)

			pl, err := MakePlan(context.Background(), env, opts)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "black hole") {
					t.Fatalf("plan: %v, want a refusal: %s", err, tt.wantErr)
				}
				if _, err := Apply(context.Background(), env, opts); err == nil {
					t.Fatal("apply did not refuse")
				}
				if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
					t.Fatalf("the refused apply changed the node:\n%v\nwant\n%v", after, before)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, c := range pl.Changes {
				switch {
				case tt.strategy == node.StrategyKubelet && c.Kind == KindFile && c.Path == "/var/lib/kubelet/config.yaml":
					got = string(c.After)
				case tt.strategy == node.StrategyStub && c.Kind == KindLink && c.Path == "/etc/resolv.conf":
					got = c.Target
				}
			}
			if tt.strategy == node.StrategyKubelet && !strings.Contains(got, "resolvConf: "+tt.want+"\n") || tt.strategy == node.StrategyStub && got != tt.want {
				t.Errorf("after the plan:\n%s\nwant %s", got, tt.want)
			}
		})
	}
}
