package node

import (
	"net/netip"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/hostcfg/sandbox"
	"github.com/unloop/unloop/remediate/dnspods"
)

// readClusterCorefiles reads the cluster's Corefiles the node holds
// (dnspods.ReadCorefiles): the installers' ConfigMaps, the DNS server pods'
// mounted ones; another pod's volumes are not read.
func (n *Node) readClusterCorefiles(r *hostcfg.Root, ps *dnspods.Census) {
	got := ps.ReadCorefiles(r, n.sameAsAPI)
	n.Inputs = append(n.Inputs, got.Inputs...)
	for _, p := range got.Problems {
		if p.Pod == "" {
			n.unreadable(p.Err)
		} else {
			n.podUnreadable(p.Err, p.Pod)
		}
	}
	n.addCorefiles(r, got.Corefiles...)
}

func (n *Node) addCorefiles(r *hostcfg.Root, cfs ...*corefile.Config) {
	for _, cf := range cfs {
		n.Corefiles = append(n.Corefiles, cf)
		if cf.Source == nil {
			n.readForwarded(r, cf)
		}
	}
}

// serverKind says which DNS server a Corefile configures: node-local-dns's
// (its ConfigMap's name, the key node-cache reads, or a bind to a node cache
// address) or CoreDNS's.
func (n *Node) serverKind(cf *corefile.Config) string {
	if s := cf.Source; s != nil && (s.Key == "Corefile.base" || strings.Contains(s.ConfigMap, "nodelocaldns") || strings.Contains(s.ConfigMap, "node-local-dns")) {
		return "node-local-dns"
	}
	for _, sb := range cf.Servers {
		for _, b := range sb.Binds {
			if a, ok := parseAddr(b.Text); ok {
				if _, cache := n.NodeCache[a]; cache {
					return "node-local-dns"
				}
			}
		}
	}
	return "CoreDNS"
}

// readSandboxes reads DNS server pods' running sandboxes and their copies
// of the pod file; another pod's copy is not read (DESIGN.md §2b).
func (n *Node) readSandboxes(r *hostcfg.Root, ps *dnspods.Census) {
	for _, sb := range ps.Sandboxes {
		pv, ok := ps.DNSServer(sb)
		if !ok {
			n.record(sb.ResolvConf, pv, true)
			continue
		}
		rf, err := readResolv(r, sb.ResolvConf)
		if err != nil {
			n.podUnreadable(err, pv.Pod)
		}
		if rf == nil {
			continue
		}
		n.record(sb.ResolvConf, pv, false)
		// dnsPolicy Default: the copy is the pod file, not kubelet's
		// ClusterFirst file (which searches NAMESPACE.svc.DOMAIN first).
		if len(rf.Conf.Search) > 0 && strings.HasPrefix(rf.Conf.Search[0], sb.Namespace+".svc.") {
			continue
		}
		pc := PodCopy{Sandbox: sb, File: rf, Provenance: pv}
		if ps.Live != nil {
			if l, ok := ps.Live[sb.ID]; ok {
				pc.Live = &l
			}
		}
		n.PodCopies = append(n.PodCopies, pc)
	}
}

// PodCopy is a running DNS-server pod's copy of the pod file.
type PodCopy struct {
	Sandbox sandbox.Sandbox
	File    *resolvconf.File
	// Provenance is the pod's: always a DNS server pod's.
	Provenance dnspods.Provenance
	// Live is the sandbox as the container runtime lists it; nil when no
	// runtime was asked.
	Live *cri.Sandbox
}

// parseAddr reads an address without its zone, unmapped.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}
