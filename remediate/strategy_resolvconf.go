package remediate

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/unloop/unloop/hostcfg/debresolvconf"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

var resolvconfStrategy = Strategy{
	Name: node.StrategyResolvconf,
	Help: "Debian's resolvconf fixed where it reads the server: the looping line removed from resolv.conf.d's head, base or tail, or dnsmasq's registration of 127.0.0.1 stopped (DNSMASQ_EXCEPT=\"lo\" in /etc/default/dnsmasq, its lo.dnsmasq record emptied), and /run/resolvconf/resolv.conf written without it as `resolvconf -u` would",
	// The pod-file codes resolvconf's Put can name it for, and its own.
	Fixes: []finding.Code{finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeClusterDNS, finding.CodeCorefileForwardLoop, finding.CodeResolvconfInjects},
	plan:  planResolvconf,
}

// planResolvconf edits resolvconf's inputs, then its file. unloop runs no
// command on the node, and resolvconf has no unit that regenerates the file
// (resolvconf.service's --enable-updates runs the update scripts only when
// an update was postponed: /sbin/resolvconf, 1.91+nmu1), so the file is
// written here as the libc update script would write it from the edited
// inputs; the next `resolvconf -u` (any interface's change, dnsmasq's
// restart) writes the same servers.
func planResolvconf(_ context.Context, p *planner, _ []finding.Finding) error {
	src := node.SourceOf[*node.Resolvconf](p.node)
	if src == nil || src.Config == nil || p.node.Host == nil || !src.Wrote(p.node.Host) {
		return nil
	}
	byFile := map[string][]string{}
	var put []string
	dnsmasq := false
	for _, sv := range src.Config.Servers {
		if !p.node.Looping(sv.Addr) || !sv.AtSource() {
			continue
		}
		dnsmasq = dnsmasq || sv.Dnsmasq()
		byFile[sv.File] = append(byFile[sv.File], sv.Addr.String())
		put = append(put, sv.Addr.String())
	}
	if len(put) == 0 {
		return nil
	}
	for _, f := range slices.Sorted(maps.Keys(byFile)) {
		addrs := byFile[f]
		reason := fmt.Sprintf("remove the looping servers from %s, where resolvconf reads them", f)
		if f == debresolvconf.DnsmasqRecord {
			// An empty record is skipped by list-records ([ -s ]), as
			// `resolvconf -d lo.dnsmasq` would remove it.
			reason = "empty dnsmasq's registration of itself with resolvconf, as `resolvconf -d lo.dnsmasq` would"
		}
		if err := p.edit(f, node.StrategyResolvconf, reason, func(old []byte) ([]byte, error) {
			return resolvconf.WithoutServers(f, old, addrs, nil)
		}); err != nil {
			return err
		}
	}
	if dnsmasq && !src.Config.ExceptsLo {
		reason := "dnsmasq registers 127.0.0.1 with resolvconf at every start unless DNSMASQ_EXCEPT names lo (dnsmasq 2.90's start_resolvconf); it then no longer listens on lo either"
		if err := p.edit(debresolvconf.DnsmasqDefaults, node.StrategyResolvconf, reason, func(old []byte) ([]byte, error) {
			return debresolvconf.ExceptLo(old), nil
		}); err != nil {
			return err
		}
	}
	// Where the file would name none, the servers the records and base give
	// next, else the upstreams that answered.
	clean := src.Config.Next(p.node.Looping)
	if len(clean) == 0 {
		ups, err := p.usable()
		if err != nil {
			return err
		}
		for _, a := range ups {
			clean = append(clean, a.String())
		}
	}
	why := "write resolvconf's file without the looping servers, as `resolvconf -u` would from the edited inputs (unloop runs no command on the node)"
	file := p.node.Host.Target
	if err := p.edit(file, node.StrategyResolvconf, why, func(old []byte) ([]byte, error) {
		return debresolvconf.Regenerated(file, old, put, clean)
	}); err != nil {
		return err
	}
	p.pods(node.StrategyResolvconf)
	return nil
}
