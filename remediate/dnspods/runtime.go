package dnspods

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/unloop/unloop/hostcfg/cri"
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

// Asked is what the container runtime said of the node's sandboxes.
type Asked struct {
	// Runtime is the runtime asked; nil when none was, and Note says why.
	Runtime Runtime
	// Live are its sandboxes by ID; nil when it was not asked or failed.
	Live map[string]cri.Sandbox
	Note string
	// Failed: the runtime was there but failed or answered too late.
	Failed bool
}

// Ask lists the container runtime's sandboxes by ID, online and when its
// socket is there. Offline the socket is not even looked for: check
// --offline reads files only.
func Ask(ctx context.Context, open func(context.Context, string) (Runtime, error), endpoint string, offline bool) Asked {
	switch {
	case offline:
		return Asked{Note: "offline"}
	case open == nil || endpoint == "":
		return Asked{Note: "no container runtime to ask"}
	}
	rt, err := open(ctx, endpoint)
	if errors.Is(err, fs.ErrNotExist) {
		return Asked{Note: "no container runtime socket at " + endpoint}
	}
	if err != nil {
		return Asked{Note: fmt.Sprintf("container runtime at %s: %v", endpoint, err), Failed: true}
	}
	lctx, cancel := context.WithTimeout(ctx, runtimeTimeout)
	defer cancel()
	sbs, err := rt.Sandboxes(lctx)
	if err != nil {
		return Asked{Note: fmt.Sprintf("container runtime at %s: %v", endpoint, err), Failed: true}
	}
	out := make(map[string]cri.Sandbox, len(sbs))
	for _, s := range sbs {
		out[s.ID] = s
	}
	return Asked{Runtime: rt, Live: out}
}
