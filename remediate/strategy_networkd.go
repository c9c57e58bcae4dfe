package remediate

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg/networkd"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// NetworkdDropIn is the name of unloop's drop-in in a network's
// /etc/systemd/network/NAME.network.d/: late in the order networkd applies
// drop-ins (by name, across its folders), so its DNS= comes after the site's.
const NetworkdDropIn = "99-unloop-dns.conf"

const networkdUnit = "systemd-networkd.service"

var networkdStrategy = Strategy{
	Name: node.StrategyNetworkd,
	Help: "a systemd-networkd drop-in that sets the network's DNS= again without the looping servers ([DHCPv4] UseDNS=no where a lease brought one), then networkd reloaded over D-Bus (resolved rewrites its uplink file)",
	// The pod-file codes networkd's Put can name it for, and its own.
	Fixes: []finding.Code{finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeClusterDNS, finding.CodeCorefileForwardLoop, finding.CodeNetworkdInjects},
	// Where a .network file's DNS= loops: Put and Findings name it only then.
	plan:    planNetworkd,
	reloads: networkdReloads,
	unit:    networkdUnit,
	reload:  reloadNetworkd,
}

// networkdReloads: networkd reads .network files and their drop-ins at
// reload (networkctl reload, systemd v252–v257).
func networkdReloads(p string) bool { return strings.HasSuffix(path.Dir(p), ".network.d") }

func reloadNetworkd(ctx context.Context, bus node.Bus, _ []string) error {
	return bus.ReloadNetworkd(ctx)
}

func planNetworkd(ctx context.Context, p *planner, _ []node.Finding) error {
	src := node.SourceOf[*node.Networkd](p.node)
	if src == nil || src.Config == nil {
		return nil
	}
	dhcp := src.DHCPServers()
	var put, clean []string // the servers the drop-ins drop and keep
	for _, nw := range src.Config.Networks {
		if p.node.Generated(nw.File) {
			continue // fixed in its generator's input (netplan's YAML)
		}
		var keep, drop []string
		for _, sv := range nw.DNS {
			if p.node.Looping(sv.Addr.WithZone("")) {
				drop = append(drop, sv.Addr.WithZone("").String())
			} else {
				keep = append(keep, sv.Text)
			}
		}
		// A looping server of a lease: UseDNS=no drops the lease's servers,
		// the clean ones too, so those are kept as DNS= (until the next
		// apply: a renew that brings others is not followed).
		var leased, leaseLoops bool
		for _, d := range dhcp {
			if d.Network.File != nw.File {
				continue
			}
			leased = true
			if a := d.Addr.WithZone(""); p.node.Looping(a) {
				leaseLoops = true
				drop = append(drop, a.String())
			} else if !slices.Contains(keep, a.String()) {
				keep = append(keep, a.String())
			}
		}
		if !leaseLoops && len(drop) == 0 {
			continue
		}
		if !leaseLoops && leased {
			keep = slices.DeleteFunc(keep, func(k string) bool { return leaseHas(dhcp, nw.File, k) })
		}
		if len(keep) == 0 {
			// DNS= with nothing after it would leave the link only what DHCP
			// gives, maybe nothing: name the upstreams that answered.
			ups, err := p.usable()
			if err != nil {
				return err
			}
			for _, a := range ups {
				keep = append(keep, a.String())
			}
		}
		dropIn := path.Join("/etc/systemd/network", path.Base(nw.File)+".d", NetworkdDropIn)
		body := networkdDropIn(nw.File, keep, leaseLoops)
		if err := p.edit(dropIn, node.StrategyNetworkd, "set DNS= of "+nw.File+" again without the looping servers", func([]byte) ([]byte, error) {
			return body, nil
		}); err != nil {
			return err
		}
		put, clean = append(put, drop...), append(clean, keep...)
	}
	if len(put) == 0 {
		return nil
	}
	c := p.reload(ctx, networkdUnit, node.StrategyNetworkd,
		"networkd reads its .network drop-ins at reload and hands resolved the new servers, without taking a link down",
		func(ctx context.Context, bus node.Bus) error { return reloadNetworkd(ctx, bus, nil) },
		fileClean(p.env.Root, resolvconf.ResolvedUplinkFile, "networkd's reload", put))
	if c.Skipped != "" {
		why := "networkd is not reloaded now (" + c.Skipped + "): remove the looping servers it put here, which resolved would drop at networkd's reload"
		if err := p.removeFromFile(resolvconf.ResolvedUplinkFile, node.StrategyNetworkd, why, put, clean); err != nil {
			return err
		}
	}
	p.pods(node.StrategyNetworkd)
	return nil
}

// networkdDropIn is the drop-in's text: an empty DNS= resets the list the
// .network file and earlier drop-ins built (systemd.network(5),
// config_parse_dns in v252–v257), then the clean servers again, in their
// order. Servers learnt over DHCP are another list, left as they are.
func networkdDropIn(file string, servers []string, noDHCP bool) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: the DNS servers of %s without the looping ones.\n", resolvconf.UnloopMarker, file)
	b.WriteString("# Written by `unloop apply --strategy networkd`; `unloop rollback` removes it.\n[Network]\nDNS=\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "DNS=%s\n", s)
	}
	if noDHCP {
		// The lease brought a looping server: networkd hands resolved a
		// lease's servers unless told not to (config_parse_dhcp_use_dns).
		b.WriteString("\n[DHCPv4]\nUseDNS=no\n")
	}
	return b.Bytes()
}

// leaseHas: server s came from a lease of network file, not its DNS=.
func leaseHas(dhcp []networkd.Leased, file, s string) bool {
	for _, d := range dhcp {
		if d.Network.File == file && d.Addr.WithZone("").String() == s {
			return true
		}
	}
	return false
}
