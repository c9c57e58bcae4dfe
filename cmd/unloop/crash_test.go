package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashIsNoLoop: when Go's runtime kills unloop (out of memory, a
// panic; SIGQUIT takes the same path, dumping the stacks) check must not
// exit 2, its "loops found": it once did when a CRI answer ran it out of
// memory. It dies by SIGABRT, which no one reads as a verdict.
func TestCrashIsNoLoop(t *testing.T) {
	bin := goBuild(t, ".")
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A looping node: exit 2 would be a plausible verdict.
	if err := os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 169.254.25.10\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", "--offline", "--root", root, "--config", cfg, "--every", "1h")
	cmd.Dir = t.TempDir() // a core file, if this machine writes one, lands here
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // its first check is done, and it waits for the next
	if err := cmd.Process.Signal(syscall.SIGQUIT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("check --every after SIGQUIT: %v, want it killed", err)
	}
	ws := ee.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGABRT || ee.ExitCode() == 2 {
		t.Errorf("check killed by Go's runtime: %v (exit %d), want SIGABRT, never exit 2", err, ee.ExitCode())
	}
	if !strings.Contains(stderr.String(), "goroutine ") {
		t.Errorf("no stacks on stderr:\n%s", stderr.String())
	}
}
