package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
	dnsprobe "github.com/unloop/unloop/remediate/probe"
)

// kubeletSource is kubelet, in whatever distribution runs it
// (hostcfg/kubelet: one file a distribution): it decides which file pods
// get, the pod file, and is read first.
type kubeletSource struct {
	none
	n *Node // the node read, for its report
}

func newKubelet() Source { return &kubeletSource{} }

func (kubeletSource) Name() string    { return "kubelet" }
func (kubeletSource) Paths() []string { return kubelet.Paths() }

// decidesPodFile: its findings come before the pod file's.
func (kubeletSource) decidesPodFile() {}

// Read finds which file kubelet hands to pods (its unit files from systemd
// online), and reads it and the host's /etc/resolv.conf.
func (s *kubeletSource) Read(ctx context.Context, g *Gathering) {
	n, r := g.Node, g.Env.Root
	s.n = n
	var unitFiles []string
	if n.Online {
		bctx, cancel := context.WithTimeout(ctx, busTimeout)
		if files, err := g.Env.Bus.UnitFiles(bctx, "kubelet.service"); err == nil && len(files) > 0 {
			unitFiles = files
		}
		cancel()
	}
	n.Kubelet = load(n, func() (*kubelet.Setup, error) { return kubelet.Discover(r, unitFiles) })
	if n.Kubelet == nil {
		n.Kubelet = &kubelet.Setup{ResolvConf: "/etc/resolv.conf", ResolvConfSource: "default"}
	}
	if n.Online {
		n.Kubelet = n.runningKubelet(r, n.Kubelet)
	}
	n.PodFile = n.Kubelet.ResolvConf
	if n.tr.On() {
		n.trace("kubelet", "distro", n.Kubelet.Distro, "present", n.Kubelet.Present, "why", n.kubeletStep())
	}
	n.Host = load(n, func() (*resolvconf.File, error) { return readResolv(r, "/etc/resolv.conf") })
	if n.Kubelet.Unknown != "" {
		return // no pod file judged from a guess (runningKubelet's note says why)
	}
	n.kubeletNodeIPs()
	if n.PodFile == "" {
		return
	}
	pr := r
	if n.Kubelet.PodRoot != nil {
		pr = n.Kubelet.PodRoot // kubelet's own file, apart from the node's (a container's)
	}
	_, err := pr.Stat(n.PodFile)
	n.PodExists = !errors.Is(err, fs.ErrNotExist)
	if n.PodFile == "/etc/resolv.conf" && pr == r {
		n.Pod = n.Host
	} else {
		n.Pod = load(n, func() (*resolvconf.File, error) { return readResolv(pr, n.PodFile) })
	}
	n.checkFallback(ctx, g.Env, g.Opts)
}

func (kubeletSource) Findings(n *Node, rds []Reader) []Finding {
	if n.Kubelet.Unknown != "" {
		return n.kubeletFindings() // its "" is no resolvConf: "", only unknown
	}
	return append(n.kubeletFindings(), n.emptyResolvConfFindings(rds)...)
}

// kubeletNodeIPs: where k3s or RKE2 hands kubelet the node's own address
// as --node-ip, that address's family decides (kubelet.Setup.NodeIPFromNode):
// an IPv4 one when the node has one, else an IPv6 one.
func (n *Node) kubeletNodeIPs() {
	k := n.Kubelet
	if !k.NodeIPFromNode || len(k.NodeIPs) > 0 {
		return
	}
	var v6 []netip.Addr
	for a := range n.Local {
		if a.Is4() {
			return // 127.0.0.1, as with no node IP
		}
		if a.IsGlobalUnicast() {
			v6 = append(v6, a)
		}
	}
	if len(v6) > 0 {
		k.SetNodeIP(v6[0])
	}
}

// report: with resolvConf "" pods get no file, and the report's
// nameservers are the ones kubelet makes up for them (DESIGN.md §4, no_file).
func (s *kubeletSource) report(rep *Report) {
	n := s.n
	if n == nil {
		return
	}
	k := n.Kubelet
	if !k.Present || n.PodFile != "" || k.Unknown != "" || k.ResolvConfSource == "default" {
		return
	}
	at, set := k.ResolvConfSet()
	rep.ResolvConf.NoFile = true
	rep.ResolvConf.Evidence = fmt.Sprintf("kubelet's %s (%s): no file; pods with dnsPolicy: Default get these nameservers and search .", set, at)
	for _, a := range kubelet.EmptyResolvConfServers(k.NodeIPs) {
		rep.ResolvConf.Nameservers = append(rep.ResolvConf.Nameservers, a.String())
	}
}

// runningKubelet is, online, what the running kubelet found by its process
// hands to pods, over what its files say (kubelet.Reconcile); files when no
// kubelet runs.
func (n *Node) runningKubelet(r *hostcfg.Root, files *kubelet.Setup) *kubelet.Setup {
	p, err := kubelet.FindProcess(r)
	if err != nil || p == nil {
		return files
	}
	n.trace("kubelet process", "pid", p.PID, "distro", p.Distro, "unit", p.Unit)
	k, note := kubelet.Reconcile(files, kubelet.Running(r, p))
	if note != "" {
		n.Notes = append(n.Notes, note)
	}
	return k
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
		probe = dnsprobe.DNS
	}
	if err := probe(ctx, a); err != nil {
		n.Notes = append(n.Notes, fmt.Sprintf("%s; %s does not answer from this node (%v): pods get no DNS. Set resolv-conf in %s's config to a file of servers that answer", head, a, err, k.Distro))
	}
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
		out = append(out, finding.New(finding.CodeKubeletMisspelled, m.File, m.Line, netip.Addr{}, chain, StrategyKubelet))
	}
	if k.Present && n.PodFile != "" && !n.PodExists {
		where, _ := k.ResolvConfSet()
		chain := []string{n.kubeletStep(), fmt.Sprintf("%s does not exist", n.PodFile)}
		if n.PodFile == resolvedTypoFile {
			chain = append(chain, "the real file is "+resolvconf.ResolvedUplinkFile+" (resolve, with an e)")
		}
		chain = append(chain, "kubelet cannot create pod sandboxes with dnsPolicy: Default (CoreDNS, node-local-dns)")
		out = append(out, finding.New(finding.CodeKubeletMissing, where.File, where.Line, netip.Addr{}, chain, StrategyKubelet))
	}
	return out
}
