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
type kubeletSource struct{ none }

func newKubelet() Source { return kubeletSource{} }

func (kubeletSource) Name() string    { return "kubelet" }
func (kubeletSource) Paths() []string { return kubelet.Paths() }

// decidesPodFile: its findings come before the pod file's.
func (kubeletSource) decidesPodFile() {}

// Read finds which file kubelet hands to pods (its unit files from systemd
// online), and reads it and the host's /etc/resolv.conf.
func (kubeletSource) Read(ctx context.Context, g *Gathering) {
	n, r := g.Node, g.Env.Root
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
	n.trace("kubelet", "distro", n.Kubelet.Distro, "present", n.Kubelet.Present, "why", n.kubeletStep())
	n.Host = load(n, func() (*resolvconf.File, error) { return readResolv(r, "/etc/resolv.conf") })
	if n.Kubelet.Unknown != "" {
		return // no pod file judged from a guess (runningKubelet's note says why)
	}
	if n.PodFile == "" {
		return
	}
	_, err := r.Stat(n.PodFile)
	n.PodExists = !errors.Is(err, fs.ErrNotExist)
	if n.PodFile == "/etc/resolv.conf" {
		n.Pod = n.Host
	} else {
		n.Pod = load(n, func() (*resolvconf.File, error) { return readResolv(r, n.PodFile) })
	}
	n.checkFallback(ctx, g.Env, g.Opts)
}

func (kubeletSource) Findings(n *Node, rds []Reader) []Finding {
	if n.Kubelet.Unknown != "" {
		return n.kubeletFindings() // its "" is no resolvConf: "", only unknown
	}
	return append(n.kubeletFindings(), n.emptyResolvConfFindings(rds)...)
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
