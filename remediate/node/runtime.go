package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/sandbox"
)

// Runtime is what remediate needs of the node's container runtime (CRI's
// RuntimeService); *cri.Client has it.
type Runtime interface {
	// Sandboxes lists the pod sandboxes with their labels and state.
	Sandboxes(ctx context.Context) ([]cri.Sandbox, error)
	// Remove stops and removes a sandbox; kubelet makes the pod a new one.
	Remove(ctx context.Context, id string) error
	// WaitReady returns the pod's ready sandbox other than old, waiting for
	// it until ctx ends.
	WaitReady(ctx context.Context, old cri.Sandbox) (cri.Sandbox, error)
}

// runtimeTimeout bounds the runtime's listing.
const runtimeTimeout = 5 * time.Second

// askRuntime lists the container runtime's sandboxes by ID, online and when
// its socket is there; otherwise it says why in n.RuntimeNote. Offline the
// socket is not even looked for: check --offline reads files only.
func (n *Node) askRuntime(ctx context.Context, env Env, opts Options) map[string]cri.Sandbox {
	endpoint := opts.RuntimeEndpoint
	if endpoint == "" && n.Kubelet != nil {
		endpoint = n.Kubelet.RuntimeEndpoint
	}
	switch {
	case opts.Offline:
		n.RuntimeNote = "offline"
		return nil
	case env.Runtime == nil || endpoint == "":
		n.RuntimeNote = "no container runtime to ask"
		return nil
	}
	rt, err := env.Runtime(ctx, endpoint)
	if errors.Is(err, fs.ErrNotExist) {
		n.RuntimeNote = "no container runtime socket at " + endpoint
		return nil
	}
	if err != nil {
		n.RuntimeNote = fmt.Sprintf("container runtime at %s: %v", endpoint, err)
		n.Notes = append(n.Notes, n.RuntimeNote)
		n.RuntimeFailed = true
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, runtimeTimeout)
	defer cancel()
	sbs, err := rt.Sandboxes(lctx)
	if err != nil {
		n.RuntimeNote = fmt.Sprintf("container runtime at %s: %v", endpoint, err)
		n.Notes = append(n.Notes, n.RuntimeNote)
		n.RuntimeFailed = true
		return nil
	}
	n.Runtime = rt
	out := make(map[string]cri.Sandbox, len(sbs))
	for _, s := range sbs {
		out[s.ID] = s
	}
	return out
}

// withLive fills in what the runtime's files lack from what it lists.
func withLive(sb sandbox.Sandbox, l cri.Sandbox) sandbox.Sandbox {
	if sb.Name == "" {
		sb.Name, sb.Namespace = l.Name, l.Namespace
	}
	if sb.UID == "" {
		sb.UID = l.UID
	}
	if len(sb.Labels) == 0 {
		sb.Labels = l.Labels
	}
	return sb
}
