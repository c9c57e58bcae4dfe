package reliability

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRecoveryConflictAtBoot: apply is killed right after it restarted
// kubelet; then an admin edits kubelet's config, which the run had changed.
// The boot unit's apply recovers the killed run: it keeps the admin's newer
// content, marks the run conflict, says so in the unit's journal, plans from
// the node as it is now, and succeeds with nobody there. (kubelet keeps
// running: the admin's edit is theirs to restart for.)
func TestRecoveryConflictAtBoot(t *testing.T) {
	b := newBed(t, "bookworm")
	n := b.Node
	orig, err := n.ReadFile("/var/lib/kubelet/config.yaml")
	must(t, err)
	crash := b.unloop(2*time.Minute, "unloop-crash", []string{"UNLOOP_CRASH_AT=restarted kubelet.service"}, "apply", "--strategy", "kubelet")
	if crash.Signal != syscall.SIGKILL {
		t.Fatalf("apply was not killed after restarting kubelet: %s", crash)
	}
	cfg, err := n.ReadFile("/var/lib/kubelet/config.yaml")
	must(t, err)
	if string(cfg) == string(orig) {
		t.Fatalf("the killed run had not changed kubelet's config:\n%s", cfg)
	}
	const admin = "# admin: kept through unloop's recovery\n"
	edited := string(cfg) + admin
	must(t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(edited), 0o644))

	// The boot unit, as configs/unloop.service runs it.
	unit, err := os.ReadFile(filepath.Join("..", "..", "configs", "unloop.service"))
	must(t, err)
	must(t, n.WriteFile("/etc/systemd/system/unloop.service",
		[]byte(strings.Replace(string(unit), "ExecStart=/usr/bin/unloop apply", "ExecStart=/opt/unloop/unloop apply --strategy kubelet", 1)), 0o644))
	n.Run("systemctl", "daemon-reload")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.Exec(ctx, "systemctl", "start", "unloop.service")
	log, _ := n.Exec(context.Background(), "journalctl", "-b", "-u", "unloop.service", "--no-pager", "-o", "cat")
	if err != nil {
		t.Fatalf("the boot unit failed: %v %s\n%s", err, out, log)
	}
	t.Logf("the boot unit's log:\n%s", log)
	if !strings.Contains(log, "kept newer content") || !strings.Contains(log, "path=/var/lib/kubelet/config.yaml") {
		t.Errorf("the boot unit did not say it kept the newer content")
	}

	cfg, err = n.ReadFile("/var/lib/kubelet/config.yaml")
	must(t, err)
	if !strings.Contains(string(cfg), admin) {
		t.Fatalf("the admin's edit is gone:\n%s", cfg)
	}
	if !b.active("kubelet.service") {
		t.Errorf("kubelet is not active:\n%s", b.journal("kubelet.service"))
	}
	r := b.unloop(time.Minute, "unloop", nil, "runs", "--output", "json")
	var runs struct {
		Runs []struct {
			State string `json:"state"`
		} `json:"runs"`
	}
	must(t, json.Unmarshal([]byte(r.Stdout), &runs))
	var states []string
	for _, run := range runs.Runs {
		states = append(states, run.State)
	}
	if !strings.Contains(strings.Join(states, " "), "conflict") {
		t.Errorf("runs in states %q, want the killed one in conflict", states)
	}
	if r := b.unloop(time.Minute, "unloop", nil, "check"); r.Code != 0 {
		t.Errorf("check after the boot unit: %s", r)
	}
}

// TestTermDuringKubeletWatch: SIGTERM (systemd stopping the unit, a
// cancelled Ansible task) reaches apply while it watches kubelet after its
// restart. apply rolls back, and the rollback still restarts kubelet, which
// then runs with its old config: the rollback's restart has a deadline of its
// own, not the cancelled context (kubelet was left on unloop's file, which the
// rollback had deleted).
func TestTermDuringKubeletWatch(t *testing.T) {
	b := newBed(t, "bookworm")
	orig := b.nodeState()
	r := b.unloop(2*time.Minute, "unloop-crash", []string{"UNLOOP_TERM_AT=watching kubelet.service"}, "apply", "--strategy", "kubelet", "--output", "json")
	if r.Code != 1 || !strings.Contains(r.Stderr, "restarting kubelet.service") || !strings.Contains(r.Stderr, "every change of the run was rolled back") {
		t.Fatalf("apply under SIGTERM: %s", r)
	}
	if d := diffStates(b.nodeState(), orig); d != "" {
		t.Fatalf("the files are not as they were:\n%s", d)
	}
	if !b.active("kubelet.service") {
		t.Fatalf("kubelet is not active:\n%s", b.journal("kubelet.service"))
	}
	if ok, desc := b.kubeletConsistent(); !ok {
		t.Fatalf("kubelet was not restarted on its old config:\n%s", desc)
	}
}
