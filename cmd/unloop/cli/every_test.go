package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEvery: check --every repeats until its context ends (the pod's
// SIGTERM), each run reading the node anew and saying its exit status on
// stderr; the process exits with the last run's status, promptly.
func TestEvery(t *testing.T) {
	root := nodeTree(t, loopNode)
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	done := make(chan int)
	go func() {
		done <- Run(ctx, []string{"check", "--every", "20ms", "--root", root, "--offline", "--config", cfg, "--output", "json"},
			Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	}()
	time.Sleep(300 * time.Millisecond)
	cancel()
	var code int
	select {
	case code = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("check --every did not stop within 5 s of its context ending")
	}
	runs := strings.Count(errb.String(), "unloop check: exit 2; next run in 20ms\n")
	if code != 2 || runs < 2 || strings.Count(out.String(), `"status": "error"`) != runs {
		t.Errorf("exit %d (want 2), %d runs, %d reports; stderr:\n%s", code, runs, strings.Count(out.String(), `"status"`), errb.String())
	}

	// Without --every: one run, nothing more on stderr.
	_, stderr, code := run(t, root, "check")
	if code != 2 || stderr != "" {
		t.Errorf("check alone: exit %d, stderr %q", code, stderr)
	}
}
