// Package cri asks the node's container runtime about its pod sandboxes
// through CRI (k8s.io/cri-api's RuntimeService over gRPC), as kubelet and
// crictl do. It lives beside hostcfg/sandbox, which reads the same runtime's
// state from its files: both are the node as it is, reached inside the root.
package cri

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/unloop/unloop/hostcfg"
)

// Sandbox is one pod sandbox as the runtime lists it.
type Sandbox struct {
	ID, Name, Namespace, UID string
	Labels, Annotations      map[string]string
	Ready                    bool
	CreatedAt                time.Time
}

// Pod is "namespace/name".
func (s Sandbox) Pod() string { return s.Namespace + "/" + s.Name }

// Client is a connection to the runtime's socket.
type Client struct {
	sock *os.File // the socket's handle inside the root, dialed through /proc/self/fd
	conn *grpc.ClientConn
	rt   runtimeapi.RuntimeServiceClient
}

// SocketPath is the node path of a CRI endpoint: unix:///run/x.sock or a
// bare path. Other schemes (tcp, npipe) are not a socket on this node.
func SocketPath(endpoint string) (string, error) {
	p, ok := strings.CutPrefix(endpoint, "unix://")
	if !ok && strings.Contains(endpoint, "://") {
		return "", fmt.Errorf("container runtime endpoint %q: only unix:// sockets are asked", endpoint)
	}
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("container runtime endpoint %q: not an absolute path", endpoint)
	}
	return p, nil
}

// Dial connects to the runtime at endpoint, a socket under the root. A
// socket that is not there is an error wrapping fs.ErrNotExist: no runtime.
func Dial(r *hostcfg.Root, endpoint string) (*Client, error) {
	p, err := SocketPath(endpoint)
	if err != nil {
		return nil, err
	}
	sock, err := r.OpenSocket(p)
	if err != nil {
		return nil, err
	}
	name := "/proc/self/fd/" + strconv.Itoa(int(sock.Fd()))
	conn, err := grpc.NewClient("passthrough:///"+endpoint,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", name)
		}))
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("container runtime at %s: %w", p, err)
	}
	return &Client{sock: sock, conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	return errors.Join(c.conn.Close(), c.sock.Close())
}

// Sandboxes lists the runtime's pod sandboxes, ready or not, oldest first.
func (c *Client) Sandboxes(ctx context.Context) ([]Sandbox, error) {
	return c.list(ctx, nil)
}

func (c *Client) list(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]Sandbox, error) {
	resp, err := c.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return nil, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	var out []Sandbox
	for _, s := range resp.GetItems() {
		m := s.GetMetadata()
		out = append(out, Sandbox{ID: s.GetId(), Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUid(),
			Labels: s.GetLabels(), Annotations: s.GetAnnotations(), Ready: s.GetState() == runtimeapi.PodSandboxState_SANDBOX_READY,
			CreatedAt: time.Unix(0, s.GetCreatedAt())})
	}
	slices.SortFunc(out, func(a, b Sandbox) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Remove stops and removes a sandbox and its containers, as `crictl stopp`
// and `crictl rmp` do. kubelet sees its pod without a sandbox and makes a
// new one, with the pod file as it is now.
func (c *Client) Remove(ctx context.Context, id string) error {
	if _, err := c.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("stopping pod sandbox %s: %w", id, err)
	}
	if _, err := c.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		return fmt.Errorf("removing pod sandbox %s: %w", id, err)
	}
	return nil
}

// pollEvery is how often WaitReady asks; a variable for the tests.
var pollEvery = 500 * time.Millisecond

// WaitReady waits until the pod of old has a ready sandbox other than old
// (kubelet's new one) and returns it; ctx bounds the wait.
func (c *Client) WaitReady(ctx context.Context, old Sandbox) (Sandbox, error) {
	filter := &runtimeapi.PodSandboxFilter{
		State:         &runtimeapi.PodSandboxStateValue{State: runtimeapi.PodSandboxState_SANDBOX_READY},
		LabelSelector: map[string]string{"io.kubernetes.pod.uid": old.UID},
	}
	for {
		sbs, err := c.list(ctx, filter)
		if err == nil {
			for _, s := range slices.Backward(sbs) {
				if s.ID != old.ID && s.Ready {
					return s, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return Sandbox{}, fmt.Errorf("waiting for a new sandbox of pod %s: %w (last: %v)", old.Pod(), ctx.Err(), err)
			}
			return Sandbox{}, fmt.Errorf("waiting for a new sandbox of pod %s: %w", old.Pod(), ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}
