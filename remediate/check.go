package remediate

import (
	"context"

	"github.com/unloop/unloop/remediate/node"
)

// Check gathers the node and analyses it (remediate/node).
func Check(ctx context.Context, env node.Env, opts node.Options) (*node.Report, *node.Node, error) {
	rep, n, err := node.Check(ctx, env, opts, fixers())
	if err != nil {
		return rep, n, err
	}
	if f := notANode(env.Root, n); f != nil {
		rep.Findings = append([]node.Finding{*f}, rep.Findings...)
		rep.Status = node.Status(rep.Findings)
	}
	return rep, n, nil
}
