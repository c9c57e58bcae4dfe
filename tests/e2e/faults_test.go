package e2e

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// Stand-in kubelets whose restart goes wrong, each the way a real one can.
const (
	// A kubelet that refuses the config unloop wrote: its start fails
	// (ExecStartPre, so systemd's restart job ends "failed") while resolvConf
	// is set, and succeeds again with the original config.
	kubeletRejectsUnit = `[Unit]
Description=stand-in kubelet that rejects a config with resolvConf
[Service]
ExecStartPre=/bin/sh -c '! grep -q "^resolvConf:" /var/lib/kubelet/config.yaml'
ExecStart=/bin/sh -c 'cat /var/lib/kubelet/config.yaml; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`
	// A kubelet that starts once per boot: every restart fails (a wedged
	// node), the restart of the rollback too.
	kubeletOnceUnit = `[Unit]
Description=stand-in kubelet whose every restart fails
[Service]
ExecStartPre=/bin/sh -c 'test ! -e /run/kubelet-started'
ExecStart=/bin/sh -c 'touch /run/kubelet-started; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`
	// A kubelet that starts (Type=simple: systemd's job is done at fork) and
	// exits 1 a moment later when it reads resolvConf, as a kubelet does on
	// a config it can't use.
	kubeletCrashesUnit = `[Unit]
Description=stand-in kubelet that exits 1 on a config with resolvConf
[Service]
Type=simple
ExecStart=/bin/sh -c 'sleep 0.3; if grep -q "^resolvConf:" /var/lib/kubelet/config.yaml; then echo "bad config" >&2; exit 1; fi; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`
)

// TestRestartFails: apply --strategy kubelet on a stub-loop node (kubelet's
// config without resolvConf, resolved with a DNS= that answers, so the
// kubelet strategy's target is resolved's clean uplink file) whose kubelet
// restart fails for real. Apply exits 1 naming "restarting kubelet.service",
// every file is back byte for byte, no run is left to replay, and kubelet
// runs on its old config when it can. On bookworm (systemd 252) and trixie (257).
func TestRestartFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		unit   string
		want   []string // in apply's message, after the step
		upBack bool     // kubelet active again after the rollback
	}{
		{name: "rejects the config", unit: kubeletRejectsUnit, upBack: true,
			want: []string{`job result "failed"`, "every change of the run was rolled back"}},
		{name: "every restart fails", unit: kubeletOnceUnit, upBack: false,
			want: []string{`job result "failed"`, "rolling back failed too"}},
		{name: "exits after the restart", unit: kubeletCrashesUnit, upBack: true,
			want: []string{"kubelet.service stopped", "every change of the run was rolled back"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testbed.ForEachRelease(t, func(t *testing.T, release string) {
				b := newBed(t, node.Options{Release: release}, "")
				n := b.Node
				b.staticNet()
				b.resolvedDNS("upstream.conf", b.Upstream)
				must(t, n.WriteFile("/etc/systemd/system/kubelet.service", []byte(tc.unit), 0o644))
				must(t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(testbed.KubeletConfig), 0o644))
				n.Run("systemctl", "daemon-reload")
				startUnit(t, n, "enable --now", "kubelet.service")
				time.Sleep(time.Second) // the crashing kubelet is fine on the old config: show it
				if st := prop(t, n, "kubelet.service", "ActiveState"); st != "active" {
					t.Fatalf("kubelet is %s before apply", st)
				}
				if _, code := testbed.Unloop(t, n, "check"); code != 2 {
					t.Fatalf("check exited %d, want 2 (resolved's stub)", code)
				}
				before := snapshotTree(t, n, unloopDirs...)
				kubeletID := prop(t, n, "kubelet.service", "InvocationID")

				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				out, err := n.Exec(ctx, "/opt/unloop/unloop", "apply", "--strategy", "kubelet", "--output", "json")
				cancel()
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 1 {
					t.Fatalf("apply: %v, want exit 1\n%s", err, out)
				}
				r := decode(t, out)
				stderr := err.Error()
				if !strings.HasPrefix(r.Error, "restarting kubelet.service: ") {
					t.Errorf("apply's JSON error %q does not name the step restarting kubelet.service", r.Error)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.Error, w) {
						t.Errorf("apply's JSON error %q, want %q in it", r.Error, w)
					}
				}
				t.Logf("apply: %s", r.Error)
				if !strings.Contains(stderr, "restarting kubelet.service") {
					t.Errorf("apply's stderr does not name the step:\n%s", stderr)
				}
				if a, skipped, _ := r.change("unit", "kubelet.service"); a != "restart" || skipped != "" {
					t.Errorf("apply's JSON: kubelet.service %q (skipped %q), want a restart that was tried", a, skipped)
				}
				if id := prop(t, n, "kubelet.service", "InvocationID"); id == kubeletID {
					t.Errorf("kubelet was never restarted (invocation %s)", id)
				}

				if d := before.diff(snapshotTree(t, n, unloopDirs...)); len(d) > 0 {
					t.Errorf("after the failed apply the node differs:\n%s", strings.Join(d, "\n"))
				}
				if cfg := string(must1(n.ReadFile("/var/lib/kubelet/config.yaml"))); cfg != testbed.KubeletConfig {
					t.Errorf("kubelet's config after the failed apply:\n%s", cfg)
				}
				if tc.upBack {
					testbed.WaitFor(t, 10*time.Second, "kubelet active again", func() bool { return prop(t, n, "kubelet.service", "ActiveState") == "active" })
					time.Sleep(time.Second) // still running on the restored config
					if st := prop(t, n, "kubelet.service", "ActiveState"); st != "active" {
						t.Errorf("kubelet is %s after the rollback, want active on its old config", st)
					}
				}
				// Nothing is left for the next apply to replay: the run is rolled back.
				if out, code := testbed.Unloop(t, n, "check"); code != 2 {
					t.Errorf("check after the failed apply exited %d, want 2 (the loop is still there):\n%s", code, out)
				}
				if got := runs(t, n); len(got) == 1 {
					m := string(must1(n.ReadFile("/var/lib/unloop/runs/" + got[0] + "/manifest.json")))
					if !strings.Contains(m, `"state": "rolled-back"`) {
						t.Errorf("the failed run's manifest:\n%s", m)
					}
				} else {
					t.Errorf("runs journaled: %v, want the one rolled back", got)
				}
			})
		})
	}
}
