package remediate

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/systemd"
)

// restartBus is a system bus whose units restart as a test says: the
// restart job of call i (0-based) returns jobErr(i), and after restart i the
// unit is active when active(i). The real thing, on booted nodes, is
// tests/e2e TestRestartFails; this runs every case in milliseconds.
type restartBus struct {
	jobErr func(i int) error
	active func(i int) bool

	mu       sync.Mutex
	restarts []string
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

func (b *restartBus) RestartUnit(_ context.Context, unit string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restarts = append(b.restarts, unit)
	return b.jobErr(len(b.restarts) - 1)
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
	}{
		{"the restart job fails", func(i int) error {
			if i == 0 {
				return failed
			}
			return nil
		}, func(int) bool { return true }, `restarting kubelet.service: restart of kubelet.service: job result "failed"; every change of the run was rolled back`, true},
		{"kubelet stops after its restart", func(int) error { return nil }, func(i int) bool { return i > 0 },
			"restarting kubelet.service: kubelet.service stopped 0s after its restart (see journalctl -u kubelet.service); every change of the run was rolled back", true},
		{"the rollback's restart fails too", func(int) error { return failed }, func(int) bool { return false },
			`restarting kubelet.service: restart of kubelet.service: job result "failed"; rolling back failed too`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
			env, log := faultEnv(t, dir)
			bus := &restartBus{jobErr: tt.jobErr, active: tt.active}
			env.Bus = bus
			env.Probe = func(context.Context, netip.Addr) error { return nil }
			opts := Options{Strategies: []string{StrategyKubelet}}
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
			j, err := LoadJournal(env.Root, res.Run)
			if err != nil {
				t.Fatal(err)
			}
			if j.State != RunRolledBack || strings.Join(j.Units, " ") != "kubelet.service" {
				t.Errorf("journal: state %s, units %q", j.State, j.Units)
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

	res, err := Apply(ctx, env, Options{Strategies: []string{StrategyKubelet}})
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
