package remediate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
	"github.com/unloop/unloop/systemd"
)

// restartBus is a system bus whose units restart as a test says: the
// restart job of call i (0-based) returns jobErr(i), and after restart i the
// unit is active when active(i). The real thing, on booted nodes, is
// tests/e2e TestRestartFails; this runs every case in milliseconds.
type restartBus struct {
	jobErr func(i int) error
	active func(i int) bool
	// limit, when not 0, is the unit's start limit: after limit restarts
	// with no reset-failed between them, systemd refuses the next one.
	limit int

	mu         sync.Mutex
	restarts   []string
	reloads    int
	sinceReset int
}

func (b *restartBus) Resolved(context.Context) (*systemd.ResolvedState, error) {
	return nil, systemd.ErrNotRunning
}

func (b *restartBus) UnitFiles(context.Context, string) ([]string, error) { return nil, nil }

func (b *restartBus) UnitActive(context.Context, string) (bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.restarts) == 0 {
		return true, nil
	}
	return b.active(len(b.restarts) - 1), nil
}

func (b *restartBus) Reload(context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reloads++
	return nil
}

func (b *restartBus) RestartUnit(_ context.Context, unit string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restarts = append(b.restarts, unit)
	if b.limit > 0 && b.sinceReset >= b.limit {
		return &systemd.JobError{Unit: unit, Job: "restart", Result: "failed"} // start-limit-hit
	}
	b.sinceReset++
	return b.jobErr(len(b.restarts) - 1)
}

// ReloadNetworkd: networkd, which these tests do not run, reloads.
func (b *restartBus) ReloadNetworkd(context.Context) error { return nil }

func (b *restartBus) ResetFailed(context.Context, string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sinceReset = 0
	return nil
}

// TestApplyRestartFails: kubelet's restart goes wrong after the files were
// written: the job fails, or is done but kubelet stops a moment later (a
// Type=simple unit's job is done at fork), or the rollback's restart fails
// too. Apply names the step, every file is back, and the rollback restarts
// kubelet on its old config.
func TestApplyRestartFails(t *testing.T) {
	failed := &systemd.JobError{Unit: "kubelet.service", Job: "restart", Result: "failed"}
	tests := []struct {
		name       string
		jobErr     func(i int) error
		active     func(i int) bool
		want       string // in the message
		rollbackOK bool
		limit      int // the unit's start limit; 0 none
	}{
		{"the restart job fails", func(i int) error {
			if i == 0 {
				return failed
			}
			return nil
		}, func(int) bool { return true }, `restarting kubelet.service: restart of kubelet.service: job result "failed"; every change of the run was rolled back`, true, 0},
		{"kubelet stops after its restart", func(int) error { return nil }, func(i int) bool { return i > 0 },
			"restarting kubelet.service: kubelet.service stopped 0s after its restart (see journalctl -u kubelet.service); every change of the run was rolled back", true, 0},
		{"the rollback's restart fails too", func(int) error { return failed }, func(int) bool { return false },
			`restarting kubelet.service: restart of kubelet.service: job result "failed"; rolling back failed too`, false, 0},
		// kubelet crash-looped on the new config until systemd's start limit
		// stopped it: the rollback resets the limit, or its restart is refused.
		{"kubelet hits its start limit", func(int) error { return nil }, func(i int) bool { return i > 0 },
			"restarting kubelet.service: kubelet.service stopped 0s after its restart (see journalctl -u kubelet.service); every change of the run was rolled back", true, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
			env, log := faultEnv(t, dir)
			bus := &restartBus{jobErr: tt.jobErr, active: tt.active, limit: tt.limit}
			env.Bus = bus
			env.Probe = func(context.Context, netip.Addr) error { return nil }
			opts := node.Options{Strategies: []string{node.StrategyKubelet}}
			before := hostcfgtest.State(t, dir, unloopOwn)

			res, err := Apply(context.Background(), env, opts)
			var se *StepError
			if !errors.As(err, &se) || se.Step != "restarting kubelet.service" || se.RollbackOK != tt.rollbackOK {
				t.Fatalf("apply: %v, want a failure restarting kubelet.service (rollback ok %v)", err, tt.rollbackOK)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("message %q, want %q", err, tt.want)
			}
			if !res.RolledBack { // the files; RollbackOK adds the units
				t.Error("the result says the files were not rolled back")
			}
			// Restarted for the change, then again on the restored config.
			if want := []string{"kubelet.service", "kubelet.service"}; strings.Join(bus.restarts, " ") != strings.Join(want, " ") {
				t.Errorf("restarts %q, want %q", bus.restarts, want)
			}
			// Files are back even when kubelet is not.
			for _, p := range []string{UnloopResolvConf, "/var/lib/kubelet/config.yaml"} {
				if !strings.Contains(log.String(), "msg=wrote path="+p+" ") {
					t.Errorf("%s was not written before the restart\n%s", p, log)
				}
			}
			sameTree(t, before, hostcfgtest.State(t, dir, unloopOwn))
			j, err := journal.Load(env.Root, res.Run)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != journal.RunRolledBack || strings.Join(j.Units, " ") != "kubelet.service" {
				t.Errorf("journal: state %s, units %q", j.State, j.Units)
			}
		})
	}
}

// TestApplyKubeletHealthz: after kubelet's restart apply waits for kubelet's
// own /healthz (at the address its config names) instead of a fixed 2 s: ok
// at once is done well under 2 s; never ok (kubelet refusing its config while
// systemd keeps it "active" between restarts) is rolled back, naming the
// endpoint. The real kubelet: tests/e2e TestRealKubeletEdits.
func TestApplyKubeletHealthz(t *testing.T) {
	defer func(w time.Duration) { healthzWait = w }(healthzWait)
	healthzWait = 300 * time.Millisecond
	for _, tc := range []struct {
		name   string
		answer func(calls int) error
		want   string // in apply's error; "" for success
	}{
		{"ok at the second ask", func(calls int) error {
			if calls < 2 {
				return errors.New("connection refused")
			}
			return nil
		}, ""},
		{"never ok", func(int) error { return errors.New("connection refused") },
			"restarting kubelet.service: kubelet.service not healthy 300ms after its restart: /healthz on 127.0.0.1:10248: connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
			env, _ := faultEnv(t, dir)
			env.Bus = &restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}
			env.Probe = func(context.Context, netip.Addr) error { return nil }
			var asked []string
			env.Healthz = func(_ context.Context, addr string) error {
				asked = append(asked, addr)
				return tc.answer(len(asked))
			}
			start := time.Now()
			_, err := Apply(context.Background(), env, node.Options{Strategies: []string{node.StrategyKubelet}})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("apply: %v", err)
			case tc.want == "" && time.Since(start) >= restartSettle:
				t.Errorf("apply took %v: the healthz watch should end at the first ok, before the fixed %v", time.Since(start), restartSettle)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("apply: %v, want %q", err, tc.want)
			}
			if len(asked) == 0 || asked[0] != "127.0.0.1:10248" {
				t.Errorf("asked %q, want kubelet's default 127.0.0.1:10248", asked)
			}
		})
	}
}

// TestApplyReloadsUnits: a --resolv-conf fixed in a kubelet drop-in is read
// only after systemd reloads its units; the real kubelet came back with the
// old flag without it. apply reloads before the restart, and rollback before
// its restart; an edit of an environment file or a config needs no reload.
func TestApplyReloadsUnits(t *testing.T) {
	const dropIn = "etc/systemd/system/kubelet.service.d/10-kubeadm.conf"
	for _, tc := range []struct {
		name        string
		flagInUnit  bool
		wantReloads int // apply's, then rollback's
	}{
		{"flag in a drop-in", true, 2},
		{"flag in /etc/default/kubelet", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-flag-loops.txtar"))
			if tc.flagInUnit {
				unit, err := os.ReadFile(filepath.Join(dir, dropIn))
				if err != nil {
					t.Fatal(err)
				}
				unit = []byte(strings.Replace(string(unit), "$KUBELET_EXTRA_ARGS", "--resolv-conf=/etc/resolv.conf", 1))
				if err := os.WriteFile(filepath.Join(dir, dropIn), unit, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "etc/default/kubelet"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			env, _ := faultEnv(t, dir)
			bus := &restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}
			env.Bus = bus
			env.Probe = func(context.Context, netip.Addr) error { return nil }
			env.Healthz = func(context.Context, string) error { return nil }
			res, err := Apply(context.Background(), env, node.Options{Strategies: []string{node.StrategyKubelet}})
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if tc.flagInUnit != slices.ContainsFunc(res.Plan.Changes, func(c Change) bool { return c.Path == "/"+dropIn }) {
				t.Fatalf("apply's changes %+v: the drop-in edited %v, want %v", res.Plan.Changes, !tc.flagInUnit, tc.flagInUnit)
			}
			if _, err := Rollback(context.Background(), env, node.Options{}, "", false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if bus.reloads != tc.wantReloads {
				t.Errorf("systemd reloaded %d times, want %d", bus.reloads, tc.wantReloads)
			}
		})
	}
}

// termBus is restartBus where a SIGTERM arrives while kubelet is watched
// after its restart: the watch cancels the run's context. Its restart job
// fails on a cancelled context, as the real bus's does.
type termBus struct {
	restartBus
	term context.CancelFunc
}

func (b *termBus) UnitActive(ctx context.Context, unit string) (bool, error) {
	b.mu.Lock()
	watching := len(b.restarts) > 0 // planning asks too, before any restart
	b.mu.Unlock()
	if watching {
		b.term()
	}
	return b.restartBus.UnitActive(ctx, unit)
}

func (b *termBus) RestartUnit(ctx context.Context, unit string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("restart of %s: %w", unit, err)
	}
	return b.restartBus.RestartUnit(ctx, unit)
}

// TestApplyTerminatedDuringWatch: SIGTERM while kubelet is watched after its
// restart. The files are rolled back and the rollback still restarts kubelet
// on its old config: the rollback's restarts have a deadline of their own,
// not the cancelled context (kubelet was left on a file the rollback deleted).
func TestApplyTerminatedDuringWatch(t *testing.T) {
	dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
	env, _ := faultEnv(t, dir)
	ctx, term := context.WithCancel(context.Background())
	defer term()
	bus := &termBus{restartBus: restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}, term: term}
	env.Bus = bus
	env.Probe = func(context.Context, netip.Addr) error { return nil }
	before := hostcfgtest.State(t, dir, unloopOwn)

	res, err := Apply(ctx, env, node.Options{Strategies: []string{node.StrategyKubelet}})
	var se *StepError
	if !errors.As(err, &se) || se.Step != "restarting kubelet.service" || !errors.Is(err, context.Canceled) {
		t.Fatalf("apply: %v, want the watch of kubelet.service cut short", err)
	}
	if !se.RollbackOK || !res.RolledBack {
		t.Errorf("rollback ok %v, files rolled back %v: %v", se.RollbackOK, res.RolledBack, err)
	}
	if want := "kubelet.service kubelet.service"; strings.Join(bus.restarts, " ") != want {
		t.Errorf("restarts %q, want %q (the rollback's restart of kubelet)", bus.restarts, want)
	}
	sameTree(t, before, hostcfgtest.State(t, dir, unloopOwn))
}

// ReloadNetworkManager: NetworkManager, which these tests do not run, reloads.
func (b *restartBus) ReloadNetworkManager(context.Context, bool, []string) error { return nil }

// stubBus is a restartBus whose systemd-resolved reads back the stub off
// from the first ask after its restart, and which counts the asks whether a
// unit is active after the restart (the watch's).
type stubBus struct {
	restartBus
	activeAsks int
}

func (b *stubBus) Resolved(context.Context) (*systemd.ResolvedState, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.restarts) == 0 {
		return &systemd.ResolvedState{DNSStubListener: "yes", ResolvConfMode: "stub"}, nil
	}
	return &systemd.ResolvedState{DNSStubListener: "no", ResolvConfMode: "uplink"}, nil
}

func (b *stubBus) UnitActive(ctx context.Context, unit string) (bool, error) {
	b.mu.Lock()
	if len(b.restarts) > 0 {
		b.activeAsks++
	}
	b.mu.Unlock()
	return b.restartBus.UnitActive(ctx, unit)
}

// TestApplyStubWatchesReadBack: after resolved's restart the stub strategy's
// watch ends at resolved's first read-back over D-Bus that shows the stub
// off (its own word that it runs the new config), not after the fixed 2 s
// settle, which asked every 200 ms: the pods waited those 2 s (issue 27).
func TestApplyStubWatchesReadBack(t *testing.T) {
	dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
	env, _ := faultEnv(t, dir)
	bus := &stubBus{restartBus: restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}}
	env.Bus = bus
	env.Probe = func(context.Context, netip.Addr) error { return nil }
	if _, err := Apply(context.Background(), env, node.Options{Strategies: []string{node.StrategyStub}}); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if strings.Join(bus.restarts, " ") != "systemd-resolved.service" {
		t.Fatalf("restarts %q, want systemd-resolved.service", bus.restarts)
	}
	if bus.activeAsks != 1 {
		t.Errorf("the watch asked %d times whether resolved is active, want once: done at the first read-back", bus.activeAsks)
	}
}
