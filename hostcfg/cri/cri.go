// Package cri asks the node's container runtime about its pod sandboxes
// through CRI (k8s.io/cri-api's RuntimeService over gRPC, see wire.go), as
// kubelet and crictl do. It lives beside hostcfg/sandbox, which reads the same runtime's
// state from its files: both are the node as it is, reached inside the root.
package cri

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

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
	tr   *http.Transport
	http *http.Client
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
	// HTTP/2 without TLS, with prior knowledge: what gRPC speaks on a socket.
	tr := &http.Transport{Protocols: new(http.Protocols), DisableCompression: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", name)
		}}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &Client{sock: sock, tr: tr, http: &http.Client{Transport: tr}}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	c.tr.CloseIdleConnections()
	return c.sock.Close()
}

// Sandboxes lists the runtime's pod sandboxes, ready or not, oldest first.
func (c *Client) Sandboxes(ctx context.Context) ([]Sandbox, error) {
	return c.list(ctx, nil)
}

func (c *Client) list(ctx context.Context, labels map[string]string) ([]Sandbox, error) {
	msg, err := c.call(ctx, "ListPodSandbox", listRequest(labels))
	if err != nil {
		return nil, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	out, err := parseList(msg)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Sandbox) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// Remove stops and removes a sandbox and its containers, as `crictl stopp`
// and `crictl rmp` do. kubelet sees its pod without a sandbox and makes a
// new one, with the pod file as it is now.
func (c *Client) Remove(ctx context.Context, id string) error {
	if _, err := c.call(ctx, "StopPodSandbox", idRequest(id)); err != nil {
		return fmt.Errorf("stopping pod sandbox %s: %w", id, err)
	}
	if _, err := c.call(ctx, "RemovePodSandbox", idRequest(id)); err != nil {
		return fmt.Errorf("removing pod sandbox %s: %w", id, err)
	}
	return nil
}

// pollEvery is how often WaitReady asks.
const pollEvery = 500 * time.Millisecond

// WaitReady waits until the pod of old has a ready sandbox other than old
// (kubelet's new one) and returns it; ctx bounds the wait.
func (c *Client) WaitReady(ctx context.Context, old Sandbox) (Sandbox, error) {
	// SANDBOX_READY is state 0, which proto3 leaves out: the state is
	// checked here rather than in the filter.
	filter := map[string]string{"io.kubernetes.pod.uid": old.UID}
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
