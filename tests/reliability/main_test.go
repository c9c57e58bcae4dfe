// Package reliability proves what DESIGN.md §5 promises about apply by
// running the real binary the way a boot unit or Ansible would: killed at
// every durable step, fed hostile files, confined by --root, raced against
// itself, cut off from its bus; and measures how fast it is (benchmarks).
//
// Two binaries are built once per run: the one that ships, and one built with
// -tags crashtest whose crash points (remediate/crashpoint_crashtest.go) can
// kill it at a named step.
package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/tests/testbed"
)

// binDir holds the binaries of this run: unloop, unloop-crash and benchrun.
var binDir string

func unloopBin() string      { return filepath.Join(binDir, "unloop") }
func unloopCrashBin() string { return filepath.Join(binDir, "unloop-crash") }

func TestMain(m *testing.M) {
	binDir = testbed.Build("reliability",
		testbed.Binary{Name: "unloop"},
		testbed.Binary{Name: "unloop-crash", Flags: []string{"-tags", "crashtest"}},
		testbed.Binary{Name: "benchrun", Pkg: "github.com/unloop/unloop/tests/reliability/benchrun"})
	os.Exit(testbed.Run(m, binDir))
}

// result is one run of a command.
type result struct {
	Stdout, Stderr string
	Code           int            // exit status; -1 when a signal ended it
	Signal         syscall.Signal // the signal that ended it, if one did
	Dur            time.Duration
}

func (r result) String() string {
	how := fmt.Sprintf("exit %d", r.Code)
	if r.Signal != 0 {
		how = "killed by " + r.Signal.String()
	}
	return fmt.Sprintf("%s after %v\nstdout:\n%s\nstderr:\n%s", how, r.Dur, r.Stdout, r.Stderr)
}

// cmdTimeout bounds every command: far above what any of them should take,
// below apply's own 60 s lock wait, so a stuck lock shows as a failure.
const cmdTimeout = 45 * time.Second

// run runs bin with args and extra environment, bounded by cmdTimeout. The
// machine's own /etc/unloop/unloop.yaml never leaks in.
// fixedCode says whether apply's exit code means the node's fix is written:
// 0, or 4 when a restart was skipped (under --root the runs are offline, so
// a kubelet fix is in the files and not yet in effect: DESIGN.md §4).
func fixedCode(code int) bool { return code == 0 || code == 4 }

func run(t testing.TB, bin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(append(os.Environ(), "UNLOOP_CONFIG="+emptyConfig(t)), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String(), Dur: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: still running after %v (a hang, or a lock that stayed taken)\n%s", filepath.Base(bin), strings.Join(args, " "), cmdTimeout, r)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Signal = ws.Signal()
		}
	default:
		t.Fatalf("%s %s: %v", filepath.Base(bin), strings.Join(args, " "), err)
	}
	return r
}

// emptyConfig is an empty unloop.yaml of the test's own.
func emptyConfig(t testing.TB) string {
	p := filepath.Join(binDir, "empty-unloop.yaml")
	if _, err := os.Stat(p); err != nil {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// nodesDir holds the field's node trees (remediate's test data).
var nodesDir = filepath.Join("..", "..", "remediate", "testdata", "nodes")

// treeArgs turns a node tree's comment lines ("upstream: 10.9.9.9") into flags.
func treeArgs(comment string) []string {
	var out []string
	for _, line := range strings.Split(comment, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "local-ip", "upstream", "corefile":
			out = append(out, "--"+k, v)
		}
	}
	return out
}

// checkArgs are the arguments of plan or apply that check takes too: it has
// no --strategy or --upstream, and refuses flags it does not take.
func checkArgs(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--strategy" || args[i] == "--upstream" {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// unloopOwn are the paths apply adds on purpose: the journal and the lock.
func unloopOwn(rel string) bool {
	return strings.HasPrefix(rel, "var/lib/unloop") || rel == "run/unloop.lock"
}

// state is hostcfgtest.State without unloop's own paths.
func state(t testing.TB, dir string) map[string]string {
	t.Helper()
	return hostcfgtest.State(t, dir, unloopOwn)
}

// diffStates describes how got differs from want, "" when it doesn't.
func diffStates(got, want map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(want)) {
		g, ok := got[k]
		switch {
		case !ok:
			fmt.Fprintf(&b, "%s: missing, want %.200q\n", k, want[k])
		case g != want[k]:
			fmt.Fprintf(&b, "%s:\n  got  %.300q\n  want %.300q\n", k, g, want[k])
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[k]; !ok {
			fmt.Fprintf(&b, "%s: unexpected %.200q\n", k, got[k])
		}
	}
	return b.String()
}

// copyTree copies the folder src (files, links, modes) into a new temp folder.
func copyTree(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput()
	if err != nil {
		t.Fatalf("copying %s: %v: %s", src, err, out)
	}
	return dst
}
