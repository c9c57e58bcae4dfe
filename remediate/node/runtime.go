package node

import (
	"context"

	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/remediate/dnspods"
)

// Runtime is what remediate needs of the node's container runtime.
type Runtime = dnspods.Runtime

// askRuntime lists the container runtime's sandboxes by ID (dnspods.Ask),
// at kubelet's endpoint unless --runtime-endpoint names one; n.RuntimeNote
// says why there is no listing.
func (n *Node) askRuntime(ctx context.Context, env Env, opts Options) map[string]cri.Sandbox {
	endpoint := opts.RuntimeEndpoint
	if endpoint == "" && n.Kubelet != nil {
		endpoint = n.Kubelet.RuntimeEndpoint
	}
	a := dnspods.Ask(ctx, env.Runtime, endpoint, opts.Offline)
	n.Runtime, n.RuntimeNote, n.RuntimeFailed = a.Runtime, a.Note, a.Failed
	if a.Failed {
		n.Notes = append(n.Notes, a.Note)
	}
	return a.Live
}
