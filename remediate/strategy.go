package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/dhclient"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// Files unloop owns.
const (
	UnloopResolvConf = "/etc/unloop/resolv.conf"
	StubDropIn       = "/etc/systemd/resolved.conf.d/90-unloop.conf"
	DebianHook       = "/etc/dhcp/dhclient-enter-hooks.d/unloop"
	RHELHook         = "/etc/dhcp/dhclient.d/unloop.sh"
	// dhclientMarker prefixes the dhclient.conf lines unloop comments out.
	dhclientMarker = "unloop"
)

// resolvedRuns: online, resolved answered on the bus; offline, its uplink file exists.
func (n *Node) resolvedRuns() bool {
	if n.Online {
		return n.ResolvedLive != nil
	}
	return n.Uplink != nil
}

// uplinkClean: resolved's uplink file names servers and none of them loops.
func (n *Node) uplinkClean() bool {
	if n.Uplink == nil || len(n.Uplink.Conf.Nameservers) == 0 {
		return false
	}
	for _, ns := range n.Uplink.Conf.Nameservers {
		if n.Looping(ns.Addr) {
			return false
		}
	}
	return true
}

// usable are the upstreams a strategy may write: verified, or unverified when
// offline (said so in the plan).
func (p *planner) usable() ([]netip.Addr, error) {
	var out []netip.Addr
	for _, c := range p.ups {
		if c.Error == "" {
			out = append(out, c.Addr)
		}
		if len(out) == 3 {
			break
		}
	}
	if len(out) == 0 {
		var tried []string
		for _, c := range p.ups {
			tried = append(tried, c.Addr.String()+": "+c.Error)
		}
		if len(tried) == 0 {
			return nil, fmt.Errorf("no clean upstream found (%s): give one with --upstream", CodeNoUpstream)
		}
		return nil, fmt.Errorf("no upstream answers DNS (%s); unloop does not trade a loop for a black hole", strings.Join(tried, ", "))
	}
	return out, nil
}

// unloopResolvConf is the file unloop keeps for pods when resolved's is not clean.
func unloopResolvConf(ups []netip.Addr, base *resolvconf.File) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s: the resolv.conf kubelet hands to pods, without DNS forwarding loops.\n", resolvconf.UnloopMarker)
	b.WriteString("# Rewritten by `unloop apply`; edit unloop's config (upstream:) instead of this file.\n")
	for _, a := range ups {
		fmt.Fprintf(&b, "nameserver %s\n", a)
	}
	if base != nil {
		if len(base.Conf.Search) > 0 {
			fmt.Fprintf(&b, "search %s\n", strings.Join(base.Conf.Search, " "))
		}
		if len(base.Conf.Options) > 0 {
			fmt.Fprintf(&b, "options %s\n", strings.Join(base.Conf.Options, " "))
		}
	}
	return b.Bytes()
}

// uplinkAnswers reports whether one of the servers in resolved's uplink file
// answers a DNS question; otherwise it lists what was tried. Pointing pods or
// the host at a clean file of dead servers trades the loop for a black hole.
// The servers were asked with the other candidates unless --upstream left
// them out; then they are asked here. Offline nothing is asked (as for
// every upstream) and the file counts.
func (p *planner) uplinkAnswers(ctx context.Context) (bool, []string) {
	if p.opts.Offline {
		return true, nil
	}
	if p.node.Uplink == nil {
		return false, nil
	}
	probe := p.env.Probe
	if probe == nil {
		probe = DNSProbe
	}
	var tried []string
	for _, ns := range p.node.Uplink.Conf.Nameservers {
		a := ns.Addr.WithZone("").Unmap()
		i := slices.IndexFunc(p.ups, func(c Candidate) bool { return c.Addr == a })
		var err error
		if i >= 0 {
			if p.ups[i].Error == "" {
				return true, nil
			}
			err = errors.New(p.ups[i].Error)
		} else if err = probe(ctx, a); err == nil {
			return true, nil
		}
		tried = append(tried, a.String()+": "+err.Error())
	}
	return false, tried
}

func planKubelet(ctx context.Context, p *planner, _ []Finding) error {
	n := p.node
	target := UnloopResolvConf
	if n.resolvedRuns() && n.uplinkClean() {
		if ok, _ := p.uplinkAnswers(ctx); ok {
			target = resolvconf.ResolvedUplinkFile
		}
	}
	if target == UnloopResolvConf {
		ups, err := p.usable()
		if err != nil {
			return err
		}
		base := n.Pod
		if err := p.edit(target, StrategyKubelet, "a clean resolv.conf for pods, from the upstreams that answer", func([]byte) ([]byte, error) {
			return unloopResolvConf(ups, base), nil
		}); err != nil {
			return err
		}
	}
	k := n.Kubelet
	reason := fmt.Sprintf("kubelet hands pods %s instead of %s", target, n.PodFile)
	if err := p.pointKubelet(k, target, reason); err != nil {
		return err
	}
	p.restart(ctx, k.Unit, StrategyKubelet, "kubelet reads resolvConf only at start", k.Healthz, nil)
	p.pods(StrategyKubelet)
	return nil
}

// pointKubelet plans the edit that makes kubelet hand pods target: a file of
// the layout's own (a --config-dir drop-in, a config.yaml.d file, a snap's
// args file), else the flag or the config file in place. Where only a person
// can make the edit (k0s), it fails with the edit to make.
func (p *planner) pointKubelet(k *kubelet.Setup, target, reason string) error {
	n := p.node
	switch {
	case k.Fix.Hand != nil:
		return fmt.Errorf("unloop does not change %s's kubelet, fix it by hand: %s", k.Distro, k.Fix.Hand(target))
	case k.Fix.Edit != nil:
		if n.PodFile == target && len(k.Misspelled) == 0 {
			return nil
		}
		return p.edit(k.Fix.Path, StrategyKubelet, reason+" ("+path.Base(k.Fix.Path)+")", func(old []byte) ([]byte, error) {
			return k.Fix.Edit(old, target)
		})
	case k.ResolvConfSource == "flag" && k.ResolvConfFlag != nil:
		f := *k.ResolvConfFlag
		if f.Value == target {
			return nil
		}
		return p.edit(f.File, StrategyKubelet, reason+" (--"+f.Name+")", func(old []byte) ([]byte, error) {
			return kubelet.SetFlagValue(old, f, target)
		})
	case k.ConfigExists:
		if n.PodFile == target && len(k.Misspelled) == 0 {
			return nil
		}
		return p.edit(k.ConfigPath, StrategyKubelet, reason+" (resolvConf)", func(old []byte) ([]byte, error) {
			return kubelet.SetResolvConf(k.ConfigPath, old, target)
		})
	case k.ConfigPath != "":
		return fmt.Errorf("kubelet has neither a config file (%s does not exist) nor a --resolv-conf flag: nowhere to set resolvConf", k.ConfigPath)
	default:
		return errors.New("kubelet has neither a config file (no --config, no /var/lib/kubelet/config.yaml or /etc/kubernetes/kubelet-config.yaml) nor a --resolv-conf flag: nowhere to set resolvConf")
	}
}

const stubDropIn = resolvconf.UnloopMarker + `: systemd-resolved without its stub listener, so that
# /etc/resolv.conf names the real upstreams instead of 127.0.0.53.
# Written by ` + "`unloop apply --strategy stub`" + `; ` + "`unloop rollback`" + ` removes it.
[Resolve]
DNSStubListener=no
`

func planStub(ctx context.Context, p *planner, _ []Finding) error {
	if !p.node.resolvedRuns() {
		return fmt.Errorf("systemd-resolved is not running (no %s): the stub strategy needs it", resolvconf.ResolvedUplinkFile)
	}
	if ok, tried := p.uplinkAnswers(ctx); !ok {
		why := strings.Join(tried, ", ")
		if why == "" {
			why = "it names none"
		}
		return fmt.Errorf("no server in %s answers DNS (%s): without the stub the host and pods would ask only those; unloop does not trade a loop for a black hole",
			resolvconf.ResolvedUplinkFile, why)
	}
	if err := p.edit(StubDropIn, StrategyStub, "turn systemd-resolved's stub listener off", func([]byte) ([]byte, error) {
		return []byte(stubDropIn), nil
	}); err != nil {
		return err
	}
	if err := p.link("/etc/resolv.conf", "../run/systemd/resolve/resolv.conf", StrategyStub,
		"point /etc/resolv.conf at resolved's uplink file, which names the real upstreams"); err != nil {
		return err
	}
	p.restart(ctx, "systemd-resolved.service", StrategyStub, "systemd-resolved reads DNSStubListener only at start", "", verifyStubOff)
	p.pods(StrategyStub)
	return nil
}

// loopingAddrs are the addresses the dhclient hook keeps out: every node cache
// address and every looping address found in the pod file.
func (n *Node) loopingAddrs() []netip.Addr {
	set := map[netip.Addr]bool{}
	for a := range n.NodeCache {
		set[a] = true
	}
	if n.Pod != nil {
		for _, ns := range n.Pod.Conf.Nameservers {
			if n.Looping(ns.Addr) {
				set[ns.Addr.WithZone("")] = true
			}
		}
	}
	out := make([]netip.Addr, 0, len(set))
	for a := range set {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b netip.Addr) int { return a.Compare(b) })
	return out
}

func planDhclient(_ context.Context, p *planner, _ []Finding) error {
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
	p.pods(StrategyDhclient)
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
	hookPath, mode, hook := dhclientHook(rhel, p.node.loopingAddrs(), ups)
	reason := "drop looping addresses at every lease and renew, before dhclient-script writes /etc/resolv.conf"
	if rhel {
		reason = "the filter " + RHELEnterHooks + " sources, and unloop_config, which RHEL's dhclient-script calls after it wrote /etc/resolv.conf: a second line of defence"
	}
	if err := p.edit(hookPath, StrategyDhclient, reason, func([]byte) ([]byte, error) {
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
	for _, c := range p.node.Dhclient {
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
		if err := p.edit(c.Path, StrategyDhclient, "dhclient would add a looping address at its next start", func(old []byte) ([]byte, error) {
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
	return p.edit(pod.Path, StrategyDhclient, "remove the looping nameservers dhclient already wrote", func(old []byte) ([]byte, error) {
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
	if err := p.edit(RHELEnterHooks, StrategyDhclient, reason, func(old []byte) ([]byte, error) {
		return spliceBlock(c.Path, old)
	}); err != nil {
		return err
	}
	if !c.Before.Exists {
		c.Mode = 0o755
	}
	return nil
}

func planCorefile(_ context.Context, p *planner, fs []Finding) error {
	n := p.node
	ups, err := p.usable()
	if err != nil {
		return err
	}
	for _, cf := range n.Corefiles {
		type edit struct {
			fw      corefile.Forward
			targets []string
		}
		var edits []edit
		noReload := false
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				if !slices.ContainsFunc(fs, func(f Finding) bool { return f.File == cf.Path && f.Line == fw.Line }) {
					continue
				}
				var keep []string
				dropped := false
				for _, t := range fw.To {
					if n.targetLoops(sb, t.Text) {
						dropped = true
						continue
					}
					keep = append(keep, t.Text)
				}
				if !dropped {
					continue
				}
				for _, a := range ups {
					if !slices.Contains(keep, a.String()) {
						keep = append(keep, a.String())
					}
				}
				edits = append(edits, edit{fw, keep})
				noReload = noReload || !sb.Reload
			}
		}
		if len(edits) == 0 {
			continue
		}
		sort.Slice(edits, func(i, j int) bool { return edits[i].fw.To[0].Offset > edits[j].fw.To[0].Offset })
		path := cf.Path
		if err := p.edit(path, StrategyCorefile, "forward to upstreams that are not this server", func(old []byte) ([]byte, error) {
			out := old
			for _, e := range edits {
				var err error
				if out, err = corefile.ReplaceTargets(path, out, e.fw, e.targets); err != nil {
					return nil, err
				}
			}
			return out, nil
		}); err != nil {
			return err
		}
		if noReload {
			p.other = append(p.other, Change{Kind: KindUnit, Unit: "CoreDNS (" + path + ")", Action: "restart", Strategy: StrategyCorefile,
				Reason: "a server block without the reload plugin reads the Corefile only at start", Skipped: "left to you: unloop does not know how this CoreDNS is run"})
		} else {
			p.other = append(p.other, Change{Kind: KindUnit, Unit: "CoreDNS (" + path + ")", Action: "reload", Strategy: StrategyCorefile,
				Reason: "CoreDNS's reload plugin picks the new Corefile up by itself", Skipped: "not needed: the reload plugin"})
		}
	}
	return nil
}

// targetLoops reports whether one forward target of a server block loops.
func (n *Node) targetLoops(sb corefile.ServerBlock, t string) bool {
	ap, path, ok := forwardTarget(t)
	if !ok {
		return false
	}
	if path == "" {
		_, loops := n.listensOn(sb, ap)
		return loops
	}
	rf := n.resolvFileAt(path)
	if rf == nil {
		return false
	}
	for _, ns := range rf.Conf.Nameservers {
		if _, loops := n.listensOn(sb, netip.AddrPortFrom(ns.Addr.WithZone(""), 53)); loops {
			return true
		}
	}
	return false
}
