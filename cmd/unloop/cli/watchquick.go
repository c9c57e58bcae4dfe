package cli

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/watch"
	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/node"
)

// maxQuickRead is how much of a changed file the quick look reads: the
// files that name DNS servers are small, and a huge one is checked after
// the ordinary debounce.
const maxQuickRead = 64 << 10

// loopingAddr says whether a is an address a pod's DNS must never be sent
// to from the node's files: a node-local-dns address (the setting, or its
// default), a --local-ip, or a loopback address (127.0.0.53, resolved's
// stub, among them). The check's own rules decide the finding; this only
// decides that the check comes soon.
func loopingAddr(opts node.Options) func(netip.Addr) bool {
	cache := opts.NodeLocalDNS
	if cache == nil {
		cache = node.DefaultNodeLocalDNS
	}
	known := append(slices.Clone(cache), opts.LocalIPs...)
	return func(a netip.Addr) bool {
		return a.IsLoopback() || slices.Contains(known, a.WithZone(""))
	}
}

// loopingChange is the first of the changed paths whose file now names a
// looping address on a line about DNS servers, with the line and the
// address ("" when none does). A folder, a pattern or an overflow has no
// file to read: those get the ordinary debounce.
func loopingChange(tree *hostcfg.Root, looping func(netip.Addr) bool, paths []string) (string, int, netip.Addr) {
	for _, p := range paths {
		if p == watch.Overflow || strings.ContainsAny(p, `*?[\`) {
			continue
		}
		data, err := tree.ReadFileMax(p, maxQuickRead)
		if err != nil {
			continue
		}
		if line, a := watch.LoopingLine(data, looping); line > 0 {
			return p, line, a
		}
	}
	return "", 0, netip.Addr{}
}

// afterApply is the report watch shows after an apply that went through:
// what the node holds now, not the plan's look before the change, which
// would say error until the next check (an interval away when the run's own
// writes are all that changed since). The verification's check is that,
// unless pods were recreated after it: then a check sees them anew.
func afterApply(ctx context.Context, env node.Env, opts node.Options, res *remediate.Result) *node.Report {
	if res == nil || res.After == nil {
		return nil
	}
	if len(res.Recreated) == 0 {
		return res.After
	}
	rep, _, err := remediate.Check(ctx, env, opts)
	if err != nil {
		return res.After
	}
	return rep
}
