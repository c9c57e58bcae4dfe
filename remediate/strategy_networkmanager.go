package remediate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/networkmanager"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

const networkManagerUnit = "NetworkManager.service"

var networkManagerStrategy = Strategy{
	Name: node.StrategyNetworkManager,
	Help: "NetworkManager's own setting edited in place without the looping servers (a conf.d [global-dns-domain-*] servers=, a connection's ipv4.dns/ipv6.dns, an ifcfg DNSn=), then NetworkManager reloaded over D-Bus (Reload, or LoadConnections and Reapply): no interface goes down",
	// The pod-file codes NetworkManager's Put can name it for, and its own.
	Fixes:   []finding.Code{finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeClusterDNS, finding.CodeCorefileForwardLoop, finding.CodeNetworkManagerInjects},
	plan:    planNetworkManager,
	reloads: func(p string) bool { return networkmanager.IsConf(p) || networkmanager.IsProfile(p) },
	unit:    networkManagerUnit,
	reload:  reloadNetworkManager,
}

// reloadNetworkManager reloads what of paths NetworkManager reads: its
// configuration (Reload with CONF|DNS_RC), its profiles (LoadConnections,
// then Reapply on their devices). NetworkManager 1.42–1.52.
func reloadNetworkManager(ctx context.Context, bus node.Bus, paths []string) error {
	var conns []string
	for _, p := range paths {
		if networkmanager.IsProfile(p) {
			conns = append(conns, p)
		}
	}
	return bus.ReloadNetworkManager(ctx, slices.ContainsFunc(paths, networkmanager.IsConf), conns)
}

func planNetworkManager(ctx context.Context, p *planner, _ []finding.Finding) error {
	src := node.SourceOf[*node.NetworkManager](p.node)
	if src == nil || src.Config == nil {
		return nil
	}
	var put, paths []string
	// A keyfile another source generates is fixed in its input (netplan's YAML).
	servers := slices.DeleteFunc(slices.Clone(src.Config.Servers), func(s networkmanager.Server) bool { return p.node.Generated(s.File) })
	for _, e := range networkmanager.Edits(servers, p.node.Looping) {
		var ups []netip.Addr
		if e.All {
			// An empty list would leave NetworkManager only what DHCP
			// gives, maybe nothing: name the upstreams that answered.
			var err error
			if ups, err = p.usable(); err != nil {
				return err
			}
		}
		// An ifcfg profile's DNSn are numbered again (Line 0): NetworkManager stops at the first number missing.
		reason := fmt.Sprintf("remove the looping servers from %s (%s), where NetworkManager reads them", e.File, e.Key)
		if err := p.edit(e.File, node.StrategyNetworkManager, reason, func(old []byte) ([]byte, error) { return e.Apply(old, ups) }); err != nil {
			return err
		}
		put, paths = append(put, e.Looping...), append(paths, e.File)
	}
	if len(put) == 0 {
		return nil
	}
	// The file its servers are traced to: the host's resolv.conf (its
	// dns=default). Its dns=systemd-resolved, which hands them to resolved's
	// uplink file, is not traced to NetworkManager yet.
	written := "/etc/resolv.conf"
	if p.node.Host != nil {
		written = p.node.Host.Target
	}
	c := p.reload(ctx, networkManagerUnit, node.StrategyNetworkManager,
		"NetworkManager reads its configuration at Reload and a profile at LoadConnections, and Reapply hands a device the new servers without taking it down",
		func(ctx context.Context, bus node.Bus) error {
			return reloadNetworkManager(ctx, bus, slices.Compact(paths))
		},
		fileClean(p.env.Root, written, "NetworkManager's reload", put))
	if c.Skipped != "" {
		why := "NetworkManager is not reloaded now (" + c.Skipped + "): remove the looping servers it wrote here, which it drops at its reload"
		if err := p.removeFromFile(written, node.StrategyNetworkManager, why, put, nil); err != nil {
			return err
		}
	}
	p.pods(node.StrategyNetworkManager)
	return nil
}
