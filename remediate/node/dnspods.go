package node

import (
	"context"
	"path"

	"github.com/unloop/unloop/remediate/dnspods"
)

// Whose an input is (DESIGN.md §2b): dnspods.Provenance and its kin; who the
// pods are is dnspods.Census.

// readPods takes the census of the node's pods: the runtime's listing
// (online) and the runtime's and kubelet's files.
func (n *Node) readPods(ctx context.Context, env Env, opts Options) *dnspods.Census {
	live := n.askRuntime(ctx, env, opts)
	c, note, err := dnspods.Take(env.Root, live, opts.DNSServerPods.OrDefault(), n.tr)
	if err != nil {
		n.unreadable(err)
	}
	if note != "" {
		n.Notes = append(n.Notes, note)
	}
	return c
}

// record notes an input and whose it is.
func (n *Node) record(p string, pv dnspods.Provenance, skipped bool) {
	n.Inputs = append(n.Inputs, dnspods.Input{Path: p, Provenance: pv, Skipped: skipped})
}

// podDir is a pod's folder under kubelet's.
func podDir(uid string) string { return path.Join(kubeletPods, uid) }
