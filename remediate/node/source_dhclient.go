package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/dhclient"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
)

// Dhclient is ISC dhclient: its dhclient.conf files, whose
// prepend/supersede/append lines put servers into /etc/resolv.conf through
// dhclient-script at every lease and renew, and its leases.
type Dhclient struct {
	Configs []*dhclient.Config
	Leases  []dhclient.Lease
}

func newDhclient() Source { return &Dhclient{} }

func (*Dhclient) Name() string    { return "dhclient" }
func (*Dhclient) Paths() []string { return dhclient.Paths() }

func (s *Dhclient) Read(_ context.Context, g *Gathering) {
	n, r := g.Node, g.Env.Root
	s.Configs = load(n, func() ([]*dhclient.Config, error) { return dhclient.LoadConfigs(r) })
	s.Leases = load(n, func() ([]dhclient.Lease, error) { return dhclient.LoadLeases(r) })
}

// Wrote: the file says dhclient-script wrote it (RHEL's header, or Debian's
// headerless file beside a lease).
func (*Dhclient) Wrote(rf *resolvconf.File) bool { return rf.Generator == resolvconf.GenDhclient }

// Put: a dhclient.conf statement that names a, where pods get the host's
// file; or the file's own word that dhclient-script wrote it.
func (s *Dhclient) Put(n *Node, rf *resolvconf.File, a netip.Addr, _ addrKind) (Origin, bool) {
	if n.isHostFile(rf) {
		for _, c := range s.Configs {
			for _, st := range c.Statements {
				if st.Verb != "default" && slices.Contains(st.Addrs, a) {
					return Origin{Says: fmt.Sprintf("dhclient put it there: %s line %d says %s %s %s", c.Path, st.Line, st.Verb, st.Option, a),
						At: finding.Place(c.Path, st.Line), Fixes: []string{StrategyDhclient, StrategyKubelet}}, true
				}
			}
		}
	}
	if s.Wrote(rf) {
		return Origin{Says: "dhclient wrote the file (" + rf.Evidence + ")", Fixes: []string{StrategyDhclient, StrategyKubelet}, Writer: true}, true
	}
	return Origin{}, false
}

// Candidates: the servers of its leases.
func (s *Dhclient) Candidates(_ *Node, add func(netip.Addr, From)) {
	for _, l := range s.Leases {
		for _, a := range l.DNS {
			add(a, lineOf("dhclient lease", l.Path, l.Line))
		}
	}
}

// Findings: each dhclient.conf statement that adds a looping address, where
// pods get the host's file and a DNS server reads it.
func (s *Dhclient) Findings(n *Node, rds []Reader) []Finding {
	if len(rds) == 0 || !n.podIsHostFile() {
		return nil
	}
	var out []Finding
	for _, c := range s.Configs {
		for _, st := range c.Statements {
			for _, a := range st.Addrs {
				if !n.Looping(a) {
					continue
				}
				_, why := n.classify(a)
				chain := []string{
					fmt.Sprintf("%s line %d: %s %s %s", c.Path, st.Line, st.Verb, st.Option, a), why,
					"dhclient-script writes it into /etc/resolv.conf at every lease and renew",
					n.kubeletStep(),
					"the DNS server in the pod forwards to itself",
				}
				f := finding.New(finding.CodeDhclientInjects, c.Path, st.Line, a, chain, n.applicable([]string{StrategyDhclient, StrategyKubelet})...)
				f.Part = finding.Part{Role: finding.RoleSource, Text: fmt.Sprintf("%s %s %s", st.Verb, st.Option, a), Why: why}
				out = append(out, f)
			}
		}
	}
	return out
}
