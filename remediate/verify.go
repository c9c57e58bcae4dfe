package remediate

import (
	"github.com/unloop/unloop/remediate/node"
	dnsprobe "github.com/unloop/unloop/remediate/probe"

	"context"
	"sync"
)

// SelectUpstreams finds the candidates and, unless offline, asks each one a
// real DNS question in parallel. Candidates keep their order; those that did
// not answer carry the error and are not used.
func SelectUpstreams(ctx context.Context, env node.Env, n *node.Node, opts node.Options) ([]node.Candidate, error) {
	cands := n.Candidates(opts)
	if opts.Offline {
		for i := range cands {
			cands[i].Note = "not asked: offline"
		}
		return cands, nil
	}
	probe := env.Probe
	if probe == nil {
		probe = dnsprobe.DNS
	}
	var wg sync.WaitGroup
	for i := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := probe(ctx, cands[i].Addr); err != nil {
				cands[i].Error = err.Error()
			} else {
				cands[i].Note = "answered"
			}
		}()
	}
	wg.Wait()
	return cands, ctx.Err()
}
