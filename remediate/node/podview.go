package node

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
)

// What pods see of the pod file is what kubelet hands them (DESIGN.md §2
// "pod file"): its first 3 nameserver lines, or, with resolvConf "", their
// own loopback.

// pastLimit: the nameserver line at order (its place among the file's
// nameserver lines, kubelet's count) never reaches a pod. A CoreDNS on the
// host reads the file itself (miekg/dns keeps every line), so the limit
// holds only where kubelet hands the file on.
func (n *Node) pastLimit(order int) bool {
	return n.Kubelet != nil && n.Kubelet.Present && order >= kubelet.MaxNameservers
}

// passes says whether a nameserver line of the pod file makes no finding,
// and traces (-v) the rule that lets it pass: a clean upstream (a zone
// index is still a finding), a line past kubelet's limit, a file no DNS
// server reads (an address of the node's own is a warning still).
func (n *Node) passes(file string, ns resolvconf.Nameserver, kind addrKind, readByDNS bool) bool {
	switch {
	case kind == kindClean && ns.Addr.Zone() != "":
		return false
	case kind == kindClean:
		n.traceNameserver(file, ns, kind, "none", "not loopback, no node cache address, no address of the node, not clusterDNS: a clean upstream")
	case n.pastLimit(ns.Order):
		n.traceNameserver(file, ns, kind, "none", pastLimitRule(ns.Order))
	case !readByDNS && kind != kindLocal:
		n.traceNameserver(file, ns, kind, "none", "no DNS server reads this file (the Corefiles or dns-upstreams say they forward elsewhere): the host asking its own cache, not a loop")
	default:
		return false
	}
	return true
}

// limitFindings: more nameserver lines than pods get (a looping address
// below the limit is named there, not a loop), and values no reader uses.
func (n *Node) limitFindings(conf *resolvconf.Config, file string) []Finding {
	var out []Finding
	if pods, host, dropped := conf.Limit(kubelet.MaxNameservers); dropped != 0 {
		chain := []string{fmt.Sprintf("%s names %d nameservers", file, len(conf.Nameservers)+len(conf.Invalid)),
			fmt.Sprintf("kubelet hands pods the first %d (lines %s); line %d and later are dropped", kubelet.MaxNameservers, lineList(pods), dropped)}
		if !slices.Equal(pods, host) {
			chain = append(chain, fmt.Sprintf("glibc skips values that are no address and uses lines %s", lineList(host)))
		}
		for _, ns := range conf.Nameservers {
			if n.pastLimit(ns.Order) && n.Looping(ns.Addr) {
				chain = append(chain, fmt.Sprintf("line %d names %s, a looping address no pod sees: no loop while the lines above it stay", ns.Line, ns.Addr))
			}
		}
		out = append(out, finding.New(finding.CodeNameserverLimit, file, dropped, netip.Addr{}, chain))
	}
	for _, bad := range conf.Invalid {
		chain := []string{fmt.Sprintf("%s line %d: nameserver %q is not an IP address", file, bad.Line, bad.Text),
			"glibc skips the line; kubelet copies it to pods as it is, among its 3; CoreDNS's forward adds port 53 to it, so an address with a port never answers and a name is looked up through the file's other servers: no loop of its own"}
		out = append(out, finding.New(finding.CodeNameserverInvalid, file, bad.Line, netip.Addr{}, chain))
	}
	return out
}

func lineList(ls []int) string {
	return strings.Trim(strings.ReplaceAll(fmt.Sprint(ls), " ", ", "), "[]")
}

// emptyResolvConfFindings: kubelet's resolvConf is "", so pods get a
// nameserver on their own loopback (kubelet.EmptyResolvConfServers), and a
// CoreDNS that forwards to /etc/resolv.conf forwards to itself.
func (n *Node) emptyResolvConfFindings(rds []Reader) []Finding {
	k := n.Kubelet
	if !k.Present || n.PodFile != "" || k.ResolvConfSource == "default" || len(rds) == 0 {
		return nil
	}
	at, set := k.ResolvConfSet()
	var out []Finding
	for _, a := range kubelet.EmptyResolvConfServers(k.NodeIPs) {
		_, why := n.classify(a)
		chain := []string{fmt.Sprintf("kubelet's %s (%s line %d)", set, at.File, at.Line),
			fmt.Sprintf("kubelet then gives pods with dnsPolicy: Default nameserver %s (one for each --node-ip of its family; 127.0.0.1 without one) and search .", a),
			why, readersStep(rds), "CoreDNS forwards '.' to /etc/resolv.conf → itself: plugin/loop exits and the pod crash-loops"}
		f := finding.New(finding.CodeLoopback, at.File, at.Line, a, chain, n.applicable([]string{StrategyKubelet})...)
		f.Readers = rds
		f.Part = finding.Part{Role: finding.RoleSource, Text: set, Why: why, Reader: n.kubeletStep()}
		out = append(out, f)
	}
	return out
}
