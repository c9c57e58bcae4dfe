package node

import (
	"context"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/networkd"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
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

// DHCPServers are the servers of its links' leases that reach resolved.
func (s *Networkd) DHCPServers() []networkd.Leased { return s.Config.LeasedServers(s.Leases) }

// Put: a DNS= line or a lease that names a, where pods get resolved's file.
func (s *Networkd) Put(n *Node, rf *resolvconf.File, a netip.Addr, kind addrKind) (Origin, bool) {
	if !isResolvedFile(rf) || kind == kindStub {
		return Origin{}, false
	}
	for _, st := range s.sets() {
		if st.Addr == a && !n.generated(st) {
			return Origin{Says: "systemd-networkd hands it to systemd-resolved: " + st.Says,
				At: finding.Place(st.File, st.Line), Fixes: []string{StrategyNetworkd, StrategyKubelet}}, true
		}
	}
	return Origin{}, false
}

func (s *Networkd) sets() []networkd.Set { return s.Config.Sets(s.Leases) }

// Findings: each looping DNS= line or leased server, where pods get
// resolved's uplink file and a DNS server reads it.
func (s *Networkd) Findings(n *Node, rds []Reader) []Finding {
	if len(rds) == 0 || !n.podFileIs(resolvconf.ResolvedUplinkFile) {
		return nil
	}
	var out []Finding
	for _, st := range s.sets() {
		if !n.Looping(st.Addr) || n.generated(st) {
			continue // its generator's finding names the file (netplan's)
		}
		_, why := n.classify(st.Addr)
		chain := []string{st.First, why,
			"systemd-networkd hands it to systemd-resolved, which writes its upstreams into " + resolvconf.ResolvedUplinkFile,
			n.kubeletStep(), "the DNS server in the pod forwards to itself"}
		f := finding.New(finding.CodeNetworkdInjects, st.File, st.Line, st.Addr, chain, n.applicable([]string{StrategyNetworkd, StrategyKubelet})...)
		f.Part = finding.Part{Role: finding.RoleSource, Text: st.Text, Why: why}
		out = append(out, f)
	}
	return out
}

// Candidates: the clean servers of its networks' DNS= and leases.
func (s *Networkd) Candidates(_ *Node, add func(netip.Addr, From)) {
	for _, st := range s.sets() {
		add(st.Addr, From{File: st.File, Line: st.Line, Message: st.Says})
	}
}

// generated: st is in a file another source generates (netplan's), or a
// lease of a link configured by such a file; that source owns the fix.
func (n *Node) generated(st networkd.Set) bool {
	if n.Generated(st.File) {
		return true
	}
	for _, d := range SourceOf[*Networkd](n).DHCPServers() {
		if d.Lease.File == st.File && d.Lease.Line == st.Line && n.Generated(d.Network.File) {
			return true
		}
	}
	return false
}
