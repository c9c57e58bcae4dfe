package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// The spelling people copy from blog posts; it does not exist.
const resolvedTypoFile = "/run/systemd/resolv/resolv.conf"

// addrKind is why an address in the pod file loops (or may).
type addrKind int

const (
	kindClean addrKind = iota
	kindStub
	kindLoopback
	kindNodeCache
	kindLocal
)

var (
	stub53 = netip.MustParseAddr("127.0.0.53")
	stub54 = netip.MustParseAddr("127.0.0.54")
)

func (n *Node) classify(a netip.Addr) (addrKind, string) {
	a = a.WithZone("").Unmap()
	switch {
	case a == stub53 || a == stub54:
		return kindStub, fmt.Sprintf("%s is systemd-resolved's stub listener, and inside a CoreDNS pod it is the pod itself", a)
	case a.IsLoopback():
		return kindLoopback, fmt.Sprintf("%s is a loopback address, and inside a CoreDNS pod it is the pod itself", a)
	case a.IsUnspecified():
		// Linux connects to 0.0.0.0 and :: as to the local host.
		return kindLoopback, fmt.Sprintf("%s is the unspecified address, which the kernel delivers to the local host: inside a CoreDNS pod it is the pod itself", a)
	}
	if why, ok := n.NodeCache[a]; ok {
		return kindNodeCache, fmt.Sprintf("%s is %s", a, why)
	}
	if why, ok := n.Local[a]; ok {
		return kindLocal, fmt.Sprintf("%s is %s", a, why)
	}
	return kindClean, ""
}

// Looping reports whether a is a looping address on this node (DESIGN.md §2).
func (n *Node) Looping(a netip.Addr) bool {
	k, _ := n.classify(a)
	return k == kindStub || k == kindLoopback || k == kindNodeCache
}

// Check gathers the node and analyses it.
func Check(ctx context.Context, env Env, opts Options, fixers []Fixer) (*Report, *Node, error) {
	n := Gather(ctx, env, opts)
	n.fixers = fixers
	n.checkFallback(ctx, env, opts)
	fs := Analyze(n, opts)
	loops := groupLoops(fs)
	rep := &Report{
		Status:   Status(fs),
		Online:   n.Online,
		Findings: fs,
		Loops:    loops,
		Notes:    n.Notes,
		Kubelet: KubeletReport{
			Present:    n.Kubelet.Present,
			Config:     n.Kubelet.ConfigPath,
			ResolvConf: n.PodFile,
			Source:     n.Kubelet.ResolvConfSource,
			Distro:     n.Kubelet.Distro,
			Unit:       n.Kubelet.Unit,
			NodeName:   n.Kubelet.NodeName,
			Why:        n.Kubelet.Why,
			ConfigDir:  n.Kubelet.ConfigDir,
			DropIns:    OrEmpty(n.Kubelet.DropIns),
			Files:      OrEmpty(n.Kubelet.ConfigFiles),
		},
		ResolvConf: ResolvReport{Path: n.PodFile, Nameservers: []string{}},
	}
	if st := n.ResolvedLive; st != nil {
		rep.Resolved = &ResolvedReport{ResolvConfMode: st.ResolvConfMode, DNSStubListener: st.DNSStubListener, DNS: []string{}}
		for _, s := range st.DNS {
			rep.Resolved.DNS = append(rep.Resolved.DNS, s.Addr.String())
		}
	}
	if !n.Kubelet.Present {
		rep.Kubelet.Distro, rep.Kubelet.Unit = "", ""
	}
	if rep.Notes == nil {
		rep.Notes = []string{}
	}
	if n.Pod != nil {
		rep.ResolvConf.Link = n.Pod.Link
		rep.ResolvConf.Generator = string(n.Pod.Generator)
		rep.ResolvConf.Evidence = n.Pod.Evidence
		for _, ns := range n.Pod.Conf.Nameservers {
			rep.ResolvConf.Nameservers = append(rep.ResolvConf.Nameservers, ns.Addr.String())
		}
	}
	return rep, n, nil
}

// liveGenerator lets systemd-resolved say who wrote /etc/resolv.conf when it
// runs: its ResolvConfMode is what it thinks of the link. Content evidence
// (dhclient overwriting the stub's file, a Kubespray block) still wins: that
// content is what pods get.
func (n *Node) liveGenerator() {
	st := n.ResolvedLive
	if st == nil || n.Host == nil || n.Pod == nil || n.Pod.Target != n.Host.Target {
		return
	}
	gen := map[string]resolvconf.Generator{"stub": resolvconf.GenResolvedStub, "uplink": resolvconf.GenResolvedUplink, "static": resolvconf.GenResolvedStatic}[st.ResolvConfMode]
	switch n.Pod.Generator {
	case resolvconf.GenResolvedStub, resolvconf.GenResolvedUplink, resolvconf.GenResolvedStatic, resolvconf.GenUnknown, "":
		if gen != "" {
			n.Pod.Generator = gen
			n.Pod.Evidence = "systemd-resolved's ResolvConfMode is " + st.ResolvConfMode + " (D-Bus)"
		}
	default:
		n.Pod.Evidence += "; systemd-resolved's ResolvConfMode is " + st.ResolvConfMode
	}
}

// Analyze turns the node into findings. It is a pure function of the node
// and the options: the findings opts.Ignore names are marked ignored.
func Analyze(n *Node, opts Options) []Finding {
	var out []Finding
	out = append(out, n.Unreadable...)
	out = append(out, n.kubeletFindings()...)
	rds := n.podReaders(opts)
	out = append(out, n.podFileFindings(rds)...)
	out = append(out, n.noNameserverFinding(rds)...)
	if len(rds) > 0 {
		// What puts a looping address into the pod file matters only
		// where a DNS server reads the file.
		out = append(out, n.dhclientFindings()...)
		out = append(out, n.resolvedFindings()...)
		out = append(out, n.networkManagerFindings()...)
	}
	out = append(out, n.corefileFindings()...)
	out = append(out, n.staleCopyFindings()...)
	markIgnored(out, opts.Ignore)
	no := n.upstreamFindings(opts, out)
	markIgnored(no, opts.Ignore)
	out = append(out, no...)
	if out == nil {
		out = []Finding{}
	}
	return out
}

// podFileIs reports whether the pod file is (after links) the node file p.
func (n *Node) podFileIs(r string) bool {
	if n.Pod == nil {
		return n.PodFile == r
	}
	return n.Pod.Path == r || n.Pod.Target == r
}

// podIsHostFile: pods get what is written to /etc/resolv.conf (by dhclient,
// NetworkManager, Kubespray).
func (n *Node) podIsHostFile() bool {
	if n.Pod == nil || n.Host == nil {
		return false
	}
	return n.Pod.Target == n.Host.Target
}

// podIsResolvedFile: pods get one of systemd-resolved's files.
func (n *Node) podIsResolvedFile() bool {
	return n.podFileIs(resolvconf.ResolvedUplinkFile) || n.podFileIs(resolvconf.ResolvedStubFile)
}

// checkFallback warns when kubelet hands pods k3s's own file of 8.8.8.8:
// many sites block it, and offline unloop can't ask.
func (n *Node) checkFallback(ctx context.Context, env Env, opts Options) {
	k := n.Kubelet
	if k.Fallback == "" {
		return
	}
	a := netip.MustParseAddr(k.Fallback)
	head := fmt.Sprintf("%s hands pods %s, its own file with nameserver %s (%s)", k.Distro, k.ResolvConf, a, k.Why)
	if opts.Offline {
		n.Notes = append(n.Notes, head+"; offline, unloop can't tell whether "+a.String()+" answers from this node: many sites block it")
		return
	}
	probe := env.Probe
	if probe == nil {
		probe = DNSProbe
	}
	if err := probe(ctx, a); err != nil {
		n.Notes = append(n.Notes, fmt.Sprintf("%s; %s does not answer from this node (%v): pods get no DNS. Set resolv-conf in %s's config to a file of servers that answer", head, a, err, k.Distro))
	}
}

// kubeletName is what runs the kubelet, as a person calls it.
func (n *Node) kubeletName() string {
	switch d := n.Kubelet.Distro; d {
	case "", kubelet.DistroKubelet:
		return "kubelet"
	default:
		return "kubelet (in " + d + ")"
	}
}

// kubeletStep is the first link of every chain: which file pods get, and why.
func (n *Node) kubeletStep() string {
	k := n.Kubelet
	if k.Present && k.Why != "" {
		return fmt.Sprintf("%s gives pods %s (%s)", n.kubeletName(), n.PodFile, k.Why)
	}
	switch {
	case !k.Present:
		return fmt.Sprintf("no kubelet found on this node; CoreDNS run on the host or by Docker reads %s", n.PodFile)
	case k.ResolvConfSource == "flag" && k.ResolvConfFlag != nil:
		return fmt.Sprintf("kubelet gives pods %s (--resolv-conf in %s line %d)", n.PodFile, k.ResolvConfFlag.File, k.ResolvConfFlag.Line)
	case k.ResolvConfSource == "config" && len(k.DropIns) > 0:
		return fmt.Sprintf("kubelet gives pods %s (resolvConf in %s line %d; drop-ins of %s merged last)", n.PodFile, k.ResolvConfAt.File, k.ResolvConfAt.Line, k.ConfigDir)
	case k.ResolvConfSource == "config":
		return fmt.Sprintf("kubelet gives pods %s (resolvConf in %s line %d)", n.PodFile, k.ResolvConfAt.File, k.ResolvConfAt.Line)
	case k.ConfigExists:
		return fmt.Sprintf("kubelet gives pods %s (the default: %s sets no resolvConf)", n.PodFile, k.ConfigPath)
	default:
		return fmt.Sprintf("kubelet gives pods %s (the default)", n.PodFile)
	}
}

func (n *Node) linkStep() string {
	if n.Pod == nil || n.Pod.Link == "" {
		return ""
	}
	return fmt.Sprintf("%s is a link to %s", n.Pod.Path, n.Pod.Link)
}

func (n *Node) kubeletFindings() []Finding {
	var out []Finding
	k := n.Kubelet
	for _, m := range k.Misspelled {
		chain := []string{
			fmt.Sprintf("%s line %d sets %q, not resolvConf", m.File, m.Line, m.Key),
			"kubelet ignores unknown keys without an error",
			fmt.Sprintf("so pods get %s, not %s", n.PodFile, m.Value),
		}
		out = append(out, newFinding(CodeKubeletMisspelled, m.File, m.Line, netip.Addr{}, chain, StrategyKubelet))
	}
	if k.Present && n.PodFile != "" && !n.PodExists {
		where := kubelet.Where{}
		switch {
		case k.ResolvConfSource == "flag" && k.ResolvConfFlag != nil:
			where = kubelet.Where{File: k.ResolvConfFlag.File, Line: k.ResolvConfFlag.Line}
		case k.ResolvConfSource == "config":
			where = k.ResolvConfAt
		}
		chain := []string{n.kubeletStep(), fmt.Sprintf("%s does not exist", n.PodFile)}
		if n.PodFile == resolvedTypoFile {
			chain = append(chain, "the real file is "+resolvconf.ResolvedUplinkFile+" (resolve, with an e)")
		}
		chain = append(chain, "kubelet cannot create pod sandboxes with dnsPolicy: Default (CoreDNS, node-local-dns)")
		out = append(out, newFinding(CodeKubeletMissing, where.File, where.Line, netip.Addr{}, chain, StrategyKubelet))
	}
	return out
}

func (n *Node) podFileFindings(rds []Reader) []Finding {
	if n.Pod == nil {
		return nil
	}
	var out []Finding
	conf := n.Pod.Conf
	file := n.Pod.Path
	// The file matters to the DNS servers that read it: when the node's
	// Corefiles (or the dns-upstreams setting) say they forward elsewhere, a
	// node cache address there is the host asking its cache, not a loop.
	readByDNS := len(rds) > 0
	clean := 0
	for _, ns := range conf.Nameservers {
		if k, _ := n.classify(ns.Addr); k == kindClean || k == kindLocal {
			clean++
		}
	}
	for _, ns := range conf.Nameservers {
		kind, why := n.classify(ns.Addr)
		if kind == kindClean {
			if ns.Addr.Zone() != "" {
				chain := []string{n.kubeletStep(), fmt.Sprintf("line %d names %s", ns.Line, ns.Text),
					"a zone index names an interface of the node, which a pod does not have"}
				out = append(out, newFinding(CodeZoneIndex, file, ns.Line, ns.Addr, chain))
			}
			continue
		}
		if !readByDNS && kind != kindLocal {
			continue
		}
		chain := []string{n.kubeletStep()}
		if s := n.linkStep(); s != "" {
			chain = append(chain, s)
		}
		chain = append(chain, fmt.Sprintf("%s line %d names %s", file, ns.Line, ns.Addr), why)
		if kind == kindLocal {
			chain = append(chain, "something on the node must answer there without forwarding back to this file")
			out = append(out, newFinding(CodeLocalAddress, file, ns.Line, ns.Addr, chain))
			continue
		}
		src, srcAt, fixes := n.sourceOf(ns.Addr, kind)
		fixes = n.applicable(fixes)
		if src != "" {
			chain = append(chain, src)
		}
		part := loopPart{role: roleLine, text: "nameserver " + ns.Text, why: why, reader: n.kubeletStep()}
		if srcAt == "" {
			part.source = src
		} else {
			part.links = []string{srcAt}
		}
		chain = append(chain, readersStep(rds))
		switch kind {
		case kindNodeCache:
			chain = append(chain, fmt.Sprintf("node-local-dns forwards '.' to %s → itself", n.PodFile))
		default:
			chain = append(chain, fmt.Sprintf("CoreDNS forwards '.' to %s → itself: plugin/loop exits and the pod crash-loops", n.PodFile))
		}
		if clean > 0 {
			chain = append(chain, "forward picks upstreams at random, so it loops only some of the time")
		}
		code := map[addrKind]Code{kindStub: CodeResolvedStub, kindLoopback: CodeLoopback, kindNodeCache: CodeNodeLocalDNS}[kind]
		f := newFinding(code, file, ns.Line, ns.Addr, chain, fixes...)
		f.Readers = rds
		f.part = part
		out = append(out, f)
	}
	if len(conf.Nameservers) > 3 {
		ns := conf.Nameservers[3]
		chain := []string{fmt.Sprintf("%s names %d nameservers", file, len(conf.Nameservers)),
			fmt.Sprintf("glibc and kubelet use the first 3; line %d and later are dropped", ns.Line)}
		out = append(out, newFinding(CodeNameserverLimit, file, ns.Line, netip.Addr{}, chain))
	}
	if len(conf.Search) > 32 || len(strings.Join(conf.Search, " ")) > 2048 {
		chain := []string{fmt.Sprintf("%s line %d has %d search domains (%d characters)", file, conf.SearchLine, len(conf.Search), len(strings.Join(conf.Search, " "))),
			"kubelet and glibc allow at most 32 domains and 2048 characters: pods get a truncated list or fail to start"}
		out = append(out, newFinding(CodeSearchLimit, file, conf.SearchLine, netip.Addr{}, chain))
	}
	return out
}

// sourceOf says what put a looping address into the pod file, the place of
// that setting ("file:line", "" when it is not a line of a file), and the
// strategies that fix it there, least invasive first.
func (n *Node) sourceOf(a netip.Addr, kind addrKind) (string, string, []string) {
	a = a.WithZone("")
	if n.podIsHostFile() {
		for _, c := range n.Dhclient {
			for _, st := range c.Statements {
				if st.Verb != "default" && slices.Contains(st.Addrs, a) {
					return fmt.Sprintf("dhclient put it there: %s line %d says %s %s %s", c.Path, st.Line, st.Verb, st.Option, a),
						place(c.Path, st.Line), []string{StrategyDhclient, StrategyKubelet}
				}
			}
		}
	}
	if n.podIsResolvedFile() && kind != kindStub {
		if s, at, ok := n.resolvedSetting(a); ok {
			return "systemd-resolved lists it as an upstream: " + s, at, []string{StrategyKubelet}
		}
	}
	if n.podIsHostFile() && n.NM != nil {
		if d, ok := n.nmDnsmasq(a); ok {
			return fmt.Sprintf("NetworkManager put it there: %s line %d says dns=dnsmasq, and its dnsmasq listens on %s", d.File, d.Line, a),
				place(d.File, d.Line), []string{StrategyKubelet}
		}
		for _, s := range n.NM.Servers {
			if s.Addr == a {
				return fmt.Sprintf("NetworkManager put it there: %s line %d (%s)", s.File, s.Line, s.Key), place(s.File, s.Line), []string{StrategyKubelet}
			}
		}
	}
	switch n.Pod.Generator {
	case resolvconf.GenResolvedStub:
		return "systemd-resolved wrote it: the file is its stub file", "", []string{StrategyKubelet, StrategyStub}
	case resolvconf.GenKubespray:
		return "Kubespray's host_resolvconf block put it there", "", []string{StrategyKubelet}
	case resolvconf.GenDhclient:
		return "dhclient wrote the file (" + n.Pod.Evidence + ")", "", []string{StrategyDhclient, StrategyKubelet}
	case resolvconf.GenUnknown, "":
	default:
		return fmt.Sprintf("written by %s (%s)", n.Pod.Generator, n.Pod.Evidence), "", []string{StrategyKubelet}
	}
	if kind == kindStub {
		return "", "", []string{StrategyKubelet, StrategyStub}
	}
	return "", "", []string{StrategyKubelet}
}

// NMOwnsDHCP: NetworkManager, not dhclient-script, handles this node's leases,
// so no dhclient hook runs at a renew. NetworkManager speaks DHCP itself (its
// internal client, RHEL 8's and 9's default) or gives dhclient its own
// nm-dhcp-helper as the script (dhcp=dhclient); and RHEL's dispatcher script
// 11-dhclient calls dhclient.d's NAME_config on "up" only, on a renew
// (dhcp4-change) only for chrony and ntp (dhcp-4.2.5-68.el7's 11-dhclient, the
// same in Fedora's dhcp-4.4.2). It is so when NetworkManager wrote
// /etc/resolv.conf, and on RHEL 8 and 9 wherever NetworkManager is configured
// and the file does not say dhclient-script wrote it.
func (n *Node) NMOwnsDHCP() bool {
	if n.Host != nil && n.Host.Generator == resolvconf.GenNetworkManager {
		return true
	}
	if n.NM == nil || !n.NM.Present || (n.Host != nil && n.Host.Generator == resolvconf.GenDhclient) {
		return false
	}
	major := n.OS.RHELMajor()
	return major == 8 || major == 9
}

// Fixer is what the analysis asks of a strategy (remediate's table).
type Fixer struct {
	Name string
	// Applies says whether the node allows it for a finding of the pod
	// file; nil: always.
	Applies func(n *Node) bool
	// ReadsFile: it fixes such a finding by changing what reads the file,
	// so it is offered wherever it applies, beside the source's fixes.
	ReadsFile bool
}

// applicable keeps the fixes a source names that the node allows, and adds
// the strategies that fix what reads the file where they apply.
func (n *Node) applicable(fixes []string) []string {
	var out []string
	for _, name := range fixes {
		if i := slices.IndexFunc(n.fixers, func(f Fixer) bool { return f.Name == name }); i >= 0 {
			if f := n.fixers[i]; f.Applies != nil && !f.Applies(n) {
				continue
			}
		}
		out = append(out, name)
	}
	for _, f := range n.fixers {
		if f.ReadsFile && !slices.Contains(out, f.Name) && (f.Applies == nil || f.Applies(n)) {
			out = append(out, f.Name)
		}
	}
	return out
}

// CorefileForwardsTo reports whether a Corefile of the node forwards to rf.
func (n *Node) CorefileForwardsTo(rf *resolvconf.File) bool {
	if rf == nil {
		return false
	}
	for _, cf := range n.Corefiles {
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				for _, t := range fw.To {
					if _, p, ok := ForwardTarget(t.Text); ok && p != "" && (p == rf.Path || p == rf.Target) {
						return true
					}
				}
			}
		}
	}
	return false
}

// resolvedSetting finds a looping address among resolved's configured or
// live upstreams, and the place of the setting.
func (n *Node) resolvedSetting(a netip.Addr) (string, string, bool) {
	if n.Resolved != nil {
		for _, s := range n.Resolved.DNS {
			if s.Addr.WithZone("") == a {
				return fmt.Sprintf("DNS= in %s line %d", s.File, s.Line), place(s.File, s.Line), true
			}
		}
	}
	if n.ResolvedLive != nil {
		for _, s := range n.ResolvedLive.DNS {
			if s.Addr.WithZone("") == a {
				return "its live DNS servers (read over D-Bus)" + linkOf(s.Ifindex), liveResolved(a), true
			}
		}
	}
	return "", "", false
}

// liveResolved is the place of an upstream resolved reports over D-Bus.
func liveResolved(a netip.Addr) string { return "systemd-resolved over D-Bus:" + a.String() }

func linkOf(ifindex int) string {
	if ifindex == 0 {
		return ""
	}
	return fmt.Sprintf(", on link %d", ifindex)
}

func (n *Node) dhclientFindings() []Finding {
	if !n.podIsHostFile() {
		return nil
	}
	var out []Finding
	for _, c := range n.Dhclient {
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
				f := newFinding(CodeDhclientInjects, c.Path, st.Line, a, chain, n.applicable([]string{StrategyDhclient, StrategyKubelet})...)
				f.part = loopPart{role: roleSource, text: fmt.Sprintf("%s %s %s", st.Verb, st.Option, a), why: why}
				out = append(out, f)
			}
		}
	}
	return out
}

func (n *Node) resolvedFindings() []Finding {
	// Only the uplink file carries resolved's upstreams to pods; the stub
	// file's 127.0.0.53 is its own finding.
	if !n.podFileIs(resolvconf.ResolvedUplinkFile) {
		return nil
	}
	var out []Finding
	seen := map[netip.Addr]bool{}
	if n.Resolved != nil {
		for _, s := range n.Resolved.DNS {
			a := s.Addr.WithZone("")
			if !n.Looping(a) || seen[a] {
				continue
			}
			seen[a] = true
			_, why := n.classify(a)
			chain := []string{fmt.Sprintf("%s line %d: DNS=%s", s.File, s.Line, s.Text), why,
				"systemd-resolved writes its upstreams into " + resolvconf.ResolvedUplinkFile, n.kubeletStep(),
				"the DNS server in the pod forwards to itself"}
			f := newFinding(CodeResolvedUpstreamLoop, s.File, s.Line, a, chain, n.applicable([]string{StrategyKubelet})...)
			f.part = loopPart{role: roleSource, text: "DNS=" + s.Text, why: why}
			out = append(out, f)
		}
	}
	if n.ResolvedLive != nil {
		for _, s := range n.ResolvedLive.DNS {
			a := s.Addr.WithZone("")
			if !n.Looping(a) || seen[a] {
				continue
			}
			seen[a] = true
			_, why := n.classify(a)
			chain := []string{"systemd-resolved uses " + a.String() + " as an upstream (read over D-Bus" + linkOf(s.Ifindex) + ")", why,
				"systemd-resolved writes its upstreams into " + resolvconf.ResolvedUplinkFile, n.kubeletStep(),
				"the DNS server in the pod forwards to itself"}
			f := newFinding(CodeResolvedUpstreamLoop, "", 0, a, chain, n.applicable([]string{StrategyKubelet})...)
			f.part = loopPart{role: roleSource, text: "systemd-resolved's live upstream " + a.String() + " (D-Bus" + linkOf(s.Ifindex) + ")",
				why: why, links: []string{liveResolved(a)}}
			out = append(out, f)
		}
	}
	return out
}

// nmDnsmasq returns NetworkManager's dns=dnsmasq setting when a is where
// its dnsmasq listens and the host file names a as NetworkManager's.
func (n *Node) nmDnsmasq(a netip.Addr) (hostcfg.Setting, bool) {
	d, ok := n.NM.Dnsmasq()
	if !ok || n.Host == nil || n.Host.Generator != resolvconf.GenNetworkManager ||
		(a != resolvconf.DnsmasqAddr && a != resolvconf.DnsmasqUbuntuAddr) {
		return hostcfg.Setting{}, false
	}
	return d, true
}

func (n *Node) networkManagerFindings() []Finding {
	if n.NM == nil || !n.podIsHostFile() {
		return nil
	}
	var out []Finding
	for _, ns := range n.Host.Conf.Nameservers {
		d, ok := n.nmDnsmasq(ns.Addr)
		if !ok {
			continue
		}
		_, why := n.classify(ns.Addr)
		chain := []string{fmt.Sprintf("%s line %d: dns=dnsmasq", d.File, d.Line),
			fmt.Sprintf("NetworkManager runs its own dnsmasq on %s and writes that address into /etc/resolv.conf", ns.Addr), why,
			n.kubeletStep(), "the DNS server in the pod forwards to itself"}
		f := newFinding(CodeNetworkManagerInjects, d.File, d.Line, ns.Addr, chain, n.applicable([]string{StrategyKubelet})...)
		f.part = loopPart{role: roleSource, text: "dns=dnsmasq (NetworkManager's dnsmasq on " + ns.Addr.String() + ")", why: why}
		out = append(out, f)
		break
	}
	for _, s := range n.NM.Servers {
		if !n.Looping(s.Addr) {
			continue
		}
		_, why := n.classify(s.Addr)
		chain := []string{fmt.Sprintf("%s line %d: %s lists %s", s.File, s.Line, s.Key, s.Addr), why,
			"NetworkManager writes it into /etc/resolv.conf", n.kubeletStep(),
			"the DNS server in the pod forwards to itself"}
		f := newFinding(CodeNetworkManagerInjects, s.File, s.Line, s.Addr, chain, n.applicable([]string{StrategyKubelet})...)
		f.part = loopPart{role: roleSource, text: fmt.Sprintf("%s lists %s", s.Key, s.Addr), why: why}
		out = append(out, f)
	}
	return out
}

// OrEmpty is s, or an empty list for nil: documents print [] for none.
func OrEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
