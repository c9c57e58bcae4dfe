// The client against grpc-go's real server with k8s.io/cri-api's service: a
// runtime of pod sandboxes only, and runtimes that answer too much. tests/e2e
// runs the same client against containerd.
package cri_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	// A node's proxy settings never send the runtime's socket to a proxy.
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:9")
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

func TestDialNoSocket(t *testing.T) {
	r, err := hostcfg.NewRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cri.Dial(r, "unix:///run/containerd/containerd.sock"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dial without a socket: %v, want not exist", err)
	}
	if _, err := cri.Dial(r, "tcp://10.0.0.1:1234"); err == nil {
		t.Error("Dial of a tcp endpoint: no error")
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
	if sbs, err := c.Sandboxes(ctx); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "code = Unimplemented") {
		t.Errorf("Sandboxes of a runtime without the call: %v, %v; want grpc status 12 (Unimplemented)", sbs, err)
	}
	if err := c.Remove(ctx, "aaa"); status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "code = Unimplemented") {
		t.Errorf("Remove on a runtime without the call: %v, want grpc status 12 (Unimplemented)", err)
	}
}

// listServer answers every list with items.
type listServer struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	items []*runtimeapi.PodSandbox
}

func (s *listServer) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return &runtimeapi.ListPodSandboxResponse{Items: s.items}, nil
}

// list dials srv and lists its sandboxes, returning what the list allocated
// in this process (the server's encoding included).
func list(t *testing.T, srv runtimeapi.RuntimeServiceServer) ([]cri.Sandbox, uint64, error) {
	t.Helper()
	c, err := cri.Dial(serve(t, srv), "unix:///run/containerd/containerd.sock")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sbs, err := c.Sandboxes(ctx)
	runtime.ReadMemStats(&after)
	return sbs, after.TotalAlloc - before.TotalAlloc, err
}

// TestAnswerCap: an answer over the receive cap is an error that says the
// runtime's answer was refused, and the client never reads it whole.
func TestAnswerCap(t *testing.T) {
	big := strings.Repeat("x", 64<<10)
	var items []*runtimeapi.PodSandbox
	for i := range cri.MaxAnswer/len(big) + 1 {
		sb := sandbox(fmt.Sprintf("%064d", i), "default", "web", "u", nil)
		sb.Annotations = map[string]string{"big": big}
		items = append(items, sb)
	}
	sbs, alloc, err := list(t, &listServer{items: items})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "the runtime's answers capped at 4 MiB") {
		t.Fatalf("Sandboxes of a %d-entry answer over 4 MiB: %d sandboxes, %v; want the cap named", len(items), len(sbs), err)
	}
	t.Logf("refused: %v; allocated %.1f MiB", err, float64(alloc)/(1<<20))
	// Just under the cap is read.
	if sbs, _, err := list(t, &listServer{items: items[:len(items)-2]}); err != nil || len(sbs) != len(items)-2 {
		t.Errorf("Sandboxes of an answer under 4 MiB: %d sandboxes, %v", len(sbs), err)
	}
}

// TestEntryBound: a list of more than MaxSandboxes entries, or MaxPairs
// labels and annotations, is refused before it is decoded, however small each
// is on the wire: 1 MiB of empty entries once took 150 MiB.
func TestEntryBound(t *testing.T) {
	empty := &runtimeapi.PodSandbox{}
	flood := make([]*runtimeapi.PodSandbox, 1<<19) // 2 bytes each: 1 MiB
	for i := range flood {
		flood[i] = empty
	}
	labelled := func(n int) []*runtimeapi.PodSandbox {
		sb := &runtimeapi.PodSandbox{Labels: map[string]string{}, Annotations: map[string]string{}}
		for i := range n {
			sb.Labels[strconv.Itoa(i)] = ""
			sb.Annotations[strconv.Itoa(i)] = ""
		}
		items := make([]*runtimeapi.PodSandbox, cri.MaxSandboxes)
		for i := range items {
			items[i] = sb
		}
		return items
	}
	per := cri.MaxPairs / cri.MaxSandboxes / 2 // labels, and as many annotations
	tests := []struct {
		name  string
		items []*runtimeapi.PodSandbox
		want  string // the error, or "" for none
	}{
		{"at the bound", flood[:cri.MaxSandboxes], ""},
		{"one over", flood[:cri.MaxSandboxes+1], "the runtime lists 4097, more than the 4096 unloop takes"},
		{"1 MiB of empty entries", flood, "the runtime lists 524288, more than the 4096 unloop takes"},
		{"labels and annotations at the bound", labelled(per), ""},
		{"labels and annotations over", labelled(per + 1), fmt.Sprintf("carry %d labels and annotations, more than the %d unloop takes", cri.MaxPairs+2*cri.MaxSandboxes, cri.MaxPairs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sbs, alloc, err := list(t, &listServer{items: tt.items})
			t.Logf("%d entries: %d sandboxes, %v; allocated %.1f MiB", len(tt.items), len(sbs), err, float64(alloc)/(1<<20))
			switch {
			case tt.want == "" && (err != nil || len(sbs) != len(tt.items)):
				t.Errorf("Sandboxes = %d sandboxes, %v; want %d", len(sbs), err, len(tt.items))
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Sandboxes = %d sandboxes, %v; want %q", len(sbs), err, tt.want)
			}
			// The server's encoding and the buffers are a few MiB; decoding
			// the flood would be over a hundred.
			if alloc > 32<<20 {
				t.Errorf("allocated %.1f MiB for %d entries, want under 32", float64(alloc)/(1<<20), len(tt.items))
			}
		})
	}
}
