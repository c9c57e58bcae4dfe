package node

import (
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/corefile"
)

// What the strategies ask of the node beyond the findings.

// ResolvedRuns: online, resolved answered on the bus; offline, its uplink file exists.
func (n *Node) ResolvedRuns() bool {
	if n.Online {
		return n.ResolvedLive != nil
	}
	return n.Uplink != nil
}

// UplinkClean: resolved's uplink file names servers and none of them loops.
func (n *Node) UplinkClean() bool {
	if n.Uplink == nil || len(n.Uplink.Conf.Nameservers) == 0 {
		return false
	}
	for _, ns := range n.Uplink.Conf.Nameservers {
		if n.Looping(ns.Addr) {
			return false
		}
	}
	return true
}

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
	ap, path, ok := ForwardTarget(t)
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
