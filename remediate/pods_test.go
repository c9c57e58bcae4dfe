package remediate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/node"
)

// fakeRuntime is a container runtime whose pods come back as a test says:
// back(id) tells whether kubelet makes a new sandbox after id's removal. The
// real thing is tests/e2e TestRealKubeletFieldReport; a pod that never comes
// back in time is a fault the real kubelet can't be made to show on demand.
type fakeRuntime struct {
	sandboxes []cri.Sandbox
	back      func(id string) bool
	listErr   error // Sandboxes fails (the real failures: cmd/unloop/cli TestRuntimeFaultIsNoLoop)

	mu      sync.Mutex
	removed []string
}

func (f *fakeRuntime) Sandboxes(context.Context) ([]cri.Sandbox, error) {
	return f.sandboxes, f.listErr
}

func (f *fakeRuntime) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed = append(f.removed, id)
	return nil
}

func (f *fakeRuntime) WaitReady(ctx context.Context, old cri.Sandbox) (cri.Sandbox, error) {
	if f.back(old.ID) {
		old.ID += "-new"
		return old, nil
	}
	<-ctx.Done()
	return cri.Sandbox{}, fmt.Errorf("waiting for a new sandbox of pod %s: %w", old.Pod(), ctx.Err())
}

// kubeletBus is a system bus on which kubelet runs or not; restarts succeed.
type kubeletBus struct {
	restartBus
	kubelet bool
}

func (b *kubeletBus) UnitActive(_ context.Context, unit string) (bool, error) {
	return unit != "kubelet.service" || b.kubelet, nil
}

const nodelocaldnsSandbox = "4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899"

// TestRecreatePods: after a verified fix apply removes the stale pods'
// sandboxes through the runtime and waits for kubelet's new ones; a pod not
// back within the wait is listed (apply exits 3 in cmd), and the file fix
// stays. Without kubelet, without a runtime, or told not to, apply removes
// nothing, and lists the pods as still stale.
func TestRecreatePods(t *testing.T) {
	defer func(w time.Duration) { podWait = w }(podWait)
	podWait = 100 * time.Millisecond
	live := cri.Sandbox{ID: nodelocaldnsSandbox, Name: "nodelocaldns-x7k2p", Namespace: "kube-system", UID: "6f1b2c3d-0000-4000-8000-00000000aaaa",
		Labels: map[string]string{"k8s-app": "node-local-dns"}, Ready: true}
	pod := live.Pod()
	tests := []struct {
		name       string
		kubelet    bool
		back       bool
		noRecreate bool
		noSocket   bool
		listErr    error
		removed    []string
		recreated  []string
		stale      []string
		skipped    string
	}{
		{name: "recreated", kubelet: true, back: true, removed: []string{nodelocaldnsSandbox}, recreated: []string{pod}},
		{name: "not back in time", kubelet: true, back: false, removed: []string{nodelocaldnsSandbox}, stale: []string{pod}},
		// Not recreated, the pods still hold the looping copy: listed as
		// stale (exit 3), never done, as check on the node says (issue 25).
		{name: "kubelet not running", kubelet: false, stale: []string{pod}, skipped: "kubelet.service is not running"},
		{name: "--no-recreate-pods", kubelet: true, noRecreate: true, stale: []string{pod}, skipped: "--no-recreate-pods"},
		{name: "no runtime socket", kubelet: true, noSocket: true, stale: []string{pod}, skipped: "no container runtime socket at unix:///run/containerd/containerd.sock"},
		{name: "runtime fails", kubelet: true, listErr: errors.New("listing pod sandboxes: the runtime lists 524288, more than the 4096 unloop takes"), stale: []string{pod},
			skipped: "container runtime at unix:///run/containerd/containerd.sock: listing pod sandboxes: the runtime lists 524288, more than the 4096 unloop takes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "kubespray-pods-containerd.txtar"))
			for _, d := range []string{"var/lib", "run"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			opts := treeOptions(t, comment)
			opts.Offline, opts.NoRecreatePods = false, tt.noRecreate
			rt := &fakeRuntime{sandboxes: []cri.Sandbox{live}, back: func(string) bool { return tt.back }, listErr: tt.listErr}
			var endpoints []string
			env := node.Env{Root: root, Bus: &kubeletBus{restartBus: restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}, kubelet: tt.kubelet},
				Probe:   func(context.Context, netip.Addr) error { return nil },
				Healthz: func(context.Context, string) error { return nil },
				Runtime: func(_ context.Context, endpoint string) (node.Runtime, error) {
					endpoints = append(endpoints, endpoint)
					if tt.noSocket {
						return nil, &fs.PathError{Op: "open", Path: "/run/containerd/containerd.sock", Err: fs.ErrNotExist}
					}
					return rt, nil
				}}
			res, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !res.Verified || res.Run == "" {
				t.Fatalf("apply did not fix the file: run %q verified %v", res.Run, res.Verified)
			}
			if !slices.Equal(rt.removed, tt.removed) || !slices.Equal(res.Recreated, tt.recreated) || !slices.Equal(res.StillStale, tt.stale) {
				t.Errorf("removed %q, recreated %q, still stale %q; want %q, %q, %q", rt.removed, res.Recreated, res.StillStale, tt.removed, tt.recreated, tt.stale)
			}
			var c *Change
			for i := range res.Plan.Changes {
				if res.Plan.Changes[i].Kind == KindPods {
					c = &res.Plan.Changes[i]
				}
			}
			if c == nil || !slices.Equal(c.Pods, []string{pod}) || c.Skipped != tt.skipped {
				t.Fatalf("the plan's pods change: %+v, want %s skipped %q", c, pod, tt.skipped)
			}
			if len(endpoints) == 0 || endpoints[0] != "unix:///run/containerd/containerd.sock" {
				t.Errorf("runtime dialed at %q, want kubelet's default endpoint", endpoints)
			}
			// The file fix stays whatever became of the pods.
			for _, c := range res.Plan.Changes {
				if c.Kind != KindFile {
					continue
				}
				if now, err := os.ReadFile(filepath.Join(dir, c.Path)); err != nil || string(now) != string(c.After) {
					t.Errorf("%s is not what apply wrote (%v)", c.Path, err)
				}
			}
			// A second apply changes no file and recreates the pods still stale.
			rt.removed = nil
			rt.back = func(string) bool { return true }
			res2, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if res2.Run != "" {
				t.Errorf("second apply wrote run %s", res2.Run)
			}
			if tt.skipped == "" && !slices.Equal(rt.removed, []string{nodelocaldnsSandbox}) {
				t.Errorf("second apply removed %q, want the stale pod's sandbox", rt.removed)
			}
		})
	}
}

// TestRuntimeOffline: check --offline never asks the runtime.
func TestRuntimeOffline(t *testing.T) {
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "kubespray-pods-containerd.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	asked := false
	env := node.Env{Root: root, Runtime: func(context.Context, string) (node.Runtime, error) { asked = true; return nil, fs.ErrNotExist }}
	if _, _, err := Check(context.Background(), env, treeOptions(t, comment)); err != nil {
		t.Fatal(err)
	}
	if asked {
		t.Error("check --offline asked the container runtime")
	}
}
