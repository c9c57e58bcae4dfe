package node

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/sandbox"
	"github.com/unloop/unloop/remediate/finding"
)

// podReaders are the DNS servers that read the pod file. Corefiles in pods
// and ConfigMaps read it as /etc/resolv.conf (the pod's copy); a Corefile of
// the host by its node path. A server with no Corefile on the node is
// assumed to read it, unless the dns-upstreams setting says where the
// site's servers forward.
func (n *Node) podReaders(opts Options) []Reader {
	if n.Pod == nil && (n.PodFile != "" || !n.Kubelet.Present) {
		return nil // with resolvConf "" pods still get a file (kubelet.EmptyResolvConfServers)
	}
	var out []Reader
	known := map[string]bool{}
	for _, cf := range n.Corefiles {
		kind := n.serverKind(cf)
		if cf.Source != nil {
			known[kind] = true
		}
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				for _, t := range fw.To {
					_, p, ok := corefile.ForwardTarget(t.Text)
					if !ok || p == "" {
						continue
					}
					reads := n.Pod != nil && (p == n.Pod.Path || p == n.Pod.Target)
					if cf.Source != nil {
						reads = p == "/etc/resolv.conf" && n.Kubelet.Present
					}
					if reads {
						rd := Reader{Server: kind, Corefile: cf.Path, Line: fw.Line, Forward: fmt.Sprintf("forward %s %s", fw.From, t.Text),
							More: slices.ContainsFunc(fw.To, func(o corefile.Token) bool { a, _, _ := corefile.ForwardTarget(o.Text); return a.IsValid() })}
						if cf.Source != nil {
							rd.ConfigMap = cf.Source.ConfigMap
						}
						out = append(out, rd)
					}
				}
			}
		}
	}
	if len(opts.DNSUpstreams) > 0 {
		return out
	}
	assumed := Reader{Server: "CoreDNS", Forward: "forward . /etc/resolv.conf", Assumed: true}
	switch {
	case !n.Kubelet.Present:
		// CoreDNS on the host or in Docker: its Corefiles, when known, say it all.
		if len(n.Corefiles) == 0 {
			out = append(out, assumed)
		}
	case !known["CoreDNS"]:
		out = append(out, assumed)
	}
	return out
}

// readersStep is the chain's link that says who reads the file.
func readersStep(rds []Reader) string {
	var s []string
	for _, rd := range rds {
		s = append(s, rd.String())
	}
	return "read by " + strings.Join(s, "; ")
}

// staleCopyFindings: a running DNS-server pod whose copy of the pod file
// names a looping address keeps looping after the node's file is fixed,
// until the pod is recreated.
func (n *Node) staleCopyFindings() []Finding {
	var out []Finding
	for _, pc := range n.PodCopies {
		for _, ns := range pc.File.Conf.Nameservers {
			if !n.Looping(ns.Addr) {
				continue
			}
			_, why := n.classify(ns.Addr)
			pod := pc.Sandbox.Namespace + "/" + pc.Sandbox.Name
			chain := []string{
				fmt.Sprintf("pod %s runs (%s sandbox %s)", pod, pc.Sandbox.Runtime, sandbox.ShortID(pc.Sandbox.ID)),
				fmt.Sprintf("its copy of the pod file, %s line %d, names %s", pc.File.Path, ns.Line, ns.Addr), why,
				"a sandbox keeps the file it was created with: recreate the pod (kubectl -n " + pc.Sandbox.Namespace + " delete pod " + pc.Sandbox.Name + ") once the node's file is clean",
			}
			f := finding.New(finding.CodePodResolvStale, pc.File.Path, ns.Line, ns.Addr.WithZone(""), chain)
			f.Pod = pod
			out = append(out, f)
		}
	}
	return out
}

// noNameserverFinding: CoreDNS's forward finds no upstream in a file without
// nameserver and exits (plugin/forward: no valid upstream addresses found).
func (n *Node) noNameserverFinding(rds []Reader) []Finding {
	rds = slices.DeleteFunc(slices.Clone(rds), func(rd Reader) bool { return rd.More })
	if n.Pod == nil || len(n.Pod.Conf.Nameservers) > 0 || len(rds) == 0 {
		return nil
	}
	chain := []string{n.kubeletStep(), n.Pod.Path + " names no nameserver", readersStep(rds),
		"plugin/forward: no valid upstream addresses found: CoreDNS exits and the pod crash-loops"}
	f := finding.New(finding.CodeNameserverNone, n.Pod.Path, 0, netip.Addr{}, chain, n.applicable([]string{StrategyKubelet})...)
	f.Readers = rds
	return []Finding{f}
}
