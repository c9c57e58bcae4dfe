package node

import (
	"context"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/netplan"
	"github.com/unloop/unloop/hostcfg/networkd"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
)

// Netplan is netplan: its YAML's nameservers, which it renders into
// networkd's .network or NetworkManager's keyfile for each interface;
// networkd hands them to resolved's uplink file, NetworkManager writes them
// into /etc/resolv.conf. The YAML is where a site (cloud-init, Kubespray)
// writes them, so the fix is made there: the networkd and NetworkManager
// sources leave the files netplan renders to it (Renders).
type Netplan struct {
	none
	Config *netplan.Config
	// Leases are networkd's DHCPv4 leases: a lease of a link netplan
	// renders brings servers unless the YAML says use-dns: false.
	Leases []networkd.Lease
}

func newNetplan() Source { return &Netplan{} }

func (*Netplan) Name() string    { return "netplan" }
func (*Netplan) Paths() []string { return slices.Clone(netplan.Dirs) }

func (s *Netplan) Read(_ context.Context, g *Gathering) {
	s.Config = load(g.Node, func() (*netplan.Config, error) { return netplan.Load(g.Env.Root) })
	if s.Config != nil && len(s.Config.Links) > 0 {
		s.Leases = load(g.Node, func() ([]networkd.Lease, error) { return networkd.LoadLeases(g.Env.Root) })
	}
}

// generates: file is one netplan renders, so its servers are netplan's to
// fix (in its YAML), not the backend's that reads it.
func (s *Netplan) generates(_ *Node, file string) bool { return s.Config.Renders(file) != nil }

// Sets are the servers its links hand their backend (netplan.Config.Sets).
func (s *Netplan) Sets() []netplan.Set { return s.Config.Sets(s.Leases) }

// reaches: where the link's backend puts its servers is the pod file.
func (n *Node) netplanReaches(l *netplan.Link) (string, bool) {
	switch l.Renderer {
	case netplan.Networkd:
		return "systemd-networkd hands it to systemd-resolved, which writes its upstreams into " + resolvconf.ResolvedUplinkFile, n.podFileIs(resolvconf.ResolvedUplinkFile)
	case netplan.NetworkManager:
		return "NetworkManager writes it into /etc/resolv.conf", n.podIsHostFile()
	}
	return "", false
}

// Put: a nameserver of the YAML, or a lease netplan asked for, that names a
// where its backend writes rf.
func (s *Netplan) Put(n *Node, rf *resolvconf.File, a netip.Addr, kind addrKind) (Origin, bool) {
	if kind == kindStub {
		return Origin{}, false
	}
	for _, st := range s.Sets() {
		if st.Addr != a || !(st.Link.Renderer == netplan.Networkd && isResolvedFile(rf) || st.Link.Renderer == netplan.NetworkManager && n.isHostFile(rf)) {
			continue
		}
		return Origin{Says: "netplan renders it into " + st.Link.Rendered() + ": " + st.First,
			At: finding.Place(st.File, st.Line), Fixes: []string{StrategyNetplan, StrategyKubelet}}, true
	}
	return Origin{}, false
}

// Findings: each looping server of a netplan link whose backend writes the
// pod file, while a DNS server reads it: netplan's YAML line, the file it
// renders, the resolver's file, the pod file.
func (s *Netplan) Findings(n *Node, rds []Reader) []Finding {
	if len(rds) == 0 {
		return nil
	}
	var out []Finding
	for _, st := range s.Sets() {
		step, ok := n.netplanReaches(st.Link)
		if !ok || !n.Looping(st.Addr) {
			continue
		}
		_, why := n.classify(st.Addr)
		chain := []string{st.First, why}
		if st.Lease != "" {
			chain = append(chain, st.Lease+" brings "+st.Addr.String())
		}
		chain = append(chain, "netplan renders it into "+st.Link.Rendered(), step, n.kubeletStep(), "the DNS server in the pod forwards to itself")
		f := finding.New(finding.CodeNetplanInjects, st.File, st.Line, st.Addr, chain, n.applicable([]string{StrategyNetplan, StrategyKubelet})...)
		text := "nameservers: addresses: " + st.Addr.String()
		if st.Lease != "" {
			text = "dhcp4: true (the lease brings " + st.Addr.String() + ")"
		}
		f.Part = finding.Part{Role: finding.RoleSource, Text: text, Why: why}
		out = append(out, f)
	}
	return out
}

// Candidates: the clean servers of its YAML.
func (s *Netplan) Candidates(_ *Node, add func(netip.Addr, From)) {
	if s.Config == nil {
		return
	}
	for _, l := range s.Config.Links {
		for _, sv := range l.Nameservers {
			add(sv.Addr, lineOf("netplan", sv.File, sv.Line))
		}
	}
}
