package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// BenchmarkCheckOfflineProcess runs the real binary, as a boot unit or
// Ansible would, on a typical node tree (RHEL, Kubespray, dhclient: the field
// report) and reports the median wall time and the peak RSS of the process.
func BenchmarkCheckOfflineProcess(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "unloop")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	root, _ := hostcfgtest.Tree(b, filepath.Join("..", "..", "remediate", "testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	cfg := filepath.Join(b.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	var times []time.Duration
	var maxRSS int64
	b.ResetTimer()
	for b.Loop() {
		cmd := exec.Command(bin, "check", "--offline", "--root", root, "--config", cfg)
		start := time.Now()
		err := cmd.Run()
		times = append(times, time.Since(start))
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			b.Fatalf("check: %v, want exit 2", err)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && ru.Maxrss > maxRSS {
			maxRSS = ru.Maxrss
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(maxRSS)/1024, "MB-peak-rss")
}
