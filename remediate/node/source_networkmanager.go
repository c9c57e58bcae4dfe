package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/networkmanager"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
)

// NetworkManager: its drop-ins' and connections' servers (keyfile, ifcfg),
// which it writes into /etc/resolv.conf or hands systemd-resolved, its
// dns=dnsmasq, and its leases. A server of its configuration and its
// dns=dnsmasq are fixed at their source by the networkmanager strategy, or
// by pointing kubelet at a clean file.
type NetworkManager struct {
	Config *networkmanager.Config
	// NoStub is its no-stub-resolv.conf (its servers, not its dnsmasq's
	// address), when present.
	NoStub *resolvconf.File
}

func newNetworkManager() Source { return &NetworkManager{} }

func (*NetworkManager) Name() string    { return "NetworkManager" }
func (*NetworkManager) Paths() []string { return networkmanager.Paths() }

func (s *NetworkManager) Read(_ context.Context, g *Gathering) {
	s.Config = load(g.Node, func() (*networkmanager.Config, error) { return networkmanager.Load(g.Env.Root) })
	s.NoStub = load(g.Node, func() (*resolvconf.File, error) { return readResolv(g.Env.Root, networkmanager.NoStubResolvConf) })
}

// HandsResolved: NetworkManager hands its servers to systemd-resolved, which
// writes them into its uplink file.
func (s *NetworkManager) HandsResolved(n *Node) bool {
	return s.Config.HandsResolved(n.Host != nil && n.Host.Link != "" && isResolvedFile(n.Host))
}

func (s *NetworkManager) keptFile() *resolvconf.File { return s.NoStub }

// Unlooped are the servers NetworkManager writes once dns=dnsmasq is
// dns=default, and those of them that loop and stay (networkmanager.Unlooped).
func (s *NetworkManager) Unlooped(n *Node) (ups, stay []netip.Addr) {
	return s.Config.Unlooped(s.NoStub.Addrs(), n.Looping)
}

func (*NetworkManager) Wrote(rf *resolvconf.File) bool {
	return rf.Generator == resolvconf.GenNetworkManager
}

// Put: its dns=dnsmasq or a server of its configuration, where pods get the
// host's file, or resolved's where NetworkManager hands resolved its
// servers; or the file's word that NetworkManager wrote it.
func (s *NetworkManager) Put(n *Node, rf *resolvconf.File, a netip.Addr, kind addrKind) (Origin, bool) {
	viaResolved := isResolvedFile(rf) && kind != kindStub && s.HandsResolved(n)
	if (n.isHostFile(rf) || viaResolved) && s.Config != nil {
		if d, ok := s.dnsmasq(n, a); ok {
			_, _, fixes := s.DnsmasqFix(n)
			return Origin{Says: fmt.Sprintf("NetworkManager put it there: %s line %d says dns=dnsmasq, and its dnsmasq listens on %s", d.File, d.Line, a),
				At: finding.Place(d.File, d.Line), Fixes: fixes}, true
		}
		says := "NetworkManager put it there"
		if viaResolved {
			says = "NetworkManager hands it to systemd-resolved"
		}
		for _, sv := range s.Config.Servers {
			if sv.Addr == a && !n.Generated(sv.File) {
				return Origin{Says: fmt.Sprintf("%s: %s line %d (%s)", says, sv.File, sv.Line, sv.Key), At: finding.Place(sv.File, sv.Line),
					Fixes: []string{StrategyNetworkManager, StrategyKubelet}}, true
			}
		}
	}
	if s.Wrote(rf) {
		return writtenBy(rf), true
	}
	return Origin{}, false
}

// Candidates: its no-stub-resolv.conf's, its leases' servers, then its
// configuration's.
func (s *NetworkManager) Candidates(_ *Node, add func(netip.Addr, From)) {
	if rf := s.NoStub; rf != nil {
		for _, ns := range rf.Conf.Nameservers {
			add(ns.Addr, lineOf("", rf.Path, ns.Line))
		}
	}
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
// where pods get the host's file (or resolved's uplink file, where
// NetworkManager hands resolved its servers) and a DNS server reads it.
func (s *NetworkManager) Findings(n *Node, rds []Reader) []Finding {
	viaResolved := s.HandsResolved(n) && n.podFileIs(resolvconf.ResolvedUplinkFile)
	if len(rds) == 0 || s.Config == nil || !n.podIsHostFile() && !viaResolved {
		return nil
	}
	var out []Finding
	if d, a, fixes := s.DnsmasqFix(n); a.IsValid() {
		_, why := n.classify(a)
		chain := []string{fmt.Sprintf("%s line %d: dns=dnsmasq", d.File, d.Line),
			fmt.Sprintf("NetworkManager runs its own dnsmasq on %s and writes that address into /etc/resolv.conf", a), why,
			n.kubeletStep(), "the DNS server in the pod forwards to itself"}
		if _, stay := s.Unlooped(n); len(stay) > 0 {
			chain = slices.Insert(chain, 3, fmt.Sprintf("with dns=default NetworkManager would write %s, which loops too: only kubelet's resolvConf fixes it", strings.Trim(fmt.Sprint(stay), "[]")))
		}
		f := finding.New(finding.CodeNetworkManagerInjects, d.File, d.Line, a, chain, n.applicable(fixes)...)
		f.Part = finding.Part{Role: finding.RoleSource, Text: "dns=dnsmasq (NetworkManager's dnsmasq on " + a.String() + ")", Why: why}
		out = append(out, f)
	}
	for _, s := range s.Config.Servers {
		if !n.Looping(s.Addr) || n.Generated(s.File) {
			continue // its generator's finding names the keyfile (netplan's)
		}
		_, why := n.classify(s.Addr)
		writes := "NetworkManager writes it into /etc/resolv.conf"
		if viaResolved {
			writes = "NetworkManager hands it to systemd-resolved, which writes its upstreams into " + resolvconf.ResolvedUplinkFile
		}
		chain := []string{fmt.Sprintf("%s line %d: %s lists %s", s.File, s.Line, s.Key, s.Addr), why,
			writes, n.kubeletStep(), "the DNS server in the pod forwards to itself"}
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

// DnsmasqFix is its dns=dnsmasq setting and its dnsmasq's address where the
// host's file names it, and their fixes: networkmanager (dns=default) unless
// a server it would write instead loops and stays, or it knows none to write.
func (s *NetworkManager) DnsmasqFix(n *Node) (hostcfg.Setting, netip.Addr, []string) {
	for _, a := range n.Host.Addrs() {
		if d, ok := s.dnsmasq(n, a); ok {
			if ups, stay := s.Unlooped(n); len(stay) > 0 || len(ups) == 0 {
				return d, a, []string{StrategyKubelet}
			}
			return d, a, []string{StrategyNetworkManager, StrategyKubelet}
		}
	}
	return hostcfg.Setting{}, netip.Addr{}, nil
}
