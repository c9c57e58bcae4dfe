package remediate

import (
	"context"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

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
	reloads: networkManagerReloads,
	unit:    networkManagerUnit,
	reload:  reloadNetworkManager,
}

// networkManagerReloads: NetworkManager reads its configuration at Reload
// and a profile at LoadConnections (NetworkManager 1.42–1.52).
func networkManagerReloads(p string) bool {
	return nmConf(p) || nmConnection(p)
}

func nmConf(p string) bool {
	return strings.HasSuffix(path.Dir(p), "NetworkManager/conf.d") || path.Base(p) == "NetworkManager.conf" ||
		path.Base(p) == "nm-system-settings.conf"
}

func nmConnection(p string) bool {
	return strings.HasSuffix(path.Dir(p), "NetworkManager/system-connections") || path.Dir(p) == networkmanager.IfcfgDir
}

// reloadNetworkManager reloads what of paths NetworkManager reads: its
// configuration (Reload with CONF|DNS_RC), its profiles (LoadConnections,
// then Reapply on their devices).
func reloadNetworkManager(ctx context.Context, bus node.Bus, paths []string) error {
	var conns []string
	for _, p := range paths {
		if nmConnection(p) {
			conns = append(conns, p)
		}
	}
	return bus.ReloadNetworkManager(ctx, slices.ContainsFunc(paths, nmConf), conns)
}

// nmEdit is one file's looping servers: a line of a key file, or an ifcfg
// profile (line 0: its DNSn are numbered again together).
type nmEdit struct {
	file    string
	line    int
	key     string
	looping []netip.Addr
	all     bool // every server of the line (the profile) loops
}

// nmEdits groups NetworkManager's looping servers by the line that holds them.
func nmEdits(n *node.Node, cfg *networkmanager.Config) []*nmEdit {
	var out []*nmEdit
	for _, sv := range cfg.Servers {
		line := sv.Line
		if sv.Section == "ifcfg" {
			line = 0
		}
		i := slices.IndexFunc(out, func(e *nmEdit) bool { return e.file == sv.File && e.line == line })
		if i < 0 {
			out = append(out, &nmEdit{file: sv.File, line: line, key: sv.Key, all: true})
			i = len(out) - 1
		}
		if a := sv.Addr.WithZone(""); n.Looping(a) {
			out[i].looping = append(out[i].looping, a)
		} else {
			out[i].all = false
		}
	}
	return slices.DeleteFunc(out, func(e *nmEdit) bool { return len(e.looping) == 0 })
}

func planNetworkManager(ctx context.Context, p *planner, _ []finding.Finding) error {
	src := node.SourceOf[*node.NetworkManager](p.node)
	if src == nil || src.Config == nil {
		return nil
	}
	edits := nmEdits(p.node, src.Config)
	var put, paths []string
	for _, e := range edits {
		var add []string
		if e.all {
			// An empty list would leave NetworkManager only what DHCP
			// gives, maybe nothing: name the upstreams that answered.
			ups, err := p.usable()
			if err != nil {
				return err
			}
			for _, a := range ups {
				// An ipv4.dns list takes IPv4 addresses only, ipv6.dns IPv6.
				if e.key == "ipv4.dns" && !a.Is4() || e.key == "ipv6.dns" && !a.Is6() {
					continue
				}
				add = append(add, a.String())
			}
		}
		drop := func(a netip.Addr) bool { return slices.Contains(e.looping, a) }
		reason := fmt.Sprintf("remove the looping servers from %s line %d (%s), where NetworkManager reads them", e.file, e.line, e.key)
		if e.line == 0 {
			reason = "remove the looping servers from the ifcfg profile " + e.file + " (DNSn numbered again: NetworkManager stops at the first number missing)"
		}
		if err := p.edit(e.file, node.StrategyNetworkManager, reason, func(old []byte) ([]byte, error) {
			if e.line == 0 {
				return networkmanager.RemoveIfcfgServers(e.file, old, drop, add)
			}
			return networkmanager.RemoveServers(e.file, old, e.line, drop, add)
		}); err != nil {
			return err
		}
		for _, a := range e.looping {
			put = append(put, a.String())
		}
		if !slices.Contains(paths, e.file) {
			paths = append(paths, e.file)
		}
	}
	if len(put) == 0 {
		return nil
	}
	written := nmWrites(p.node)
	c := p.reload(ctx, networkManagerUnit, node.StrategyNetworkManager,
		"NetworkManager reads its configuration at Reload and a profile at LoadConnections, and Reapply hands a device the new servers without taking it down",
		func(ctx context.Context, bus node.Bus) error { return reloadNetworkManager(ctx, bus, paths) },
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

// nmWrites is the file NetworkManager writes its servers into, where they
// are traced to it: the host's resolv.conf (its dns=default, rc-manager=file
// or symlink). Its dns=systemd-resolved, which hands them to resolved's
// uplink file, is not traced to NetworkManager yet.
func nmWrites(n *node.Node) string {
	if n.Host != nil {
		return n.Host.Target
	}
	return "/etc/resolv.conf"
}
