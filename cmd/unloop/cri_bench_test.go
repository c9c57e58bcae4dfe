package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/unloop/unloop/hostcfg/cri"
)

// listRuntime is a CRI runtime that lists the same sandboxes to every ask.
type listRuntime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	resp *runtimeapi.ListPodSandboxResponse
}

func (r *listRuntime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	return r.resp, nil
}

// largestAnswer is the largest sandbox list unloop takes: MaxSandboxes
// entries carrying MaxPairs labels and annotations between them, as long
// as fits under the receive cap.
func largestAnswer() *runtimeapi.ListPodSandboxResponse {
	build := func(valueLen int) *runtimeapi.ListPodSandboxResponse {
		resp := &runtimeapi.ListPodSandboxResponse{}
		per := cri.MaxPairs / cri.MaxSandboxes / 2
		for i := range cri.MaxSandboxes {
			sb := &runtimeapi.PodSandbox{Id: fmt.Sprintf("%064x", i),
				Metadata: &runtimeapi.PodSandboxMetadata{Name: fmt.Sprintf("pod-%d", i), Namespace: "default", Uid: fmt.Sprintf("%036d", i)},
				State:    runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: int64(i),
				Labels: map[string]string{}, Annotations: map[string]string{}}
			for j := range per {
				sb.Labels[fmt.Sprintf("label-%d", j)] = strings.Repeat("v", valueLen)
				sb.Annotations[fmt.Sprintf("annotation-%d", j)] = strings.Repeat("v", valueLen)
			}
			resp.Items = append(resp.Items, sb)
		}
		return resp
	}
	// Each byte more of a value is one byte more per pair, while the
	// length's varint stays one byte (under 128).
	base := proto.Size(build(0))
	n := (cri.MaxAnswer - 64<<10 - base) / cri.MaxPairs
	return build(min(n, 127))
}

// runtimeRoot is a node whose kubelet names containerd's socket, served by
// rt with grpc-go's server; check goes online with no bus to reach.
func runtimeRoot(b *testing.B, rt runtimeapi.RuntimeServiceServer) (root, cfg string) {
	b.Helper()
	root = b.TempDir()
	for p, data := range map[string]string{
		"etc/resolv.conf":                    "nameserver 192.0.2.53\n",
		"etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --container-runtime-endpoint=unix:///run/containerd/containerd.sock\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, "run/containerd"), 0o755); err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(root, "run/containerd/containerd.sock"))
	if err != nil {
		b.Fatal(err)
	}
	g := grpc.NewServer(grpc.MaxSendMsgSize(64 << 20))
	runtimeapi.RegisterRuntimeServiceServer(g, rt)
	go g.Serve(l)
	b.Cleanup(g.Stop)
	b.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path="+filepath.Join(b.TempDir(), "no-bus"))
	cfg = filepath.Join(b.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return root, cfg
}

// BenchmarkCheckCRIAnswerProcess: `unloop check` online while the runtime
// lists the largest answer unloop takes, and answers it refuses (the issue's
// 1 MiB of empty entries, once 150 MiB; one over the receive cap). Its peak
// RSS must stay within maxPeakRSS MB, and a refused answer is a note: exit
// 0 on this clean node, never 2.
func BenchmarkCheckCRIAnswerProcess(b *testing.B) {
	bin := builtBinary(b)
	flood := &runtimeapi.ListPodSandboxResponse{Items: make([]*runtimeapi.PodSandbox, 1<<19)}
	for i := range flood.Items {
		flood.Items[i] = &runtimeapi.PodSandbox{}
	}
	over := largestAnswer()
	over.Items[0].Annotations["big"] = strings.Repeat("x", 128<<10)
	for _, c := range []struct {
		name string
		resp *runtimeapi.ListPodSandboxResponse
	}{
		{"largest taken", largestAnswer()},
		{"1 MiB of empty entries", flood},
		{"over the cap", over},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.Logf("answer of %d entries, %.2f MiB", len(c.resp.Items), float64(proto.Size(c.resp))/(1<<20))
			root, cfg := runtimeRoot(b, &listRuntime{resp: c.resp})
			if rss := runProcess(b, 0, bin, "check", "--root", root, "--config", cfg); rss > maxPeakRSS {
				b.Errorf("check peaked at %.1f MB, more than %d MB", rss, maxPeakRSS)
			}
		})
	}
}
