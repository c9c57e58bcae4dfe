package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
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
	kindClusterDNS // kubelet's clusterDNS: the Service in front of CoreDNS
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
	if k := n.Kubelet; k != nil && slices.Contains(k.ClusterDNS, a) {
		return kindClusterDNS, fmt.Sprintf("%s is kubelet's clusterDNS (%s), the cluster DNS Service: CoreDNS reaches itself through it", a, k.ClusterDNSAt)
	}
	return kindClean, ""
}

// Looping reports whether a is a looping address on this node (DESIGN.md §2).
func (n *Node) Looping(a netip.Addr) bool {
	k, _ := n.classify(a)
	return k == kindStub || k == kindLoopback || k == kindNodeCache || k == kindClusterDNS
}

// Check gathers the node and analyses it.
func Check(ctx context.Context, env Env, opts Options, fixers []Fixer) (*Report, *Node, error) {
	if !env.Root.Records() {
		env.Root = env.Root.Recording() // for rep.Inputs
	}
	n := Gather(ctx, env, opts)
	n.fixers = fixers
	fs := Analyze(n, opts)
	loops := finding.GroupLoops(fs)
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
		Inputs:     env.Root.Inputs(),
	}
	for _, s := range n.sources {
		if r, ok := s.(reporter); ok {
			r.report(rep)
		}
	}
	n.traceStrategies()
	n.traceFindings(fs, opts.Ignore)
	if !n.Kubelet.Present {
		rep.Kubelet.Distro, rep.Kubelet.Unit = "", ""
	}
	if p := n.Kubelet.Process; p != nil {
		rep.Kubelet.PID = p.PID
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

// Analyze turns the node into findings. It is a pure function of the node
// and the options: the findings opts.Ignore names are marked ignored.
func Analyze(n *Node, opts Options) []Finding {
	var out []Finding
	out = append(out, n.Unreadable...)
	rds := n.podReaders(opts)
	n.traceReaders(rds)
	// What decides the pod file (kubelet) is told first; what puts a
	// looping address into it after the file's own findings, and only
	// where a DNS server reads the file (each source checks rds).
	for _, s := range n.sources {
		if _, ok := s.(decider); ok {
			out = append(out, n.sourceFindings(s, rds)...)
		}
	}
	out = append(out, n.podFileFindings(rds)...)
	out = append(out, n.noNameserverFinding(rds)...)
	for _, s := range n.sources {
		if _, ok := s.(decider); !ok {
			out = append(out, n.sourceFindings(s, rds)...)
		}
	}
	out = append(out, n.staleCopyFindings()...)
	finding.MarkIgnored(out, opts.Ignore)
	no := n.upstreamFindings(opts, out)
	finding.MarkIgnored(no, opts.Ignore)
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
func (n *Node) podIsHostFile() bool { return n.isHostFile(n.Pod) }

// isHostFile: rf is (after links) the host's /etc/resolv.conf.
func (n *Node) isHostFile(rf *resolvconf.File) bool {
	return rf != nil && n.Host != nil && rf.Target == n.Host.Target
}

// podIsResolvedFile: pods get one of systemd-resolved's files.
func (n *Node) podIsResolvedFile() bool {
	if n.Pod == nil {
		return n.PodFile == resolvconf.ResolvedUplinkFile || n.PodFile == resolvconf.ResolvedStubFile
	}
	return isResolvedFile(n.Pod)
}

// isResolvedFile: rf is (after links) one of systemd-resolved's files.
func isResolvedFile(rf *resolvconf.File) bool {
	for _, p := range []string{resolvconf.ResolvedUplinkFile, resolvconf.ResolvedStubFile} {
		if rf != nil && (rf.Path == p || rf.Target == p) {
			return true
		}
	}
	return false
}

func (n *Node) linkStep() string {
	if n.Pod == nil || n.Pod.Link == "" {
		return ""
	}
	return fmt.Sprintf("%s is a link to %s", n.Pod.Path, n.Pod.Link)
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
		if n.passes(file, ns, kind, readByDNS) {
			continue
		}
		if kind == kindClean { // with a zone index
			n.traceNameserver(file, ns, kind, string(finding.CodeZoneIndex), "a zone index names an interface pods do not have")
			chain := []string{n.kubeletStep(), fmt.Sprintf("line %d names %s", ns.Line, ns.Text),
				"a zone index names an interface of the node, which a pod does not have"}
			out = append(out, finding.New(finding.CodeZoneIndex, file, ns.Line, ns.Addr, chain))
			continue
		}
		chain := []string{n.kubeletStep()}
		if s := n.linkStep(); s != "" {
			chain = append(chain, s)
		}
		chain = append(chain, fmt.Sprintf("%s line %d names %s", file, ns.Line, ns.Addr), why)
		if kind == kindLocal {
			n.traceNameserver(file, ns, kind, string(finding.CodeLocalAddress), "an address of the node's own: a warning, a loop only if what answers there forwards back")
			chain = append(chain, "something on the node must answer there without forwarding back to this file")
			out = append(out, finding.New(finding.CodeLocalAddress, file, ns.Line, ns.Addr, chain))
			continue
		}
		o := n.sourceOf(n.Pod, ns.Addr, kind)
		src, srcAt, fixes := o.Says, o.At, n.applicable(o.Fixes)
		if src != "" {
			chain = append(chain, src)
		}
		part := finding.Part{Role: finding.RoleLine, Text: "nameserver " + ns.Text, Why: why, Reader: n.kubeletStep()}
		if srcAt == "" {
			part.Source = src
		} else {
			part.Links = []string{srcAt}
		}
		chain = append(chain, readersStep(rds))
		switch kind {
		case kindNodeCache:
			chain = append(chain, fmt.Sprintf("node-local-dns forwards '.' to %s → itself", n.PodFile))
		case kindClusterDNS:
			chain = append(chain, fmt.Sprintf("CoreDNS forwards '.' to %s → the Service → CoreDNS (with Kubespray, upstream_dns_servers gives CoreDNS servers of its own)", n.PodFile))
		default:
			chain = append(chain, fmt.Sprintf("CoreDNS forwards '.' to %s → itself: plugin/loop exits and the pod crash-loops", n.PodFile))
		}
		if clean > 0 {
			chain = append(chain, "forward picks upstreams at random, so it loops only some of the time")
		}
		code := map[addrKind]Code{kindStub: finding.CodeResolvedStub, kindLoopback: finding.CodeLoopback, kindNodeCache: finding.CodeNodeLocalDNS, kindClusterDNS: finding.CodeClusterDNS}[kind]
		n.traceNameserver(file, ns, kind, string(code), why+"; among the first "+strconv.Itoa(kubelet.MaxNameservers)+" that pods get, and a DNS server reads the file: a loop")
		f := finding.New(code, file, ns.Line, ns.Addr, chain, fixes...)
		f.Readers = rds
		f.Part = part
		out = append(out, f)
	}
	out = append(out, n.limitFindings(conf, file)...)
	// kubelet v1.34 formDNSSearchFitsLimits: 32 domains, 2048 characters, and
	// no domain over 253 characters (DNS1123SubdomainMaxLength).
	if long := slices.ContainsFunc(conf.Search, func(d string) bool { return len(d) > 253 }); long || len(conf.Search) > 32 || len(strings.Join(conf.Search, " ")) > 2048 {
		chain := []string{fmt.Sprintf("%s line %d has %d search domains (%d characters)", file, conf.SearchLine, len(conf.Search), len(strings.Join(conf.Search, " "))),
			"kubelet allows at most 32 domains, 2048 characters, each domain at most 253: pods get a shortened list"}
		out = append(out, finding.New(finding.CodeSearchLimit, file, conf.SearchLine, netip.Addr{}, chain))
	}
	return out
}

// Fixer is what the analysis asks of a strategy (remediate's table).
type Fixer struct {
	Name string
	// Applies says whether the node allows it for a finding of the pod
	// file; nil: always.
	Applies func(n *Node) bool
	// When says what Applies asks, for the -v trace.
	When string
	// ReadsFile: it fixes such a finding by changing what reads the file,
	// so it is offered wherever it applies, beside the source's fixes.
	ReadsFile bool
	// PodsOnly: it changes only which file pods get, not the file.
	PodsOnly bool
}

// applicable keeps the fixes a source names that the node allows, and adds
// the strategies that fix what reads the file where they apply.
func (n *Node) applicable(fixes []string) []string {
	var out []string
	for _, name := range fixes {
		if n.allowed(name) {
			out = append(out, name)
		}
	}
	for _, f := range n.fixers {
		if f.ReadsFile && !slices.Contains(out, f.Name) && n.allowed(f.Name) {
			out = append(out, f.Name)
		}
	}
	return out
}

// allowed: the strategy applies to this node and no source rules it out.
func (n *Node) allowed(name string) bool { return n.refusal(name) == "" }

// refusal says why the node rules the strategy name out; "" when it does not.
func (n *Node) refusal(name string) string {
	if i := slices.IndexFunc(n.fixers, func(f Fixer) bool { return f.Name == name }); i >= 0 {
		if f := n.fixers[i]; f.Applies != nil && !f.Applies(n) {
			return "it applies only where " + f.When
		}
	}
	for _, s := range n.sources {
		if v, ok := s.(vetoer); ok {
			if why := v.vetoes(n, name); why != "" {
				return s.Name() + " rules it out: " + why
			}
		}
	}
	return ""
}

// fixesAtSource are the fixes of an origin that clean the file itself, for
// a reader that is not a pod (a Corefile of the host): those that change
// only which file pods get do not.
func (n *Node) fixesAtSource(o Origin) []string {
	var out []string
	for _, name := range o.Fixes {
		if i := slices.IndexFunc(n.fixers, func(f Fixer) bool { return f.Name == name }); i >= 0 && n.fixers[i].PodsOnly {
			continue
		}
		if n.allowed(name) {
			out = append(out, name)
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
					if _, p, ok := corefile.ForwardTarget(t.Text); ok && p != "" && (p == rf.Path || p == rf.Target) {
						return true
					}
				}
			}
		}
	}
	return false
}

// OrEmpty is s, or an empty list for nil: documents print [] for none.
func OrEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// sourceOf says what put a looping address into the file rf: the first
// source, in the table's order, with a setting in a file that names it;
// else one that knows it from the running service; else the file's writer.
// With none, the fixes that need no source.
func (n *Node) sourceOf(rf *resolvconf.File, a netip.Addr, kind addrKind) Origin {
	if rf == n.Pod && n.Kubelet.PodRoot != nil {
		// The file is the containerized kubelet's own, apart from the node's
		// file at that path: no node source wrote it, and a strategy that edits
		// the node (stub, dhclient, a file) would change another file. Only
		// kubelet's own setting, where its container is defined, fixes it.
		n.trace("source chosen", "addr", a, "file", rf.Path, "source", "the running kubelet's own root", "fixes", StrategyKubelet)
		return Origin{Says: "the file is in the running kubelet's own root (its container's), not the node's", Fixes: []string{StrategyKubelet}}
	}
	o, by := n.origin(rf, a, kind)
	n.traceSourceChosen(rf, a, by, o)
	if by != "" {
		return o
	}
	if kind == kindStub {
		return Origin{Fixes: []string{StrategyKubelet, StrategyStub}}
	}
	return Origin{Fixes: []string{StrategyKubelet}}
}

// origin is what the sources say put a into rf, and which source ("" for
// none).
func (n *Node) origin(rf *resolvconf.File, a netip.Addr, kind addrKind) (Origin, string) {
	a = a.WithZone("")
	best, by := Origin{}, ""
	for _, s := range n.sources {
		o, ok := s.Put(n, rf, a, kind)
		n.traceOrigin(rf, a, s, o, ok)
		if ok && (by == "" || o.rank() < best.rank()) {
			best, by = o, s.Name()
		}
	}
	return best, by
}

// kubeletName is what runs the kubelet, as a person calls it.
func (n *Node) kubeletName() string {
	switch d := n.Kubelet.Distro; d {
	case "", kubelet.DistroKubelet:
		return kubelet.DistroKubelet
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
