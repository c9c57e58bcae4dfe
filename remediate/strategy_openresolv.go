package remediate

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/unloop/unloop/hostcfg/openresolv"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

var openresolvStrategy = Strategy{
	Name: node.StrategyOpenresolv,
	Help: "openresolv fixed where it reads the server: the looping address removed from /etc/resolvconf.conf's name_servers, name_servers_append, prepend_nameservers or append_nameservers (only the value's bytes), or, for an interface record's, added to its name_server_blacklist; and /etc/resolv.conf written as `resolvconf -u` then writes it",
	// The pod-file codes openresolv's Put can name it for, and its own.
	Fixes: []finding.Code{finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeClusterDNS, finding.CodeCorefileForwardLoop, finding.CodeResolvconfInjects},
	plan:  planOpenresolv,
}

// planOpenresolv edits resolvconf.conf, then the file openresolv writes.
// unloop runs no command on the node (as for Debian's resolvconf), so the
// file is written here as the libc subscriber (openresolv 3.12.0's and
// 3.13.2's libc.in) writes it from the edited inputs: the servers left, in
// its order; the next `resolvconf -u` (a DHCP renew's `resolvconf -a`)
// writes the same ones.
func planOpenresolv(_ context.Context, p *planner, _ []finding.Finding) error {
	src := node.SourceOf[*node.Openresolv](p.node)
	if src == nil || !src.Config.Present() || p.node.Host == nil || !src.Wrote(p.node.Host) {
		return nil
	}
	byLine := map[int][]string{}
	var records []string
	for _, sv := range src.Config.Servers {
		switch a := sv.Addr.String(); {
		case !p.node.Looping(sv.Addr):
		case sv.Fixed():
			byLine[sv.Line] = append(byLine[sv.Line], a)
		case src.Blacklists(p.node) && !slices.Contains(records, a):
			records = append(records, a)
		}
	}
	if len(byLine) == 0 && len(records) == 0 {
		return nil
	}
	// Where no server would be left, the upstreams that answered take the
	// first edited list's place, so that resolvconf -u writes them too.
	next := src.Config.Next(p.node.Looping)
	var add []string
	if len(next) == 0 {
		ups, err := p.usable()
		if err != nil {
			return err
		}
		for _, a := range ups {
			add = append(add, a.String())
		}
		next = add
	}
	for _, line := range slices.Sorted(maps.Keys(byLine)) {
		drop, put := byLine[line], add
		add = nil
		reason := fmt.Sprintf("remove the looping servers from %s line %d, where openresolv reads them", openresolv.Conf, line)
		if err := p.edit(openresolv.Conf, node.StrategyOpenresolv, reason, func(old []byte) ([]byte, error) {
			return openresolv.WithoutServers(old, line, drop, put)
		}); err != nil {
			return err
		}
	}
	if len(records) > 0 {
		reason := "keep the looping servers interface records register (dhclient's, dhcpcd's) out of openresolv's file: name_server_blacklist, which it applies at every resolvconf -a and -u"
		if err := p.edit(openresolv.Conf, node.StrategyOpenresolv, reason, func(old []byte) ([]byte, error) {
			return openresolv.Blacklisted(old, records)
		}); err != nil {
			return err
		}
	}
	file := p.node.Host.Target
	why := "write openresolv's file with the servers it lists from the edited inputs, as `resolvconf -u` would (unloop runs no command on the node)"
	if err := p.edit(file, node.StrategyOpenresolv, why, func(old []byte) ([]byte, error) {
		return openresolv.Regenerated(file, old, next)
	}); err != nil {
		return err
	}
	p.pods(node.StrategyOpenresolv)
	return nil
}
