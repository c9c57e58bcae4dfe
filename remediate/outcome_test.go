package remediate

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/node"
)

// stoppedBus is a bus on which kubelet is not running yet (the boot unit
// runs before it).
type stoppedBus struct{ restartBus }

func (b *stoppedBus) UnitActive(context.Context, string) (bool, error) { return false, nil }

// TestApplyOutcomeRestarts: the kubelet fix is in effect only once kubelet
// reads the new file. Restarted, or not running yet (it reads the file when
// it starts), apply is done (exit 0); with --no-restart or offline the files
// are fixed but a running kubelet still hands out the old file: not-in-effect
// (exit 4), with the restart to run; one not running yet is done, even with
// --no-restart.
func TestApplyOutcomeRestarts(t *testing.T) {
	ok := func(int) error { return nil }
	up := func(int) bool { return true }
	tests := []struct {
		name      string
		bus       node.Bus
		noRestart bool
		offline   bool
		want      Outcome
		next      string
	}{
		{name: "restarted", bus: &restartBus{jobErr: ok, active: up}, want: OutcomeDone},
		{name: "kubelet not running yet", bus: &stoppedBus{restartBus{jobErr: ok, active: up}}, want: OutcomeDone},
		{name: "--no-restart", bus: &restartBus{jobErr: ok, active: up}, noRestart: true, want: OutcomeNotInEffect,
			next: "fixed in the files; not in effect until restarted (skipped: --no-restart): systemctl restart kubelet.service"},
		{name: "--no-restart, kubelet not running yet", bus: &stoppedBus{restartBus{jobErr: ok, active: up}}, noRestart: true, want: OutcomeDone},
		{name: "offline", offline: true, want: OutcomeNotInEffect,
			next: "fixed in the files; not in effect until restarted (skipped: offline): systemctl restart kubelet.service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
			env, _ := faultEnv(t, dir)
			env.Bus = tt.bus
			env.Probe = func(context.Context, netip.Addr) error { return nil }
			env.Healthz = func(context.Context, string) error { return nil }
			opts := node.Options{Strategies: []string{node.StrategyKubelet}, NoRestart: tt.noRestart, Offline: tt.offline}
			if tt.offline {
				opts.Upstreams = []netip.Addr{netip.MustParseAddr("192.0.2.53")}
			}
			res, err := Apply(context.Background(), env, opts)
			if err != nil || res.Run == "" {
				t.Fatalf("apply: %v; want the kubelet fix written", err)
			}
			got, next := res.Outcome()
			if got != tt.want || next != tt.next {
				t.Errorf("outcome %s %q, want %s %q", got, next, tt.want, tt.next)
			}
		})
	}
}
