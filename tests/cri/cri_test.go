// Package cri tests unloop's hand-written CRI client, hostcfg/cri, against
// grpc-go's real server with k8s.io/cri-api's types: test-only libraries, so
// the test lives in this module and not in the product's go.mod.
package cri

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/cri"
)

// runtimeServer is a CRI runtime with pod sandboxes only: removing one
// makes the pod's next, as kubelet would.
type runtimeServer struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	mu      sync.Mutex
	items   []*runtimeapi.PodSandbox
	stopped []string
}

func (s *runtimeServer) ListPodSandbox(_ context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for _, it := range s.items {
		f := req.GetFilter()
		if st := f.GetState(); st != nil && st.State != it.State {
			continue
		}
		if uid, ok := f.GetLabelSelector()["io.kubernetes.pod.uid"]; ok && it.Labels["io.kubernetes.pod.uid"] != uid {
			continue
		}
		resp.Items = append(resp.Items, it)
	}
	return resp, nil
}

func (s *runtimeServer) StopPodSandbox(_ context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = append(s.stopped, req.PodSandboxId)
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (s *runtimeServer) RemovePodSandbox(_ context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, it := range s.items {
		if it.Id == req.PodSandboxId {
			again := &runtimeapi.PodSandbox{Id: it.Id + "-new", Metadata: it.Metadata, Labels: it.Labels,
				State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: it.CreatedAt + 1}
			s.items[i] = again
		}
	}
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func sandbox(id, ns, name, uid string, labels map[string]string) *runtimeapi.PodSandbox {
	l := map[string]string{"io.kubernetes.pod.uid": uid}
	for k, v := range labels {
		l[k] = v
	}
	return &runtimeapi.PodSandbox{Id: id, Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid},
		Labels: l, State: runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: time.Now().UnixNano()}
}

// serve runs srv on run/containerd/containerd.sock under a new root, reached
// through a link as /var/run is on a node.
func serve(t *testing.T, srv runtimeapi.RuntimeServiceServer) *hostcfg.Root {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "run/containerd"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/run", filepath.Join(dir, "var/run")); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "run/containerd/containerd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(g, srv)
	go g.Serve(l)
	t.Cleanup(g.Stop)
	r, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestClient(t *testing.T) {
	srv := &runtimeServer{items: []*runtimeapi.PodSandbox{
		sandbox("aaa", "kube-system", "node-local-dns-n1", "u1", map[string]string{"k8s-app": "node-local-dns"}),
		sandbox("bbb", "default", "web", "u2", nil),
		{Id: "ccc", Metadata: &runtimeapi.PodSandboxMetadata{Name: "gone", Namespace: "default", Uid: "u3"}, State: runtimeapi.PodSandboxState_SANDBOX_NOTREADY, CreatedAt: time.Now().UnixNano() + 1},
	}}
	r := serve(t, srv)
	// The link /var/run -> /run is followed inside the root, not on this machine.
	c, err := cri.Dial(r, "unix:///var/run/containerd/containerd.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sbs, err := c.Sandboxes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sbs) != 3 || sbs[0].Pod() != "kube-system/node-local-dns-n1" || sbs[0].UID != "u1" || sbs[0].Labels["k8s-app"] != "node-local-dns" || !sbs[0].Ready || sbs[2].Ready {
		t.Fatalf("Sandboxes = %+v", sbs)
	}
	if err := c.Remove(ctx, "aaa"); err != nil {
		t.Fatal(err)
	}
	if len(srv.stopped) != 1 || srv.stopped[0] != "aaa" {
		t.Errorf("stopped %v, want aaa stopped before its removal", srv.stopped)
	}
	got, err := c.WaitReady(ctx, sbs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "aaa-new" {
		t.Errorf("WaitReady = %s, want kubelet's new sandbox aaa-new", got.ID)
	}
	// The other pod has no new sandbox: the wait ends with its deadline.
	short, cancel2 := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel2()
	if _, err := c.WaitReady(short, sbs[1]); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("WaitReady of a pod never recreated: %v, want the deadline", err)
	}
}

// TestErrorStatus: an error status from the runtime (here a runtime that
// implements no call: grpc status 12, Unimplemented) is an error naming it.
func TestErrorStatus(t *testing.T) {
	c, err := cri.Dial(serve(t, runtimeapi.UnimplementedRuntimeServiceServer{}), "unix:///run/containerd/containerd.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if sbs, err := c.Sandboxes(ctx); err == nil || !strings.Contains(err.Error(), "grpc status 12") {
		t.Errorf("Sandboxes of a runtime without the call: %v, %v; want grpc status 12 (Unimplemented)", sbs, err)
	}
	if err := c.Remove(ctx, "aaa"); err == nil || !strings.Contains(err.Error(), "grpc status 12") {
		t.Errorf("Remove on a runtime without the call: %v, want grpc status 12 (Unimplemented)", err)
	}
}
