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
)

// TestKubeletUplinkMustAnswer: the kubelet strategy hands pods resolved's
// uplink file only when one of its servers answers DNS. A clean file of dead
// servers is a black hole: unloop's own file from upstreams that answer is
// used instead, and with none apply refuses and writes nothing. (The real
// thing, on booted nodes: tests/e2e TestBlackHole.)
func TestKubeletUplinkMustAnswer(t *testing.T) {
	tests := []struct {
		name     string
		answers  []string // the addresses that answer a DNS question
		upstream []string // --upstream
		want     string   // kubelet's resolvConf after the plan; "" refused
	}{
		{"uplink answers", []string{"10.0.0.2"}, nil, resolvedUplinkFile},
		{"uplink silent", nil, nil, ""},
		{"uplink silent, --upstream answers", []string{"192.0.2.53"}, []string{"192.0.2.53"}, UnloopResolvConf},
		{"--upstream given: the uplink is not asked", []string{"10.0.0.2", "192.0.2.53"}, []string{"192.0.2.53"}, UnloopResolvConf},
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
			env := Env{Root: root, Probe: probe}
			opts := Options{Strategies: []string{StrategyKubelet}}
			for _, u := range tt.upstream {
				opts.Upstreams = append(opts.Upstreams, netip.MustParseAddr(u))
			}
			before := hostcfgtest.State(t, dir, nil)

			pl, err := MakePlan(context.Background(), env, opts)
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "no upstream answers DNS") {
					t.Fatalf("plan: %v, want a refusal: no upstream answers DNS", err)
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
			var cfg string
			for _, c := range pl.Changes {
				if c.Kind == KindFile && c.Path == "/var/lib/kubelet/config.yaml" {
					cfg = string(c.After)
				}
			}
			if !strings.Contains(cfg, "resolvConf: "+tt.want+"\n") {
				t.Errorf("kubelet's config after the plan:\n%s\nwant resolvConf: %s", cfg, tt.want)
			}
		})
	}
}
