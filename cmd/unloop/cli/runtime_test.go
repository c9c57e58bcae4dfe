package cli

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/unloop/unloop/hostcfg/cri"
)

// faultyRuntime is a CRI runtime whose ListPodSandbox answers too much, or
// fails, as a runtime out of memory does.
type faultyRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	list func() (*runtimeapi.ListPodSandboxResponse, error)
}

func (r *faultyRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return r.list()
}

// serveRuntime runs rt with grpc-go's real server on containerd's socket
// under root.
func serveRuntime(t *testing.T, root string, rt runtimeapi.RuntimeServiceServer) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(root, "run/containerd"), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(root, "run/containerd/containerd.sock"))
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.MaxSendMsgSize(64 << 20))
	runtimeapi.RegisterRuntimeServiceServer(g, rt)
	go g.Serve(l)
	t.Cleanup(g.Stop)
}

// runOnline runs unloop online on root, with no system bus to reach (the
// runtime is asked all the same).
func runOnline(t *testing.T, root string, args ...string) (string, string, int) {
	t.Helper()
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args = append(args, "--root", root, "--config", cfg)
	code := Run(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

// TestRuntimeFaultIsNoLoop: a runtime that answers over the receive cap,
// lists more sandboxes than unloop takes, or fails, is never a loop: check
// on a clean node says so in a note and exits 0, not 2.
func TestRuntimeFaultIsNoLoop(t *testing.T) {
	empty := make([]*runtimeapi.PodSandbox, cri.MaxSandboxes+1)
	for i := range empty {
		empty[i] = &runtimeapi.PodSandbox{}
	}
	big := &runtimeapi.PodSandbox{Annotations: map[string]string{"big": strings.Repeat("x", cri.MaxAnswer)}}
	for _, c := range []struct {
		name, note string
		list       func() (*runtimeapi.ListPodSandboxResponse, error)
	}{
		{"over the cap", "capped at 4 MiB", func() (*runtimeapi.ListPodSandboxResponse, error) {
			return &runtimeapi.ListPodSandboxResponse{Items: []*runtimeapi.PodSandbox{big}}, nil
		}},
		{"too many sandboxes", "more than the 4096 unloop takes", func() (*runtimeapi.ListPodSandboxResponse, error) {
			return &runtimeapi.ListPodSandboxResponse{Items: empty}, nil
		}},
		{"fails", "cannot allocate memory", func() (*runtimeapi.ListPodSandboxResponse, error) {
			// The runtime's own text: it must not forge a line of the report.
			return nil, status.Error(codes.ResourceExhausted, "cannot allocate memory\nFORGED: no DNS forwarding loop")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := nodeTree(t, map[string]string{
				"/etc/resolv.conf":                    "nameserver 192.0.2.53\n",
				"/etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --container-runtime-endpoint=unix:///run/containerd/containerd.sock\n",
			})
			serveRuntime(t, root, &faultyRuntime{list: c.list})
			out, stderr, code := runOnline(t, root, "check")
			if code != 0 {
				t.Errorf("check exits %d, want 0 (no loop; the runtime's fault a note)\n%s%s", code, out, stderr)
			}
			if !strings.Contains(out, "note: ") || !strings.Contains(out, c.note) {
				t.Errorf("no note of the runtime's fault %q:\n%s", c.note, out)
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.HasPrefix(l, "FORGED") {
					t.Errorf("the runtime's text forged a line: %q", l)
				}
			}
		})
	}
}
