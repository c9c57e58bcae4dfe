package reliability

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// crashCase is one node tree and one choice of strategies whose plan changes
// something: every crash point of its apply is tested.
type crashCase struct {
	name    string
	tree    string // the txtar
	args    []string
	changes string // the plan's changes, to skip choices that plan the same
}

// crashCases finds, for every node tree of the field and every choice of
// strategies (auto and each one alone), the plans apply would carry out.
func crashCases(t *testing.T) []crashCase {
	t.Helper()
	trees, err := filepath.Glob(filepath.Join(nodesDir, "*.txtar"))
	if err != nil || len(trees) == 0 {
		t.Fatalf("no node trees in %s: %v", nodesDir, err)
	}
	var cases []crashCase
	seen := map[string]bool{}
	for _, tree := range trees {
		dir, comment := hostcfgtest.Tree(t, tree)
		for _, strategy := range []string{"auto", "kubelet", "stub", "dhclient", "corefile"} {
			args := append([]string{"--root", dir, "--offline", "--strategy", strategy}, treeArgs(comment)...)
			r := run(t, unloopBin(), nil, append([]string{"plan", "--detailed-exitcode", "--output", "json"}, args...)...)
			if r.Code != 2 {
				continue // nothing to do, or apply would refuse
			}
			var pl struct {
				Changes []struct{ Kind, Path, Action, Target, Diff string }
			}
			if err := json.Unmarshal([]byte(r.Stdout), &pl); err != nil {
				t.Fatalf("%s: plan's JSON: %v", tree, err)
			}
			key, _ := json.Marshal(pl.Changes)
			name := strings.TrimSuffix(filepath.Base(tree), ".txtar")
			if seen[name+string(key)] {
				continue
			}
			seen[name+string(key)] = true
			cases = append(cases, crashCase{name: name + "/" + strategy, tree: tree,
				args: append([]string{"--offline", "--strategy", strategy}, treeArgs(comment)...), changes: string(key)})
		}
	}
	if len(cases) < 8 {
		t.Fatalf("only %d node trees plan a change: the crash test would test little", len(cases))
	}
	return cases
}

// TestCrashAtEveryStep kills apply (SIGKILL, nothing cleaned up) right after
// each of its durable steps, for every strategy on every node tree of the
// field, and proves the promises of DESIGN.md §5 after each crash:
//
//   - every path is either as it was or as the finished run leaves it: nothing
//     half-written, nothing missing, no temp file left;
//   - the journal is there and says how far the run got;
//   - the next apply (a) brings the node to what an uninterrupted apply makes,
//     checks clean, and a third changes nothing; rollback (b) brings back the
//     node as it was, byte for byte; an apply killed while it recovers (c) is
//     recovered by the next one;
//   - the lock is not stuck: the next command does not wait.
func TestCrashAtEveryStep(t *testing.T) {
	var points, runs atomic.Int32
	for _, c := range crashCases(t) {
		t.Run(c.name, func(t *testing.T) {
			origDir, _ := hostcfgtest.Tree(t, c.tree)
			orig := state(t, origDir)
			apply := func(bin, dir string, env ...string) result {
				t.Helper()
				runs.Add(1)
				return run(t, bin, env, append([]string{"apply", "--root", dir, "--output", "json"}, c.args...)...)
			}

			// An uninterrupted run, traced: its end state and its crash points.
			refDir := copyTree(t, origDir)
			trace := filepath.Join(t.TempDir(), "trace")
			if r := apply(unloopCrashBin(), refDir, "UNLOOP_CRASH_TRACE="+trace); !fixedCode(r.Code) {
				t.Fatalf("apply: %s", r)
			}
			want := state(t, refDir)
			// What a second apply says after an uninterrupted run: 0, or 3
			// where a DNS pod still holds its old copy (offline, not
			// recreated), which only recreating it fixes.
			wantAgain := apply(unloopBin(), copyTree(t, refDir)).Code
			// What check says after an uninterrupted run: 0, or 2 where pods
			// still hold their old copy (pod-resolv-conf-stale), which only
			// recreating them fixes.
			wantCheck := run(t, unloopBin(), nil, append([]string{"check", "--root", refDir}, checkArgs(c.args)...)...).Code
			steps := traceLines(t, trace)
			if len(steps) < 3 || steps[0] != "journaled" || steps[len(steps)-1] != "applied" {
				t.Fatalf("crash points of a run: %q, want journaled ... applied", steps)
			}

			for _, step := range steps {
				t.Run(strings.ReplaceAll(step, "/", "∕"), func(t *testing.T) {
					points.Add(1)
					crashed := copyTree(t, origDir)
					r := apply(unloopCrashBin(), crashed, "UNLOOP_CRASH_AT="+step)
					if r.Signal != syscall.SIGKILL {
						t.Fatalf("apply with UNLOOP_CRASH_AT=%q was not killed: %s", step, r)
					}
					allOrNothing(t, state(t, crashed), orig, want)
					wantState := "started"
					if step == "applied" {
						wantState = "applied"
					}
					if got := journalStates(t, crashed); !slices.Equal(got, []string{wantState}) {
						t.Fatalf("journal after the crash: runs in states %q, want one %s", got, wantState)
					}
					forRollback := copyTree(t, crashed)
					forRecoveryCrash := copyTree(t, crashed)

					// (a) the next apply finishes the job.
					r = apply(unloopBin(), crashed)
					done := `"verified": true` // the run is carried out again
					if step == "applied" {
						done = `"changed": false` // it had finished
					}
					if !(fixedCode(r.Code) || r.Code == wantAgain) || !strings.Contains(r.Stdout, done) {
						t.Fatalf("apply after the crash: want %s: %s", done, r)
					}
					notWaited(t, r)
					if d := diffStates(state(t, crashed), want); d != "" {
						t.Fatalf("apply after a crash at %q does not leave what an uninterrupted apply leaves:\n%s", step, d)
					}
					if r := run(t, unloopBin(), nil, append([]string{"check", "--root", crashed}, checkArgs(c.args)...)...); r.Code != wantCheck {
						t.Fatalf("check after recovery: want exit %d, as after an uninterrupted run: %s", wantCheck, r)
					}
					if r := apply(unloopBin(), crashed); r.Code != wantAgain || !strings.Contains(r.Stdout, `"changed": false`) {
						t.Fatalf("a second apply after recovery changed something: %s", r)
					}

					// (b) rollback puts the node back as it was.
					r = run(t, unloopBin(), nil, "rollback", "--root", forRollback, "--offline")
					if r.Code != 0 {
						t.Fatalf("rollback after the crash: %s", r)
					}
					notWaited(t, r)
					if d := diffStates(state(t, forRollback), orig); d != "" {
						t.Fatalf("rollback after a crash at %q does not bring the node back:\n%s", step, d)
					}

					// (c) a crash while recovering from the crash.
					r = apply(unloopCrashBin(), forRecoveryCrash, "UNLOOP_CRASH_AT=recovered")
					switch {
					case step == "applied":
						if r.Code != wantAgain { // a finished run needs no recovery: a second apply
							t.Fatalf("apply after a crash past the end: %s", r)
						}
					case r.Signal != syscall.SIGKILL:
						t.Fatalf("apply did not recover the crashed run: %s", r)
					default:
						points.Add(1)
						if d := diffStates(state(t, forRecoveryCrash), orig); d != "" {
							t.Fatalf("killed right after recovering, the node is not as it was:\n%s", d)
						}
						if r := apply(unloopBin(), forRecoveryCrash); !fixedCode(r.Code) {
							t.Fatalf("apply after a crash in recovery: %s", r)
						}
						if d := diffStates(state(t, forRecoveryCrash), want); d != "" {
							t.Fatalf("apply after a crash in recovery:\n%s", d)
						}
					}
				})
			}
		})
	}
	t.Logf("crash points tested: %d (runs of unloop: %d)", points.Load(), runs.Load())
}

// allOrNothing fails unless every path of got is as in orig or as in want
// (absent counting as a state): no half-written file, no stray temp file.
func allOrNothing(t *testing.T, got, orig, want map[string]string) {
	t.Helper()
	allOrNothingBut(t, got, orig, want, func(string) bool { return false })
}

// tempName matches renameio's temp files and a temp link's folder: what a
// write killed before its rename leaves, for the next run to remove.
var tempName = regexp.MustCompile(`(^|/)\.[^/]+[0-9]+(/tmp\.symlink)?$`)

// allOrNothingBut is allOrNothing that lets paths for which ignore is true be.
func allOrNothingBut(t *testing.T, got, orig, want map[string]string, ignore func(string) bool) {
	t.Helper()
	paths := map[string]bool{}
	for _, m := range []map[string]string{got, orig, want} {
		for k := range m {
			paths[k] = true
		}
	}
	for p := range paths {
		g, gok := got[p]
		if ignore(p) && gok {
			continue
		}
		o, ook := orig[p]
		w, wok := want[p]
		if (gok == ook && g == o) || (gok == wok && g == w) {
			continue
		}
		t.Errorf("%s after the crash is neither the original nor the result:\n  got  %.300q (exists %v)\n  orig %.300q (exists %v)\n  want %.300q (exists %v)", p, g, gok, o, ook, w, wok)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// journalStates lists the state of every journaled run under dir.
func journalStates(t *testing.T, dir string) []string {
	t.Helper()
	manifests, err := filepath.Glob(filepath.Join(dir, "var/lib/unloop/runs/*/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range manifests {
		data, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var j struct{ State string }
		if err := json.Unmarshal(data, &j); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		out = append(out, j.State)
	}
	return out
}

// notWaited fails when a command took long enough to have waited for a lock
// nobody holds any more (a killed process's lock is released by the kernel).
func notWaited(t *testing.T, r result) {
	t.Helper()
	if r.Dur > 5*time.Second {
		t.Fatalf("took %v: did it wait for the killed run's lock?", r.Dur)
	}
}

func traceLines(t *testing.T, p string) []string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(bytes.TrimSpace(data)), "\n")
}

// TestShippedBinaryHasNoCrashPoints: the binary that ships ignores the
// variables, and does not even contain them.
func TestShippedBinaryHasNoCrashPoints(t *testing.T) {
	bin, err := os.ReadFile(unloopBin())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bin, []byte("UNLOOP_CRASH_AT")) {
		t.Fatal("the normal build contains the crash test seam")
	}
	crash, err := os.ReadFile(unloopCrashBin())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(crash, []byte("UNLOOP_CRASH_AT")) {
		t.Fatal("the crashtest build has no crash points: the crash tests test nothing")
	}
	dir, comment := hostcfgtest.Tree(t, filepath.Join(nodesDir, "rhel-kubespray-dhclient.txtar"))
	r := run(t, unloopBin(), []string{"UNLOOP_CRASH_AT=journaled"}, append([]string{"apply", "--root", dir, "--offline"}, treeArgs(comment)...)...)
	if !fixedCode(r.Code) {
		t.Fatalf("apply: %s", r)
	}
}

// TestKillAnywhere kills apply at random moments rather than at its named
// steps: in the middle of a write, between a temp file and its rename, while
// the journal is written. The same promises must hold.
func TestKillAnywhere(t *testing.T) {
	for _, tc := range []struct{ tree, strategy string }{
		{"rhel-kubespray-dhclient", "dhclient"}, // three files
		{"ubuntu-2004-kubeadm-stub", "stub"},    // a file and a link
	} {
		t.Run(tc.tree+"/"+tc.strategy, func(t *testing.T) {
			origDir, comment := hostcfgtest.Tree(t, filepath.Join(nodesDir, tc.tree+".txtar"))
			args := append([]string{"--offline", "--strategy", tc.strategy}, treeArgs(comment)...)
			orig := state(t, origDir)
			// A whole run's time, from a few runs (the first is slow: cold caches).
			var want map[string]string
			var durs []time.Duration
			for range 5 {
				refDir := copyTree(t, origDir)
				ref := run(t, unloopBin(), nil, append([]string{"apply", "--root", refDir}, args...)...)
				if !fixedCode(ref.Code) {
					t.Fatalf("apply: %s", ref)
				}
				want = state(t, refDir)
				durs = append(durs, ref.Dur)
			}
			slices.Sort(durs)
			whole := durs[len(durs)/2]
			rng := rand.New(rand.NewPCG(1, 2))
			killed, temps := 0, 0
			for attempt := 0; killed < 60; attempt++ {
				if attempt == 500 {
					t.Fatalf("only %d of 500 runs were killed before they finished (a run takes %v)", killed, whole)
				}
				dir := copyTree(t, origDir)
				// From right after exec to the end of a whole run.
				delay := time.Duration(rng.Int64N(int64(whole)))
				code, sig := killAfter(t, delay, append([]string{"apply", "--root", dir}, args...)...)
				if sig != syscall.SIGKILL {
					if !fixedCode(code) {
						t.Fatalf("apply not killed exited %d", code)
					}
					continue
				}
				killed++
				// A kill between a temp file and its rename leaves the temp
				// file: the next apply or rollback must remove it.
				allOrNothingBut(t, state(t, dir), orig, want, tempName.MatchString)
				for p := range state(t, dir) {
					if tempName.MatchString(p) {
						temps++
						break
					}
				}
				back := copyTree(t, dir)
				if r := run(t, unloopBin(), nil, append([]string{"apply", "--root", dir}, args...)...); !fixedCode(r.Code) {
					t.Fatalf("apply after a kill at %v: %s", delay, r)
				}
				if d := diffStates(state(t, dir), want); d != "" {
					t.Fatalf("apply after a kill at %v:\n%s", delay, d)
				}
				r := run(t, unloopBin(), nil, "rollback", "--root", back, "--offline")
				if r.Code != 0 && !strings.Contains(r.Stderr, "nothing to roll back") {
					t.Fatalf("rollback after a kill at %v: %s", delay, r)
				}
				if d := diffStates(state(t, back), orig); d != "" {
					t.Fatalf("rollback after a kill at %v:\n%s", delay, d)
				}
			}
			t.Logf("killed %d runs at random moments (a whole run takes %v); %d left a temp file", killed, whole, temps)
		})
	}
}

// killAfter starts unloop and SIGKILLs it after delay (unless it ended first).
func killAfter(t *testing.T, delay time.Duration, args ...string) (int, syscall.Signal) {
	t.Helper()
	cmd := exec.Command(unloopBin(), args...)
	cmd.Env = append(os.Environ(), "UNLOOP_CONFIG="+emptyConfig(t))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	_ = cmd.Process.Signal(syscall.SIGKILL)
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return -1, ws.Signal()
		}
		return ee.ExitCode(), 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, 0
}
