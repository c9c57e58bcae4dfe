package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg/networkd"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// Networkd is systemd-networkd: the DNS= of its .network files, which it
// hands systemd-resolved for the links they match; resolved writes them
// into its uplink file. Fixed at its source by the networkd strategy (a
// drop-in of unloop's own), or by pointing kubelet at a clean file.
type Networkd struct {
	none
	Config *networkd.Config
	// Leases are its links' DHCPv4 leases: their servers reach resolved
	// unless the link's network says [DHCPv4] UseDNS=no.
	Leases []networkd.Lease
}

func newNetworkd() Source { return &Networkd{} }

func (*Networkd) Name() string    { return "systemd-networkd" }
func (*Networkd) Paths() []string { return append(slices.Clone(networkd.Dirs), networkd.LeaseDir) }

func (s *Networkd) Read(_ context.Context, g *Gathering) {
	s.Config = load(g.Node, func() (*networkd.Config, error) { return networkd.Load(g.Env.Root) })
	s.Leases = load(g.Node, func() ([]networkd.Lease, error) { return networkd.LoadLeases(g.Env.Root) })
}

// DHCPServers are the servers of each lease that networkd hands resolved,
// with the network its link is configured by (nil when networkd's state
// names none that unloop read).
func (s *Networkd) DHCPServers() []DHCPServer {
	var out []DHCPServer
	for _, l := range s.Leases {
		var nw *networkd.Network
		for i := range s.networks() {
			if s.Config.Networks[i].File == l.NetworkFile {
				nw = &s.Config.Networks[i]
			}
		}
		if nw == nil || nw.DHCPv4UseDNS.Value == "no" {
			continue // not known to reach resolved
		}
		for _, a := range l.DNS {
			out = append(out, DHCPServer{Addr: a, Lease: l, Network: nw})
		}
	}
	return out
}

// DHCPServer is one server of a DHCPv4 lease networkd hands resolved.
type DHCPServer struct {
	Addr    netip.Addr
	Lease   networkd.Lease
	Network *networkd.Network
}

func (d DHCPServer) says() string {
	return fmt.Sprintf("systemd-networkd's DHCPv4 lease on link %d (%s line %d; %s does not set [DHCPv4] UseDNS=no)",
		d.Lease.Ifindex, d.Lease.File, d.Lease.Line, d.Network.File)
}

// Put: a DNS= line that names a, where pods get resolved's file.
func (s *Networkd) Put(n *Node, rf *resolvconf.File, a netip.Addr, kind addrKind) (Origin, bool) {
	if !isResolvedFile(rf) || kind == kindStub {
		return Origin{}, false
	}
	for _, nw := range s.networks() {
		for _, sv := range nw.DNS {
			if sv.Addr.WithZone("") == a {
				return Origin{Says: fmt.Sprintf("systemd-networkd hands it to systemd-resolved: DNS= in %s line %d", sv.File, sv.Line),
					At: place(sv.File, sv.Line), Fixes: []string{StrategyNetworkd, StrategyKubelet}}, true
			}
		}
	}
	for _, d := range s.DHCPServers() {
		if d.Addr.WithZone("") == a {
			return Origin{Says: "systemd-networkd hands it to systemd-resolved: " + d.says(),
				At: place(d.Lease.File, d.Lease.Line), Fixes: []string{StrategyNetworkd, StrategyKubelet}}, true
		}
	}
	return Origin{}, false
}

func (s *Networkd) networks() []networkd.Network {
	if s.Config == nil {
		return nil
	}
	return s.Config.Networks
}

// Findings: each looping DNS= line, where pods get resolved's uplink file
// and a DNS server reads it.
func (s *Networkd) Findings(n *Node, rds []Reader) []Finding {
	if len(rds) == 0 || !n.podFileIs(resolvconf.ResolvedUplinkFile) {
		return nil
	}
	var out []Finding
	for _, nw := range s.networks() {
		for _, sv := range nw.DNS {
			a := sv.Addr.WithZone("")
			if !n.Looping(a) {
				continue
			}
			_, why := n.classify(a)
			chain := []string{fmt.Sprintf("%s line %d: DNS=%s%s", sv.File, sv.Line, sv.Text, matching(nw)), why,
				"systemd-networkd hands it to systemd-resolved, which writes its upstreams into " + resolvconf.ResolvedUplinkFile,
				n.kubeletStep(), "the DNS server in the pod forwards to itself"}
			f := newFinding(CodeNetworkdInjects, sv.File, sv.Line, a, chain, n.applicable([]string{StrategyNetworkd, StrategyKubelet})...)
			f.part = loopPart{role: roleSource, text: "DNS=" + sv.Text, why: why}
			out = append(out, f)
		}
	}
	for _, d := range s.DHCPServers() {
		a := d.Addr.WithZone("")
		if !n.Looping(a) {
			continue
		}
		_, why := n.classify(a)
		chain := []string{d.says() + ": " + a.String(), why,
			"systemd-networkd hands it to systemd-resolved, which writes its upstreams into " + resolvconf.ResolvedUplinkFile,
			n.kubeletStep(), "the DNS server in the pod forwards to itself"}
		f := newFinding(CodeNetworkdInjects, d.Lease.File, d.Lease.Line, a, chain, n.applicable([]string{StrategyNetworkd, StrategyKubelet})...)
		f.part = loopPart{role: roleSource, text: "DHCPv4 lease DNS " + a.String(), why: why}
		out = append(out, f)
	}
	return out
}

// matching says which links a network is for.
func matching(nw networkd.Network) string {
	if len(nw.Match) == 0 {
		return ""
	}
	return " (for links " + strings.Join(nw.Match, " ") + ")"
}

// Candidates: the clean DNS= servers of its networks.
func (s *Networkd) Candidates(_ *Node, add func(netip.Addr, string)) {
	for _, nw := range s.networks() {
		for _, sv := range nw.DNS {
			add(sv.Addr, fmt.Sprintf("DNS= in %s line %d", sv.File, sv.Line))
		}
	}
}
