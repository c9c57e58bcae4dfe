package node

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/networkmanager"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
)

// NetworkManager: its drop-ins' and connections' servers (keyfile, ifcfg)
// and its dns=dnsmasq, which it writes into /etc/resolv.conf, and its
// leases. A server of its configuration is fixed at its source by the
// networkmanager strategy, or by pointing kubelet at a clean file.
type NetworkManager struct {
	Config *networkmanager.Config
}

func newNetworkManager() Source { return &NetworkManager{} }

func (*NetworkManager) Name() string    { return "NetworkManager" }
func (*NetworkManager) Paths() []string { return networkmanager.Paths() }

func (s *NetworkManager) Read(_ context.Context, g *Gathering) {
	s.Config = load(g.Node, func() (*networkmanager.Config, error) { return networkmanager.Load(g.Env.Root) })
}

func (*NetworkManager) Wrote(rf *resolvconf.File) bool {
	return rf.Generator == resolvconf.GenNetworkManager
}

// Put: its dns=dnsmasq or a server of its configuration, where pods get the
// host's file; or the file's word that NetworkManager wrote it.
func (s *NetworkManager) Put(n *Node, rf *resolvconf.File, a netip.Addr, _ addrKind) (Origin, bool) {
	if n.isHostFile(rf) && s.Config != nil {
		if d, ok := s.dnsmasq(n, a); ok {
			return Origin{Says: fmt.Sprintf("NetworkManager put it there: %s line %d says dns=dnsmasq, and its dnsmasq listens on %s", d.File, d.Line, a),
				At: finding.Place(d.File, d.Line), Fixes: []string{StrategyKubelet}}, true
		}
		for _, sv := range s.Config.Servers {
			if sv.Addr == a && !n.Generated(sv.File) {
				return Origin{Says: fmt.Sprintf("NetworkManager put it there: %s line %d (%s)", sv.File, sv.Line, sv.Key), At: finding.Place(sv.File, sv.Line),
					Fixes: []string{StrategyNetworkManager, StrategyKubelet}}, true
			}
		}
	}
	if s.Wrote(rf) {
		return writtenBy(rf), true
	}
	return Origin{}, false
}

// Candidates: its leases' servers, then its configuration's.
func (s *NetworkManager) Candidates(_ *Node, add func(netip.Addr, From)) {
	if s.Config == nil {
		return
	}
	for _, l := range s.Config.Leases {
		for _, a := range l.DNS {
			add(a, lineOf("NetworkManager's lease", l.Path, l.Line))
		}
	}
	for _, sv := range s.Config.Servers {
		add(sv.Addr, lineOf("", sv.File, sv.Line))
	}
}

// nmOwnsDHCP: NetworkManager, not dhclient-script, handles this node's leases,
// so no dhclient hook runs at a renew. NetworkManager speaks DHCP itself (its
// internal client, RHEL 8's and 9's default) or gives dhclient its own
// nm-dhcp-helper as the script (dhcp=dhclient); and RHEL's dispatcher script
// 11-dhclient calls dhclient.d's NAME_config on "up" only, on a renew
// (dhcp4-change) only for chrony and ntp (dhcp-4.2.5-68.el7's 11-dhclient, the
// same in Fedora's dhcp-4.4.2). It is so when NetworkManager wrote
// /etc/resolv.conf, and on RHEL 8 and 9 wherever NetworkManager is configured
// and the file does not say dhclient-script wrote it.
func (n *Node) nmOwnsDHCP() bool {
	if n.Host != nil && n.Host.Generator == resolvconf.GenNetworkManager {
		return true
	}
	nm := SourceOf[*NetworkManager](n).Config
	if nm == nil || !nm.Present || (n.Host != nil && n.Host.Generator == resolvconf.GenDhclient) {
		return false
	}
	major := n.OS.RHELMajor()
	return major == 8 || major == 9
}

// dnsmasq returns NetworkManager's dns=dnsmasq setting when a is where
// its dnsmasq listens and the host file names a as NetworkManager's.
func (s *NetworkManager) dnsmasq(n *Node, a netip.Addr) (hostcfg.Setting, bool) {
	d, ok := s.Config.Dnsmasq()
	if !ok || n.Host == nil || n.Host.Generator != resolvconf.GenNetworkManager ||
		(a != resolvconf.DnsmasqAddr && a != resolvconf.DnsmasqUbuntuAddr) {
		return hostcfg.Setting{}, false
	}
	return d, true
}

// Findings: its dns=dnsmasq and each looping server of its configuration,
// where pods get the host's file and a DNS server reads it.
func (s *NetworkManager) Findings(n *Node, rds []Reader) []Finding {
	if len(rds) == 0 || s.Config == nil || !n.podIsHostFile() {
		return nil
	}
	var out []Finding
	for _, ns := range n.Host.Conf.Nameservers {
		d, ok := s.dnsmasq(n, ns.Addr)
		if !ok {
			continue
		}
		_, why := n.classify(ns.Addr)
		chain := []string{fmt.Sprintf("%s line %d: dns=dnsmasq", d.File, d.Line),
			fmt.Sprintf("NetworkManager runs its own dnsmasq on %s and writes that address into /etc/resolv.conf", ns.Addr), why,
			n.kubeletStep(), "the DNS server in the pod forwards to itself"}
		f := finding.New(finding.CodeNetworkManagerInjects, d.File, d.Line, ns.Addr, chain, n.applicable([]string{StrategyKubelet})...)
		f.Part = finding.Part{Role: finding.RoleSource, Text: "dns=dnsmasq (NetworkManager's dnsmasq on " + ns.Addr.String() + ")", Why: why}
		out = append(out, f)
		break
	}
	for _, s := range s.Config.Servers {
		if !n.Looping(s.Addr) || n.Generated(s.File) {
			continue // its generator's finding names the keyfile (netplan's)
		}
		_, why := n.classify(s.Addr)
		chain := []string{fmt.Sprintf("%s line %d: %s lists %s", s.File, s.Line, s.Key, s.Addr), why,
			"NetworkManager writes it into /etc/resolv.conf", n.kubeletStep(),
			"the DNS server in the pod forwards to itself"}
		f := finding.New(finding.CodeNetworkManagerInjects, s.File, s.Line, s.Addr, chain, n.applicable([]string{StrategyNetworkManager, StrategyKubelet})...)
		f.Part = finding.Part{Role: finding.RoleSource, Text: fmt.Sprintf("%s lists %s", s.Key, s.Addr), Why: why}
		out = append(out, f)
	}
	return out
}

// vetoes: no dhclient hook runs at a renew where NetworkManager handles DHCP.
func (*NetworkManager) vetoes(n *Node, strategy string) string {
	if strategy == StrategyDhclient && n.nmOwnsDHCP() {
		return "NetworkManager handles DHCP here: no dhclient hook runs at a renew"
	}
	return ""
}
