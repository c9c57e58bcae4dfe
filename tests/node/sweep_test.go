package node

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestSweepPodCgroups: a killed run's pod cgroup roots (a node name no
// systemd-nspawn runs under, kubepods folders in it) are gone after a sweep,
// in every hierarchy; a live node's (its name in a running process's "-M
// NAME") and one that holds a process stay.
func TestSweepPodCgroups(t *testing.T) {
	hs := cgroupV1Mounts()
	if len(hs) == 0 {
		t.Fatal("no cgroup v1 hierarchy mounted: kubelet 1.34 runs pods there")
	}
	suffix := time.Now().Format("150405.000000")
	dead, alive, busy := "n-sweep-dead-"+suffix, "n-sweep-alive-"+suffix, "n-sweep-busy-"+suffix
	// A stand-in for the live node's systemd-nspawn: only its arguments count.
	live := exec.Command("sh", "-c", "sleep 60", "-M", alive)
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = live.Process.Kill(); _ = live.Wait() }()
	holder := exec.Command("sleep", "60")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Process.Kill(); _ = holder.Wait() }()

	var dirs []string
	for _, h := range hs {
		for _, name := range []string{dead, alive, busy} {
			d := filepath.Join(h, podCgroupParent, name, "kubepods", "besteffort")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			dirs = append(dirs, filepath.Join(h, podCgroupParent, name))
		}
	}
	t.Cleanup(func() { _ = removeCgroups(dirs) })
	// The holder sits in the busy root's pids cgroup (or the first one).
	hold := filepath.Join(hs[0], podCgroupParent, busy, "kubepods", "besteffort")
	for _, h := range hs {
		if filepath.Base(h) == "pids" {
			hold = filepath.Join(h, podCgroupParent, busy, "kubepods", "besteffort")
		}
	}
	if err := os.WriteFile(filepath.Join(hold, "cgroup.procs"), []byte(strconv.Itoa(holder.Process.Pid)), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := sweepPodCgroups(); err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		if _, err := os.Stat(filepath.Join(h, podCgroupParent, dead)); !os.IsNotExist(err) {
			t.Errorf("%s: the killed run's pod cgroups are still there (%v)", h, err)
		}
		if _, err := os.Stat(filepath.Join(h, podCgroupParent, alive, "kubepods", "besteffort")); err != nil {
			t.Errorf("%s: a live node's pod cgroups were swept: %v", h, err)
		}
	}
	if _, err := os.Stat(hold); err != nil {
		t.Errorf("a pod cgroup that holds a process was swept: %v", err)
	}
}
