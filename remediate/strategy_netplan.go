package remediate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg/netplan"
	"github.com/unloop/unloop/hostcfg/networkmanager"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

var netplanStrategy = Strategy{
	Name: node.StrategyNetplan,
	Help: "netplan's YAML edited in place without the looping nameservers (dhcp4-overrides: use-dns: false where a lease brought one; comments and every other byte kept), the file netplan renders written as `netplan generate` would, then networkd (or NetworkManager) reloaded over D-Bus",
	// The pod-file codes netplan's Put can name it for, and its own.
	Fixes:   []finding.Code{finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeClusterDNS, finding.CodeCorefileForwardLoop, finding.CodeNetplanInjects},
	plan:    planNetplan,
	reloads: netplanReloads,
	unit:    netplanNetworkd,
	reload:  func(ctx context.Context, bus node.Bus, _ []string) error { return bus.ReloadNetworkd(ctx) },
}

// The backends netplan renders to, reloaded as their own strategies do
// (networkctl reload; NetworkManager's LoadConnections and Reapply).
const (
	netplanNetworkd       = "systemd-networkd.service"
	netplanNetworkManager = "NetworkManager.service"
)

// netplanReloads: networkd reads the .network files netplan renders at
// reload (a NetworkManager keyfile is the networkmanager strategy's to reload).
func netplanReloads(p string) bool {
	return strings.HasPrefix(p, "/run/systemd/network/10-netplan-") && strings.HasSuffix(p, ".network")
}

func planNetplan(ctx context.Context, p *planner, _ []finding.Finding) error {
	src := node.SourceOf[*node.Netplan](p.node)
	if src == nil || src.Config == nil {
		return nil
	}
	sets := src.Sets()
	fixes := netplan.Fixes(sets, p.node.Looping)
	if len(fixes) == 0 {
		return nil
	}
	var fill []netip.Addr
	if src.Config.NeedsFill(p.node.Looping) {
		var err error
		if fill, err = p.usable(); err != nil {
			return err
		}
	}
	for _, f := range fixes {
		if err := p.edit(f.File, node.StrategyNetplan, "remove the looping servers from netplan's YAML, where they are written", func(old []byte) ([]byte, error) {
			return f.Apply(old, p.node.Looping, fill)
		}); err != nil {
			return err
		}
	}
	nd, nm, err := planRendered(p, sets, fill)
	if err != nil {
		return err
	}
	var put []string
	for _, st := range sets {
		if p.node.Looping(st.Addr) && !slices.Contains(put, st.Addr.String()) {
			put = append(put, st.Addr.String())
		}
	}
	if nd {
		if err := netplanReload(ctx, p, netplanNetworkd, resolvconf.ResolvedUplinkFile, put,
			func(ctx context.Context, bus node.Bus) error { return bus.ReloadNetworkd(ctx) }); err != nil {
			return err
		}
	}
	if len(nm) > 0 {
		written := "/etc/resolv.conf"
		if p.node.Host != nil {
			written = p.node.Host.Target
		}
		if err := netplanReload(ctx, p, netplanNetworkManager, written, put,
			func(ctx context.Context, bus node.Bus) error { return bus.ReloadNetworkManager(ctx, false, nm) }); err != nil {
			return err
		}
	}
	p.pods(node.StrategyNetplan)
	return nil
}

// planRendered writes the files netplan renders for the links of the
// looping sets again, as `netplan generate` would from the edited YAML; nd
// says a networkd file changed, nm lists the NetworkManager keyfiles that did.
func planRendered(p *planner, sets []netplan.Set, fill []netip.Addr) (nd bool, nm []string, err error) {
	var nmc *networkmanager.Config // read for the keyfiles netplan renders, when one changes
	done := map[*netplan.Link]bool{}
	for _, st := range sets {
		l := st.Link
		r := l.Rendered()
		if done[l] || !p.node.Looping(st.Addr) || r == "" || !p.env.Root.Exists(r) {
			continue // not rendered yet: netplan renders the edited YAML
		}
		done[l] = true
		lease := slices.ContainsFunc(sets, func(o netplan.Set) bool { return o.Link == l && o.Lease != "" && p.node.Looping(o.Addr) })
		reason := fmt.Sprintf("write the file netplan renders for %s as `netplan generate` would from the edited YAML", l.ID)
		if l.Renderer == netplan.Networkd {
			nd = true
			err = p.edit(r, node.StrategyNetplan, reason, func(old []byte) ([]byte, error) {
				return netplan.FixRendered(r, old, p.node.Looping, fill, lease, netplan.LeaseKeeps(sets, l, p.node.Looping))
			})
		} else {
			if nmc == nil {
				// What can't be read is an unreadable finding of the check already.
				nmc, _ = networkmanager.Load(p.env.Root)
			}
			servers := slices.DeleteFunc(slices.Clone(nmc.Servers), func(s networkmanager.Server) bool { return s.File != r })
			for _, e := range networkmanager.Edits(servers, p.node.Looping) {
				if err == nil {
					err = p.edit(r, node.StrategyNetplan, reason, func(old []byte) ([]byte, error) { return e.Apply(old, fill) })
				}
			}
			nm = append(nm, r)
		}
		if err != nil {
			return false, nil, err
		}
	}
	return nd, nm, nil
}

// netplanReload reloads the backend, which hands the resolver the new
// servers; where it is not reloaded now, the servers it put into written
// are removed there too, as it drops them at its reload.
func netplanReload(ctx context.Context, p *planner, unit, written string, put []string, reload func(context.Context, node.Bus) error) error {
	c := p.reload(ctx, unit, node.StrategyNetplan,
		"the backend reads the file netplan rendered at reload and hands the resolver the new servers, without taking a link down",
		reload, fileClean(p.env.Root, written, "the reload of netplan's backend", put))
	if c.Skipped != "" {
		why := strings.TrimSuffix(unit, ".service") + " is not reloaded now (" + c.Skipped + "): remove the looping servers netplan's backend put here, which it drops at its reload"
		return p.removeFromFile(written, node.StrategyNetplan, why, put, nil)
	}
	return nil
}
