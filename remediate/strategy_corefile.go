package remediate

import (
	"context"
	"slices"
	"sort"

	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

var corefileStrategy = Strategy{
	Name:  node.StrategyCorefile,
	Help:  "rewrite a Corefile's looping forward targets to clean upstreams, every other byte kept",
	Fixes: []finding.Code{finding.CodeResolvedStub, finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeCorefileForwardLoop},
	// It fixes a finding of the pod file only where no kubelet hands the
	// file to pods: then a Corefile of the node is what reads it.
	Applies:   func(n *node.Node) bool { return !n.Kubelet.Present && n.CorefileForwardsTo(n.Pod) },
	When:      "no kubelet hands the file to pods, and a Corefile of the node forwards to it",
	readsFile: true,
	plan:      planCorefile,
}

const corefileReason = "forward to upstreams that are not this server"

func planCorefile(_ context.Context, p *planner, fs []node.Finding) error {
	n := p.node
	ups, err := p.usable()
	if err != nil {
		return err
	}
	for _, cf := range n.Corefiles {
		type edit struct {
			fw      corefile.Forward
			targets []string
		}
		var edits []edit
		noReload := false
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				if !slices.ContainsFunc(fs, func(f node.Finding) bool { return f.File == cf.Path && f.Line == fw.Line }) {
					continue
				}
				var keep []string
				dropped := false
				for _, t := range fw.To {
					if n.TargetLoops(sb, t.Text) {
						dropped = true
						continue
					}
					keep = append(keep, t.Text)
				}
				if !dropped {
					continue
				}
				for _, a := range ups {
					if !slices.Contains(keep, a.String()) {
						keep = append(keep, a.String())
					}
				}
				edits = append(edits, edit{fw, keep})
				noReload = noReload || !sb.Reload
			}
		}
		if len(edits) == 0 {
			continue
		}
		sort.Slice(edits, func(i, j int) bool { return edits[i].fw.To[0].Offset > edits[j].fw.To[0].Offset })
		path := cf.Path
		splice := func(old []byte) ([]byte, error) {
			out := old
			for _, e := range edits {
				var err error
				if out, err = corefile.ReplaceTargets(path, out, e.fw, e.targets); err != nil {
					return nil, err
				}
			}
			return out, nil
		}
		if cf.Source != nil && cf.Source.API {
			if err := p.configMap(n.ConfigMaps[path], cf.Source.Key, corefileReason, !noReload, splice); err != nil {
				return err
			}
			continue
		}
		if err := p.edit(path, node.StrategyCorefile, corefileReason, splice); err != nil {
			return err
		}
		if noReload {
			p.other = append(p.other, Change{Kind: KindUnit, Unit: "CoreDNS (" + path + ")", Action: "restart", Strategy: node.StrategyCorefile,
				Reason: "a server block without the reload plugin reads the Corefile only at start", Skipped: "left to you: unloop does not know how this CoreDNS is run", SkipReason: SkipLeftToUser})
		} else {
			p.other = append(p.other, Change{Kind: KindUnit, Unit: "CoreDNS (" + path + ")", Action: "reload", Strategy: node.StrategyCorefile,
				Reason: "CoreDNS's reload plugin picks the new Corefile up by itself", Skipped: "not needed: the reload plugin", SkipReason: SkipNotNeeded})
		}
	}
	return nil
}
