package node

import (
	"context"
	"fmt"
	"net/netip"
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
}

func newNetworkd() Source { return &Networkd{} }

func (*Networkd) Name() string    { return "systemd-networkd" }
func (*Networkd) Paths() []string { return networkd.Dirs }

func (s *Networkd) Read(_ context.Context, g *Gathering) {
	s.Config = load(g.Node, func() (*networkd.Config, error) { return networkd.Load(g.Env.Root) })
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
