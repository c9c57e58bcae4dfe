package node

import (
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/corefile"
)

// What the strategies ask of the node beyond the findings.

// LoopingAddrs are the addresses the dhclient hook keeps out: every node cache
// address and every looping address found in the pod file.
func (n *Node) LoopingAddrs() []netip.Addr {
	set := map[netip.Addr]bool{}
	for a := range n.NodeCache {
		set[a] = true
	}
	if n.Pod != nil {
		for _, ns := range n.Pod.Conf.Nameservers {
			if n.Looping(ns.Addr) {
				set[ns.Addr.WithZone("")] = true
			}
		}
	}
	out := make([]netip.Addr, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

// TargetLoops reports whether one forward target of a server block loops.
func (n *Node) TargetLoops(sb corefile.ServerBlock, t string) bool {
	ap, path, ok := corefile.ForwardTarget(t)
	if !ok {
		return false
	}
	if path == "" {
		_, loops := n.ListensOn(sb, ap)
		return loops
	}
	rf := n.ResolvFileAt(path)
	if rf == nil {
		return false
	}
	for _, ns := range rf.Conf.Nameservers {
		if _, loops := n.ListensOn(sb, netip.AddrPortFrom(ns.Addr.WithZone(""), 53)); loops {
			return true
		}
	}
	return false
}
