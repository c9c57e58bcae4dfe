package remediate

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/node"
)

// NetworkdDropIn is the name of unloop's drop-in in a network's
// /etc/systemd/network/NAME.network.d/: late in the order networkd applies
// drop-ins (by name, across its folders), so its DNS= comes after the site's.
const NetworkdDropIn = "99-unloop-dns.conf"

const networkdUnit = "systemd-networkd.service"

var networkdStrategy = Strategy{
	Name: node.StrategyNetworkd,
	Help: "a systemd-networkd drop-in that sets the network's DNS= again without the looping servers, then networkd reloaded (resolved rewrites its uplink file)",
	// The pod-file codes networkd's Put can name it for, and its own.
	Fixes: []node.Code{node.CodeLoopback, node.CodeNodeLocalDNS, node.CodeClusterDNS, node.CodeCorefileForwardLoop, node.CodeNetworkdInjects},
	// Where a .network file's DNS= loops: Put and Findings name it only then.
	plan:    planNetworkd,
	reloads: networkdReloads,
}

// networkdReloads: networkd reads .network files and their drop-ins at
// reload (networkctl reload, systemd v252–v257).
func networkdReloads(p string) string {
	if strings.HasSuffix(path.Dir(p), ".network.d") {
		return networkdUnit
	}
	return ""
}

func planNetworkd(ctx context.Context, p *planner, _ []node.Finding) error {
	src := node.SourceOf[*node.Networkd](p.node)
	if src == nil || src.Config == nil {
		return nil
	}
	wrote := false
	for _, nw := range src.Config.Networks {
		var clean []string
		looping := false
		for _, sv := range nw.DNS {
			if p.node.Looping(sv.Addr.WithZone("")) {
				looping = true
			} else {
				clean = append(clean, sv.Text)
			}
		}
		if !looping {
			continue
		}
		if len(clean) == 0 {
			// DNS= with nothing after it would leave the link only what DHCP
			// gives, maybe nothing: name the upstreams that answered.
			ups, err := p.usable()
			if err != nil {
				return err
			}
			for _, a := range ups {
				clean = append(clean, a.String())
			}
		}
		dropIn := path.Join("/etc/systemd/network", path.Base(nw.File)+".d", NetworkdDropIn)
		body := networkdDropIn(nw.File, clean)
		if err := p.edit(dropIn, node.StrategyNetworkd, "set DNS= of "+nw.File+" again without the looping servers", func([]byte) ([]byte, error) {
			return body, nil
		}); err != nil {
			return err
		}
		wrote = true
	}
	if !wrote {
		return nil
	}
	p.reload(ctx, networkdUnit, node.StrategyNetworkd,
		"networkd reads its .network drop-ins at reload and hands resolved the new servers, without taking a link down",
		uplinkClean(p.env.Root, p.node.LoopingAddrs()))
	p.pods(node.StrategyNetworkd)
	return nil
}

// networkdDropIn is the drop-in's text: an empty DNS= resets the list the
// .network file and earlier drop-ins built (systemd.network(5),
// config_parse_dns in v252–v257), then the clean servers again, in their
// order. Servers learnt over DHCP are another list, left as they are.
func networkdDropIn(file string, servers []string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: the DNS servers of %s without the looping ones.\n", resolvconf.UnloopMarker, file)
	b.WriteString("# Written by `unloop apply --strategy networkd`; `unloop rollback` removes it.\n[Network]\nDNS=\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "DNS=%s\n", s)
	}
	return b.Bytes()
}

// uplinkClean waits, until ctx's deadline, for resolved to have rewritten
// its uplink file without the looping addresses: networkd hands resolved
// the new servers over the bus after the reload returned.
func uplinkClean(root *hostcfg.Root, looping []netip.Addr) func(context.Context, node.Bus) error {
	return func(ctx context.Context, _ node.Bus) error {
		for {
			left, err := uplinkLoops(root, looping)
			if err == nil && len(left) == 0 {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("%s still names %s after networkd's reload", resolvconf.ResolvedUplinkFile, strings.Join(left, ", "))
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func uplinkLoops(root *hostcfg.Root, looping []netip.Addr) ([]string, error) {
	data, _, err := root.ReadFileIfExists(resolvconf.ResolvedUplinkFile)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil && slices.Contains(looping, a.WithZone("")) {
			left = append(left, f[1])
		}
	}
	return left, nil
}
