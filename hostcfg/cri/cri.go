// Package cri asks the node's container runtime about its pod sandboxes
// through CRI, with grpc-go and k8s.io/cri-api's generated RuntimeService
// client, as kubelet and crictl do. It lives beside hostcfg/sandbox, which
// reads the same runtime's state from its files: both are the node as it is,
// reached inside the root.
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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/unloop/unloop/hostcfg"
)

// Bounds on what the runtime may make unloop hold. kubelet's own client
// (k8s.io/cri-client) takes 16 MiB answers and no dial options, so it is not
// used: at that cap a list of empty entries decodes into hundreds of MB.
const (
	// MaxAnswer is the receive cap. A containerd sandbox entry is about
	// 1 KiB (a 64-character ID, name, namespace, UID, kubelet's labels and
	// annotations), so 4 MiB holds some 4,000 sandboxes: ten times kubelet's
	// 110-pod default and past the largest max-pods clouds set (737), with
	// room for sandboxes kubelet has not collected yet. It is also gRPC's
	// default cap.
	MaxAnswer = 4 << 20
	// MaxSandboxes bounds the entries of a list, counted before they are
	// decoded: each costs a Go object and two maps whatever its size on the
	// wire (2 bytes when empty), so the byte cap alone does not bound memory.
	MaxSandboxes = 4096
	// MaxPairs bounds the labels and annotations of all the entries together,
	// for the same reason: 5 bytes on the wire, a map entry once decoded.
	// kubelet gives a sandbox about 8 and the pod's own; 16 each at the
	// bound.
	MaxPairs = 16 * MaxSandboxes
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
// The connection is made at the first call.
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
	// The target names nothing: every connection is the root's socket, by
	// its handle, and no resolver or proxy setting may send it elsewhere.
	conn, err := grpc.NewClient("passthrough:///localhost",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", name)
		}),
		grpc.WithNoProxy(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxAnswer)))
	if err != nil {
		sock.Close()
		return nil, fmt.Errorf("container runtime at %s: %w", endpoint, err)
	}
	return &Client{sock: sock, conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn)}, nil
}

// Close closes the connection.
func (c *Client) Close() error {
	err := c.conn.Close()
	return errors.Join(err, c.sock.Close())
}

// Sandboxes lists the runtime's pod sandboxes, ready or not, oldest first.
func (c *Client) Sandboxes(ctx context.Context) ([]Sandbox, error) {
	return c.list(ctx, nil)
}

func (c *Client) list(ctx context.Context, labels map[string]string) ([]Sandbox, error) {
	req := &runtimeapi.ListPodSandboxRequest{}
	if len(labels) > 0 {
		req.Filter = &runtimeapi.PodSandboxFilter{LabelSelector: labels}
	}
	counted := &countingCodec{}
	resp, err := c.rt.ListPodSandbox(ctx, req, grpc.ForceCodecV2(counted))
	switch {
	case counted.entries > MaxSandboxes:
		return nil, fmt.Errorf("listing pod sandboxes: the runtime lists %d, more than the %d unloop takes", counted.entries, MaxSandboxes)
	case counted.pairs > MaxPairs:
		return nil, fmt.Errorf("listing pod sandboxes: the runtime's sandboxes carry %d labels and annotations, more than the %d unloop takes", counted.pairs, MaxPairs)
	case status.Code(err) == codes.ResourceExhausted:
		// Most likely the cap, which grpc-go enforces before reading.
		return nil, fmt.Errorf("listing pod sandboxes (the runtime's answers capped at %d MiB): %w", MaxAnswer>>20, err)
	case err != nil:
		return nil, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	out := make([]Sandbox, 0, len(resp.Items))
	for _, it := range resp.Items {
		s := Sandbox{ID: it.Id, Labels: it.Labels, Annotations: it.Annotations,
			Ready: it.State == runtimeapi.PodSandboxState_SANDBOX_READY, CreatedAt: time.Unix(0, it.CreatedAt)}
		if m := it.Metadata; m != nil {
			s.Name, s.Namespace, s.UID = m.Name, m.Namespace, m.Uid
		}
		if s.Labels == nil {
			s.Labels = map[string]string{}
		}
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		out = append(out, s)
	}
	slices.SortStableFunc(out, func(a, b Sandbox) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// countingCodec is gRPC's proto codec, but it counts a sandbox list's
// entries and their labels and annotations on the wire first, and refuses to
// decode more than the bounds.
type countingCodec struct{ entries, pairs int }

var errTooMany = errors.New("too many sandboxes")

func (*countingCodec) Name() string { return "proto" }

func (*countingCodec) Marshal(v any) (mem.BufferSlice, error) {
	return encoding.GetCodecV2("proto").Marshal(v)
}

func (c *countingCodec) Unmarshal(data mem.BufferSlice, v any) error {
	msg, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("decoding a %T: not a protobuf message", v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool()) // within MaxAnswer
	defer buf.Free()
	if _, ok := v.(*runtimeapi.ListPodSandboxResponse); ok {
		// ListPodSandboxResponse's field 1 is `repeated PodSandbox items`,
		// PodSandbox's 5 and 6 its labels and annotations, one record per
		// pair. Anything malformed is left to the decoder to refuse.
		each(buf.ReadOnlyData(), func(num protowire.Number, item []byte) {
			if num == 1 {
				c.entries++
				each(item, func(num protowire.Number, _ []byte) {
					if num == 5 || num == 6 {
						c.pairs++
					}
				})
			}
		})
		if c.entries > MaxSandboxes || c.pairs > MaxPairs {
			return errTooMany
		}
	}
	return proto.Unmarshal(buf.ReadOnlyData(), msg)
}

// each calls fn with each field of the message b and its bytes, until b ends
// or is malformed.
func each(b []byte, fn func(protowire.Number, []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 {
			return
		}
		v := b[n : n+m]
		if typ == protowire.BytesType {
			v, _ = protowire.ConsumeBytes(v)
		}
		fn(num, v)
		b = b[n+m:]
	}
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

// pollEvery is how often WaitReady asks: apply returns this much after
// kubelet's new sandbox at worst, and a user waits for apply (issue 27:
// 500 ms cost 0.25 s on average of apply → the pod answering). A listing
// filtered to one pod costs the runtime well under a millisecond.
const pollEvery = 100 * time.Millisecond

// WaitReady waits until the pod of old has a ready sandbox other than old
// (kubelet's new one) and returns it; ctx bounds the wait.
func (c *Client) WaitReady(ctx context.Context, old Sandbox) (Sandbox, error) {
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
