package reliability

import (
	"encoding/json"
	"time"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"

	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHangupAtEveryStep: SIGHUP (a dropped SSH session) reaches apply after
// each of its durable steps, and a rollback after each path it restored, for
// every strategy: the run carries on to its
// end. apply exits 0 with the node as an uninterrupted run leaves it and the
// run applied; rollback exits 0 with the node as it was and the run rolled
// back. Killed by the signal instead, apply left the hook written and
// dhclient.conf and resolv.conf unfixed with the run "started", and rollback
// a mixed node with the run "applied".
func TestHangupAtEveryStep(t *testing.T) {
	var points atomic.Int32
	// One node tree per strategy: the signal's handling does not depend on
	// the tree, and every strategy's steps are reached.
	seen := map[string]bool{}
	for _, c := range crashCases(t) {
		strategy := c.name[strings.LastIndex(c.name, "/")+1:]
		if seen[strategy] && c.name != "rhel-kubespray-dhclient/dhclient" { // hook, dhclient.conf, resolv.conf
			continue
		}
		seen[strategy] = true
		t.Run(c.name, func(t *testing.T) {
			origDir, _ := hostcfgtest.Tree(t, c.tree)
			orig := state(t, origDir)
			apply := func(bin, dir string, env ...string) result {
				t.Helper()
				return run(t, bin, env, append([]string{"apply", "--root", dir, "--output", "json"}, c.args...)...)
			}
			rollback := func(bin, dir string, env ...string) result {
				t.Helper()
				return run(t, bin, env, "rollback", "--root", dir, "--offline")
			}

			refDir := copyTree(t, origDir)
			trace := filepath.Join(t.TempDir(), "trace")
			// The uninterrupted run's exit status is what a hangup must not
			// change (0 today; a fix not yet in effect may say so).
			ref := apply(unloopCrashBin(), refDir, "UNLOOP_CRASH_TRACE="+trace)
			if ref.Code == 1 || ref.Signal != 0 {
				t.Fatalf("apply: %s", ref)
			}
			want := state(t, refDir)
			applySteps := traceLines(t, trace)
			for _, step := range applySteps {
				t.Run("apply/"+strings.ReplaceAll(step, "/", "∕"), func(t *testing.T) {
					points.Add(1)
					dir := copyTree(t, origDir)
					r := apply(unloopCrashBin(), dir, "UNLOOP_HUP_AT="+step)
					if r.Signal != 0 || r.Code != ref.Code || !strings.Contains(r.Stdout, `"verified": true`) {
						t.Fatalf("apply with SIGHUP at %q did not finish: %s", step, r)
					}
					if d := diffStates(state(t, dir), want); d != "" {
						t.Fatalf("SIGHUP at %q: the node is not as an uninterrupted apply leaves it:\n%s", step, d)
					}
					if got := journalStates(t, dir); !slices.Equal(got, []string{"applied"}) {
						t.Fatalf("SIGHUP at %q: runs in states %q, want one applied", step, got)
					}
				})
			}

			// The rollback's points: after each path it restored.
			rbTrace := filepath.Join(t.TempDir(), "trace")
			if r := rollback(unloopCrashBin(), copyTree(t, refDir), "UNLOOP_CRASH_TRACE="+rbTrace); r.Code != 0 {
				t.Fatalf("rollback: %s", r)
			}
			rbSteps := traceLines(t, rbTrace)
			if len(rbSteps) == 0 || !strings.HasPrefix(rbSteps[0], "restored ") {
				t.Fatalf("rollback's points: %q, want restored ...", rbSteps)
			}
			for _, step := range rbSteps {
				t.Run("rollback/"+strings.ReplaceAll(step, "/", "∕"), func(t *testing.T) {
					points.Add(1)
					dir := copyTree(t, refDir)
					r := rollback(unloopCrashBin(), dir, "UNLOOP_HUP_AT="+step)
					if r.Code != 0 {
						t.Fatalf("rollback with SIGHUP at %q did not finish: %s", step, r)
					}
					if d := diffStates(state(t, dir), orig); d != "" {
						t.Fatalf("SIGHUP at %q: the node is not as it was:\n%s", step, d)
					}
					if got := journalStates(t, dir); !slices.Equal(got, []string{"rolled-back"}) {
						t.Fatalf("SIGHUP at %q: runs in states %q, want one rolled-back", step, got)
					}
				})
			}
		})
	}
	t.Logf("hangup points tested: %d", points.Load())
}

// TestHangupOnNode: on a booted node, SIGHUP reaches apply while it watches
// kubelet after its restart, and then rollback after it restored kubelet's
// config. Both finish: apply leaves kubelet running on the fixed config and
// the run applied; rollback leaves the files as they were, kubelet restarted
// on its old config, and the run rolled back.
func TestHangupOnNode(t *testing.T) {
	b := newBed(t, "bookworm")
	orig := b.nodeState()
	r := b.unloop(2*time.Minute, "unloop-crash", []string{"UNLOOP_HUP_AT=watching kubelet.service"}, "apply", "--strategy", "kubelet", "--output", "json")
	if r.Code != 0 || !decode(t, r).Verified {
		t.Fatalf("apply under SIGHUP: %s", r)
	}
	if d := diffStates(b.nodeState(), orig); d == "" {
		t.Fatal("apply under SIGHUP changed nothing")
	}
	if ok, desc := b.kubeletConsistent(); !ok || !b.active("kubelet.service") {
		t.Fatalf("kubelet is not running on the fixed config:\n%s\n%s", desc, b.journal("kubelet.service"))
	}
	if states := b.runStates(); !slices.Equal(states, []string{"applied"}) {
		t.Fatalf("runs in states %q after apply under SIGHUP, want one applied", states)
	}

	r = b.unloop(2*time.Minute, "unloop-crash", []string{"UNLOOP_HUP_AT=restored /var/lib/kubelet/config.yaml"}, "rollback")
	if r.Code != 0 {
		t.Fatalf("rollback under SIGHUP: %s", r)
	}
	if d := diffStates(b.nodeState(), orig); d != "" {
		t.Fatalf("the files are not as they were:\n%s", d)
	}
	if ok, desc := b.kubeletConsistent(); !ok || !b.active("kubelet.service") {
		t.Fatalf("kubelet was not restarted on its old config:\n%s\n%s", desc, b.journal("kubelet.service"))
	}
	if states := b.runStates(); !slices.Equal(states, []string{"rolled-back"}) {
		t.Fatalf("runs in states %q after rollback under SIGHUP, want one rolled-back", states)
	}
}

// runStates lists the node's runs' states, newest first.
func (b *bed) runStates() []string {
	b.t.Helper()
	r := b.unloop(time.Minute, "unloop", nil, "runs", "--output", "json")
	var runs struct {
		Runs []struct {
			State string `json:"state"`
		} `json:"runs"`
	}
	must(b.t, json.Unmarshal([]byte(r.Stdout), &runs))
	var states []string
	for _, run := range runs.Runs {
		states = append(states, run.State)
	}
	return states
}
