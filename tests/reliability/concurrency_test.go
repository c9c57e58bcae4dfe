package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// The boot unit and Ansible may run apply at the same moment on one node.
const raceTree = "rhel-kubespray-dhclient"

// raceSetup returns the field's tree, its flags, and what one apply makes of it.
func raceSetup(t *testing.T) (orig string, args []string, want map[string]string) {
	t.Helper()
	orig, comment := hostcfgtest.Tree(t, filepath.Join(nodesDir, raceTree+".txtar"))
	args = append([]string{"--offline"}, treeArgs(comment)...)
	ref := copyTree(t, orig)
	if r := run(t, unloopBin(), nil, append([]string{"apply", "--root", ref}, args...)...); !fixedCode(r.Code) {
		t.Fatalf("apply: %s", r)
	}
	return orig, args, state(t, ref)
}

// started is a process running, to be waited for.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	start, end     time.Time
	done           chan struct{} // closed when it has exited
}

func startUnloop(t *testing.T, args ...string) *started {
	t.Helper()
	s := &started{cmd: exec.Command(unloopBin(), args...), done: make(chan struct{})}
	s.cmd.Env = append(os.Environ(), "UNLOOP_CONFIG="+emptyConfig(t))
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	s.start = time.Now()
	must(t, s.cmd.Start())
	go func() {
		_ = s.cmd.Wait()
		s.end = time.Now()
		close(s.done)
	}()
	t.Cleanup(func() {
		if s.running() {
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

func (s *started) wait(t *testing.T, timeout time.Duration) result {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Fatalf("unloop %s: still running after %v", strings.Join(s.cmd.Args[1:], " "), timeout)
	}
	return result{Stdout: s.stdout.String(), Stderr: s.stderr.String(), Code: s.cmd.ProcessState.ExitCode(), Dur: s.end.Sub(s.start)}
}

func (s *started) running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// changed reads apply's JSON: did this run change the node?
func changed(t *testing.T, r result) bool {
	t.Helper()
	var out struct {
		Changed *bool `json:"changed"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || out.Changed == nil {
		t.Fatalf("apply's JSON: %v: %s", err, r)
	}
	return *out.Changed
}

func journals(t *testing.T, dir string) int {
	t.Helper()
	return len(journalStates(t, dir))
}

// TestApplyWaitsForTheLock: while another unloop holds the lock, two applies
// wait (they don't fail, don't write); once it is free, one fixes the node and
// the other, planning after it, finds nothing to do.
func TestApplyWaitsForTheLock(t *testing.T) {
	orig, args, want := raceSetup(t)
	dir := copyTree(t, orig)
	root, err := hostcfg.NewRoot(dir)
	must(t, err)
	unlock, err := root.Lock(context.Background(), nil)
	must(t, err)
	applyArgs := append([]string{"apply", "--root", dir, "--output", "json"}, args...)
	a, b := startUnloop(t, applyArgs...), startUnloop(t, applyArgs...)
	time.Sleep(time.Second)
	if !a.running() || !b.running() {
		unlock()
		t.Fatalf("an apply did not wait for the lock:\n%s\n%s", a.wait(t, time.Minute), b.wait(t, time.Minute))
	}
	if d := diffStates(state(t, dir), state(t, orig)); d != "" {
		t.Fatalf("an apply wrote while another held the lock:\n%s", d)
	}
	unlock()
	ra, rb := a.wait(t, 30*time.Second), b.wait(t, 30*time.Second)
	if ra.Code != 0 || rb.Code != 0 {
		t.Fatalf("applies after the lock was freed:\n%s\n%s", ra, rb)
	}
	if changed(t, ra) == changed(t, rb) {
		t.Fatalf("want exactly one apply to change the node: %v and %v", changed(t, ra), changed(t, rb))
	}
	if d := diffStates(state(t, dir), want); d != "" {
		t.Fatalf("after both:\n%s", d)
	}
	if n := journals(t, dir); n != 1 {
		t.Fatalf("%d runs journaled, want 1", n)
	}
}

// TestApplyRace starts two and then ten applies at the same instant, several
// times: all exit 0, exactly one changes the node, the node ends as one apply
// leaves it, with one run journaled.
func TestApplyRace(t *testing.T) {
	orig, args, want := raceSetup(t)
	t.Run("no-run-folder", func(t *testing.T) {
		// Two runs that both find /run missing both mkdir it; the loser's
		// EEXIST is taken as a failure instead of "someone made it".
		for range 20 {
			raceOnce(t, orig, args, want, 2)
		}
	})
	// Every node has /run; the trees of the field don't.
	withRun := copyTree(t, orig)
	must(t, os.MkdirAll(filepath.Join(withRun, "run"), 0o755))
	for _, n := range []int{2, 10} {
		for round := range 5 {
			t.Run(strconv.Itoa(n)+"/"+strconv.Itoa(round), func(t *testing.T) {
				raceOnce(t, withRun, args, want, n)
			})
		}
	}
}

// raceOnce starts n applies at once on a copy of orig.
func raceOnce(t *testing.T, orig string, args []string, want map[string]string, n int) {
	t.Helper()
	dir := copyTree(t, orig)
	var wg sync.WaitGroup
	results := make([]result, n)
	gate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			results[i] = run(t, unloopBin(), nil, append([]string{"apply", "--root", dir, "--output", "json"}, args...)...)
		}()
	}
	close(gate)
	wg.Wait()
	changes := 0
	for _, r := range results {
		if r.Code != 0 {
			t.Fatalf("an apply of %d at once failed: %s", n, r)
		}
		if changed(t, r) {
			changes++
		}
	}
	if changes != 1 {
		t.Fatalf("%d of %d applies changed the node, want 1", changes, n)
	}
	if d := diffStates(state(t, dir), want); d != "" {
		t.Fatalf("after %d applies at once:\n%s", n, d)
	}
	if j := journals(t, dir); j != 1 {
		t.Fatalf("%d runs journaled, want 1", j)
	}
}

// TestApplyLoop: ten applies one after the other (a boot unit on a node that
// reboots ten times) change the node once and then nothing; ten rounds of
// apply racing rollback leave the node whole, either fixed or as it was.
func TestApplyLoop(t *testing.T) {
	orig, args, want := raceSetup(t)
	t.Run("sequential", func(t *testing.T) {
		dir := copyTree(t, orig)
		for i := range 10 {
			r := run(t, unloopBin(), nil, append([]string{"apply", "--root", dir, "--output", "json"}, args...)...)
			if !fixedCode(r.Code) || changed(t, r) != (i == 0) {
				t.Fatalf("apply %d: want changed=%v: %s", i+1, i == 0, r)
			}
			if d := diffStates(state(t, dir), want); d != "" {
				t.Fatalf("after apply %d:\n%s", i+1, d)
			}
		}
		if j := journals(t, dir); j != 1 {
			t.Fatalf("%d runs journaled, want 1", j)
		}
	})
	t.Run("apply-vs-rollback", func(t *testing.T) {
		dir := copyTree(t, orig)
		origState := state(t, orig)
		for i := range 10 {
			var wg sync.WaitGroup
			var ra, rr result
			wg.Add(2)
			go func() {
				defer wg.Done()
				ra = run(t, unloopBin(), nil, append([]string{"apply", "--root", dir, "--output", "json"}, args...)...)
			}()
			go func() {
				defer wg.Done()
				rr = run(t, unloopBin(), nil, "rollback", "--root", dir, "--offline")
			}()
			wg.Wait()
			if ra.Code != 0 {
				t.Fatalf("round %d: apply: %s", i, ra)
			}
			if rr.Code != 0 && !strings.Contains(rr.Stderr, "nothing to roll back") {
				t.Fatalf("round %d: rollback: %s", i, rr)
			}
			got := state(t, dir)
			if diffStates(got, want) != "" && diffStates(got, origState) != "" {
				t.Fatalf("round %d: the node is neither fixed nor as it was:\nagainst fixed:\n%s\nagainst original:\n%s", i, diffStates(got, want), diffStates(got, origState))
			}
		}
	})
}

// TestLockTimeout: an apply that can't get the lock within its minute gives
// up with an error that names the holder, and writes nothing.
func TestLockTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a minute for the lock")
	}
	t.Parallel()
	orig, args, _ := raceSetup(t)
	dir := copyTree(t, orig)
	// The holder is another process, as in the field: its pid is in the message.
	holder := exec.Command("flock", filepath.Join(dir, "run/unloop.lock"), "sleep", "90")
	must(t, os.MkdirAll(filepath.Join(dir, "run"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "run/unloop.lock"), nil, 0o644))
	must(t, holder.Start())
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	time.Sleep(200 * time.Millisecond)
	s := startUnloop(t, append([]string{"apply", "--root", dir}, args...)...)
	r := s.wait(t, 75*time.Second)
	if r.Code != 1 || !strings.Contains(r.Stderr, "/run/unloop.lock: another unloop") || !strings.Contains(r.Stderr, "holds the lock") {
		t.Fatalf("apply with the lock held: %s", r)
	}
	if r.Dur < 55*time.Second || r.Dur > 65*time.Second {
		t.Fatalf("gave up after %v, want its 60 s deadline", r.Dur)
	}
	if d := diffStates(state(t, dir), state(t, orig)); d != "" {
		t.Fatalf("apply without the lock wrote:\n%s", d)
	}
}
