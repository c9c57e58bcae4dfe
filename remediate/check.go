package remediate

import (
	"context"

	"github.com/unloop/unloop/remediate/node"
)

// Check gathers the node and analyses it (remediate/node).
func Check(ctx context.Context, env node.Env, opts node.Options) (*node.Report, *node.Node, error) {
	return node.Check(ctx, env, opts, fixers())
}
