package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
)

// mountNSEnv names, in the child process, the test that runs there.
const mountNSEnv = "UNLOOP_TEST_MOUNT_NAMESPACE"

// inMountNamespace runs the calling top-level test again in a child process
// with a private mount namespace, and reports the child's result; it returns
// true in the child, where the test goes on and may mount freely (nothing
// reaches the machine). A whole process, not one locked thread, because apply
// takes the lock and probes on goroutines of other threads.
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(mountNSEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("mount namespaces need root")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), mountNSEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS} // Go makes / private in the child
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Skipf("no mount namespace: %v", err)
		}
		t.Fatalf("in a private mount namespace: %v\n%s", err, out)
	}
	if bytes.Contains(out, []byte("--- SKIP: "+t.Name())) {
		t.Skipf("skipped in the child:\n%s", out)
	}
	if !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("the child did not run %s:\n%s", t.Name(), out)
	}
	t.Logf("in a private mount namespace:\n%s", out)
	return false
}

// bindSelf bind-mounts the host path hp onto itself and remounts it read-only
// or writable (a bind inherits the flags of the mount it comes from).
func bindSelf(t *testing.T, hp string, readOnly bool) {
	t.Helper()
	if err := syscall.Mount(hp, hp, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind mount %s: %v", hp, err)
	}
	t.Cleanup(func() { syscall.Unmount(hp, syscall.MNT_DETACH) })
	flags := uintptr(syscall.MS_BIND | syscall.MS_REMOUNT)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("", hp, "", flags, ""); err != nil {
		t.Fatalf("remount %s (read-only %v): %v", hp, readOnly, err)
	}
}

// faultEnv is an offline apply's environment whose log lists what was written.
func faultEnv(t *testing.T, dir string) (node.Env, *bytes.Buffer) {
	t.Helper()
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	return node.Env{Root: root, Log: slog.New(slog.NewTextHandler(&log, nil))}, &log
}

// sameTree fails the test when the tree is not what it was, byte for byte,
// mode and owner (unloop's journal and lock apart).
func sameTree(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k := range maps.Keys(before) {
		if a, ok := after[k]; !ok {
			t.Errorf("%s is gone; was %q", k, before[k])
		} else if a != before[k] {
			t.Errorf("%s is %q, was %q", k, a, before[k])
		}
	}
	for k := range maps.Keys(after) {
		if _, ok := before[k]; !ok {
			t.Errorf("%s is left: %q", k, after[k])
		}
	}
}

// checkRolledBack: apply failed at step after writing the paths in wrote, said
// so, rolled every one back, and the journal says rolled-back.
func checkRolledBack(t *testing.T, env node.Env, res *Result, err error, log *bytes.Buffer, step string, wrote []string, cause error) {
	t.Helper()
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("apply: %v, want a failure at step %q", err, step)
	}
	if se.Step != step || !se.RollbackOK || !res.RolledBack {
		t.Errorf("failed at %q (rollback ok %v, rolled back %v), want %q rolled back", se.Step, se.RollbackOK, res.RolledBack, step)
	}
	if cause != nil && !errors.Is(err, cause) {
		t.Errorf("error %v does not wrap %v", err, cause)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, step+": ") || !strings.Contains(msg, "every change of the run was rolled back") {
		t.Errorf("message %q does not name the step %q and the rollback", msg, step)
	}
	for _, p := range wrote {
		if !strings.Contains(log.String(), "msg=wrote path="+p+" ") && !strings.Contains(log.String(), "msg=linked path="+p+" ") {
			t.Errorf("%s was not written before the failure: nothing to roll back there\n%s", p, log)
		}
	}
	// Its journal says rolled back, or, when the disk had no room to say so,
	// is gone: a journal left "started" would be replayed by the next apply.
	j, jerr := journal.Load(env.Root, res.Run)
	switch {
	case errors.Is(jerr, journal.ErrNoRun) && strings.Contains(log.String(), "its journal could not be marked so and was removed"):
	case jerr != nil:
		t.Fatalf("the failed run's journal: %v", jerr)
	case j.State != journal.RunRolledBack:
		t.Errorf("the run's journal says %s, want %s", j.State, journal.RunRolledBack)
	}
}

// TestApplyWriteFailsReadOnly: a write that fails halfway through a run (a
// read-only folder, a read-only bind-mounted file, a read-only /etc when the
// link is swapped) after earlier writes succeeded. Real read-only mounts: root
// writes through chmod 0444. Apply names the step, rolls the earlier writes
// back, and the tree is byte-identical.
func TestApplyWriteFailsReadOnly(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	tests := []struct {
		name     string
		tree     string
		strategy []string
		ro, rw   []string // node paths bind-mounted read-only, then writable again inside them
		step     string
		wrote    []string // written before the failure, so rolled back
	}{
		{
			name: "a read-only folder", tree: "rhel-kubespray-dhclient", strategy: []string{"kubelet"},
			ro:   []string{"/etc/kubernetes"},
			step: "writing /etc/kubernetes/kubelet-config.yaml", wrote: []string{UnloopResolvConf},
		},
		{
			// As a container runtime mounts it: rename gets EBUSY, the
			// in-place write EROFS.
			name: "a read-only bind-mounted file", tree: "rhel-kubespray-dhclient", strategy: []string{"dhclient"},
			ro:   []string{"/etc/resolv.conf"},
			step: "writing /etc/resolv.conf", wrote: []string{RHELHook, "/etc/dhcp/dhclient.conf"},
		},
		{
			name: "a read-only /etc when the link is swapped", tree: "ubuntu-2004-kubeadm-stub", strategy: []string{"stub"},
			ro: []string{"/etc"}, rw: []string{"/etc/systemd"},
			step: "linking /etc/resolv.conf", wrote: []string{StubDropIn},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			env, log := faultEnv(t, dir)
			opts := treeOptions(t, comment)
			opts.Strategies = tt.strategy
			if err := env.Root.MkdirAll("/run", 0o755); err != nil { // the lock's folder, outside the read-only parts
				t.Fatal(err)
			}
			for _, p := range tt.ro {
				bindSelf(t, filepath.Join(dir, p), true)
			}
			for _, p := range tt.rw {
				bindSelf(t, filepath.Join(dir, p), false)
			}
			before := hostcfgtest.State(t, dir, unloopOwn)

			res, err := Apply(context.Background(), env, opts)
			checkRolledBack(t, env, res, err, log, tt.step, tt.wrote, syscall.EROFS)
			sameTree(t, before, hostcfgtest.State(t, dir, unloopOwn))
		})
	}
}

// TestApplyDiskFull runs each strategy on a node whose root is a 64 KiB tmpfs,
// filled so that 0, 1, 2, ... pages are left, until apply succeeds: with too
// little room it can't journal, then it journals but can't write, and every
// such failure leaves the tree byte-identical (rollback frees what the run
// took, and the journal can still be marked rolled back).
func TestApplyDiskFull(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	tests := []struct {
		tree     string
		strategy []string
	}{
		{"rhel-kubespray-dhclient", []string{"kubelet"}},
		{"rhel-kubespray-dhclient", []string{"dhclient"}},
		{"ubuntu-2004-kubeadm-stub", []string{"stub"}},
	}
	for _, tt := range tests {
		t.Run(tt.tree+"/"+strings.Join(tt.strategy, ","), func(t *testing.T) {
			ar, err := txtar.ParseFile(filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			if err != nil {
				t.Fatal(err)
			}
			var outcomes []string
			journalFailed, writeFailed := false, false
			for free := 0; ; free++ {
				if free > 12 {
					t.Fatalf("apply still fails with %d pages free: %q", free, outcomes)
				}
				dir := t.TempDir()
				if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0755"); err != nil {
					t.Fatalf("tmpfs: %v", err)
				}
				t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
				if err := hostcfgtest.Write(dir, ar); err != nil {
					t.Fatal(err)
				}
				fill(t, filepath.Join(dir, "filler"), free)
				env, log := faultEnv(t, dir)
				opts := treeOptions(t, string(ar.Comment))
				opts.Strategies = tt.strategy
				before := hostcfgtest.State(t, dir, unloopOwn)

				res, err := Apply(context.Background(), env, opts)
				var se *StepError
				switch {
				case err == nil:
					outcomes = append(outcomes, fmt.Sprintf("%d free: applied", free))
					if !journalFailed || !writeFailed {
						t.Fatalf("apply succeeded before both a journal and a write failed: %q", outcomes)
					}
					if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
						t.Fatalf("rollback with %d pages free: %v", free, err)
					}
					sameTree(t, before, hostcfgtest.State(t, dir, unloopOwn))
					t.Logf("%q", outcomes)
					return
				case errors.As(err, &se):
					outcomes = append(outcomes, fmt.Sprintf("%d free: %v", free, err))
					checkRolledBack(t, env, res, err, log, se.Step, nil, syscall.ENOSPC)
					writeFailed = writeFailed || strings.HasPrefix(se.Step, "writing ") || strings.HasPrefix(se.Step, "linking ")
				default:
					// Before the first change: the lock or the journal.
					outcomes = append(outcomes, fmt.Sprintf("%d free: %v", free, err))
					if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "journaling run ") {
						t.Fatalf("with %d pages free: %v, want a journaling error for a full disk", free, err)
					}
					if res != nil && res.Run != "" {
						t.Errorf("run %s returned by a run that could not journal", res.Run)
					}
					journalFailed = true
				}
				if t.Failed() {
					t.Fatalf("with %d pages free: %q", free, outcomes)
				}
				sameTree(t, before, hostcfgtest.State(t, dir, unloopOwn))
			}
		})
	}
}

// fill writes the file hp so that pages pages are left free in its file system.
func fill(t *testing.T, hp string, pages int) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(filepath.Dir(hp), &st); err != nil {
		t.Fatal(err)
	}
	n := int64(st.Bavail) - int64(pages)
	if n < 0 {
		t.Fatalf("only %d pages free, want %d", st.Bavail, pages)
	}
	if err := os.WriteFile(hp, make([]byte, n*st.Bsize), 0o644); err != nil {
		t.Fatalf("filling: %v", err)
	}
	if err := syscall.Statfs(filepath.Dir(hp), &st); err != nil {
		t.Fatal(err)
	}
	if int(st.Bavail) != pages {
		t.Fatalf("%d pages free after filling, want %d", st.Bavail, pages)
	}
}
