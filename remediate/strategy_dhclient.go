package remediate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/block"
	"github.com/unloop/unloop/hostcfg/dhclient"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// The hook files unloop writes, and the mark of the dhclient.conf lines it
// comments out.
const (
	DebianHook     = "/etc/dhcp/dhclient-enter-hooks.d/unloop"
	RHELHook       = "/etc/dhcp/dhclient.d/unloop.sh"
	dhclientMarker = "unloop"
)

var dhclientStrategy = Strategy{
	Name:  node.StrategyDhclient,
	Help:  "a dhclient hook that drops looping addresses at every lease and renew, the dhclient.conf line that adds them commented out, the lines already written removed",
	Fixes: []finding.Code{finding.CodeResolvedStub, finding.CodeLoopback, finding.CodeNodeLocalDNS, finding.CodeCorefileForwardLoop, finding.CodeDhclientInjects},
	// Where it does not apply, a source says (NetworkManager handling DHCP).
	plan: planDhclient,
}

func planDhclient(_ context.Context, p *planner, _ []node.Finding) error {
	ups, err := p.usable()
	if err != nil {
		return err
	}
	if err := p.dhclientHooks(ups); err != nil {
		return err
	}
	if err := p.neutraliseDhclientConf(); err != nil {
		return err
	}
	if err := p.removeWrittenLines(ups); err != nil {
		return err
	}
	p.pods(node.StrategyDhclient)
	return nil
}

// dhclientHooks plans the hook that filters every lease and renew (and, on
// RHEL, the enter-hooks block that sources it before the file is written).
func (p *planner) dhclientHooks(ups []netip.Addr) error {
	rhel, major := dhclientLayout(p.node, p.env.Root)
	if rhel {
		if err := p.enterHooks(major); err != nil {
			return err
		}
	}
	hookPath, mode, hook := dhclientHook(rhel, p.node.LoopingAddrs(), ups)
	reason := "drop looping addresses at every lease and renew, before dhclient-script writes /etc/resolv.conf"
	if rhel {
		reason = "the filter " + RHELEnterHooks + " sources, and unloop_config, which RHEL's dhclient-script calls after it wrote /etc/resolv.conf: a second line of defence"
	}
	if err := p.edit(hookPath, node.StrategyDhclient, reason, func([]byte) ([]byte, error) {
		return hook, nil
	}); err != nil {
		return err
	}
	// files is keyed by the path with links resolved (/etc/dhcp may be one).
	c, err := p.file(hookPath)
	if err != nil {
		return err
	}
	c.Mode = mode
	return nil
}

// neutraliseDhclientConf comments out the dhclient.conf statements that add a
// looping address: dhclient reads its conf only at start.
func (p *planner) neutraliseDhclientConf() error {
	for _, c := range node.SourceOf[*node.Dhclient](p.node).Configs {
		var sts []dhclient.Statement
		for _, st := range c.Statements {
			if slices.ContainsFunc(st.Addrs, p.node.Looping) {
				sts = append(sts, st)
			}
		}
		if len(sts) == 0 {
			continue
		}
		// Last first, so the offsets of the others still hold.
		sort.Slice(sts, func(i, j int) bool { return sts[i].Start > sts[j].Start })
		if err := p.edit(c.Path, node.StrategyDhclient, "dhclient would add a looping address at its next start", func(old []byte) ([]byte, error) {
			out := old
			for _, st := range sts {
				out = dhclient.Neutralise(out, st, dhclientMarker)
			}
			return out, nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// removeWrittenLines removes the looping lines dhclient already wrote into
// the pod file, naming the upstreams when none would be left.
func (p *planner) removeWrittenLines(ups []netip.Addr) error {
	pod := p.node.Pod
	if pod == nil {
		return nil
	}
	var lines []int
	left := 0
	for _, ns := range pod.Conf.Nameservers {
		if p.node.Looping(ns.Addr) {
			lines = append(lines, ns.Line)
		} else {
			left++
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return p.edit(pod.Path, node.StrategyDhclient, "remove the looping nameservers dhclient already wrote", func(old []byte) ([]byte, error) {
		out := resolvconf.RemoveLines(old, lines)
		if left == 0 {
			// An empty list would send pods nowhere: name the upstreams the hook substitutes.
			if len(out) > 0 && out[len(out)-1] != '\n' {
				out = append(out, '\n')
			}
			for _, a := range ups {
				out = append(out, fmt.Sprintf("nameserver %s\n", a)...)
			}
		}
		return out, nil
	})
}

// enterHooks plans unloop's block in RHEL's dhclient-enter-hooks, which
// dhclient-script sources before it writes /etc/resolv.conf: a new file of
// mode 0755, or the block spliced into the admin's. RHEL 7's script sources the
// file only when it is executable: a file there that is not is code the admin
// left off, and making it executable would switch that on, so unloop refuses.
// RHEL 8's and 9's source it either way.
func (p *planner) enterHooks(major int) error {
	c, err := p.file(RHELEnterHooks)
	if err != nil {
		return err
	}
	if c.Before.Exists && c.Before.Mode&0o111 == 0 && major != 8 && major != 9 {
		return hostcfg.Errorf(c.Path, 0, "exists but is not executable, so RHEL 7's dhclient-script does not source it and unloop cannot filter the servers before /etc/resolv.conf is written; "+
			"making it executable would switch on the code in it: read it, then `chmod 0755 %s` to have it run, or move it away, and run apply again (or use --strategy kubelet)", c.Path)
	}
	reason := "filter the servers before dhclient-script writes /etc/resolv.conf: RHEL's script sources this file first, at every lease and renew"
	if err := p.edit(RHELEnterHooks, node.StrategyDhclient, reason, func(old []byte) ([]byte, error) {
		return block.Splice(c.Path, old, enterNote, enterBody)
	}); err != nil {
		return err
	}
	if !c.Before.Exists {
		c.Mode = 0o755
	}
	return nil
}
