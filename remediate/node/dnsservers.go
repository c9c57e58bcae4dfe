package node

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"path"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/hostcfg/sandbox"
	"github.com/unloop/unloop/remediate/dnspods"
)

// The cluster's DNS servers (CoreDNS, node-local-dns) run in pods: their
// Corefiles are ConfigMaps, left on disk by installers and mounted into the
// pods by kubelet. unloop reads them, never edits them (kubelet and k3s
// rewrite them), and reads `forward . /etc/resolv.conf` in them as the pod's
// copy of the pod file.

// manifestDirs are where installers leave their ConfigMaps: Kubespray's
// /etc/kubernetes/*.yml (coredns-config.yml, nodelocaldns-config.yml), k3s's
// and RKE2's auto-deployed manifests.
var manifestDirs = []struct{ dir, pattern string }{
	{"/etc/kubernetes", "*.yml"},
	{"/etc/kubernetes", "*.yaml"},
	{"/var/lib/rancher/k3s/server/manifests", "*.yaml"},
	{"/var/lib/rancher/rke2/server/manifests", "*.yaml"},
}

// kubeletPods is where kubelet keeps its pods' volumes (its --root-dir).
const kubeletPods = "/var/lib/kubelet/pods"

// readClusterCorefiles reads the ConfigMaps installers left on disk (the
// node's own) and the Corefiles kubelet mounted into DNS server pods. Any
// other pod's volumes are not read at all (DESIGN.md §2b).
func (n *Node) readClusterCorefiles(r *hostcfg.Root, ps *dnspods.Census) {
	ents, err := r.ReadDir(kubeletPods)
	if err != nil {
		n.unreadable(err)
	}
	var dnsPods []*dnspods.PodInfo
	for _, e := range ents {
		p := ps.Pod(e.Name())
		if !p.DNSServer {
			n.record(podDir(p.UID), p.Provenance(), true)
			continue
		}
		dnsPods = append(dnsPods, p)
	}
	// node-cache reads the kube-dns ConfigMap mounted into its own pod; a
	// ConfigMap on disk is filled from the first DNS server pod's.
	upstreams := map[string][]string{}
	var first []string
	for _, p := range dnsPods {
		upstreams[p.UID] = n.kubeDNSUpstreams(r, p)
		if first == nil {
			first = upstreams[p.UID]
		}
	}
	for _, d := range manifestDirs {
		files, err := r.Glob(d.dir, d.pattern)
		if err != nil {
			n.unreadable(err)
			continue
		}
		for _, p := range files {
			data, ok, err := r.ReadFileIfExists(p)
			if err != nil || !ok || !bytes.Contains(data, []byte("Corefile")) || !bytes.Contains(data, []byte("ConfigMap")) {
				continue // not a ConfigMap holding a Corefile: not unloop's to judge
			}
			n.record(p, dnspods.Provenance{Owner: dnspods.OwnerNode}, false)
			cfs, err := corefile.ParseManifest(p, corefile.ExpandPillars(data, first))
			if err != nil {
				n.unreadable(err)
				continue
			}
			n.addCorefiles(r, cfs...)
		}
	}
	for _, pod := range dnsPods {
		vols, _ := r.ReadDir(path.Join(podDir(pod.UID), "volumes/kubernetes.io~configmap"))
		for _, v := range vols {
			for _, key := range []string{"Corefile", "Corefile.base"} {
				// kubelet's atomic writer: KEY is a link to ..data/KEY.
				p := path.Join(podDir(pod.UID), "volumes/kubernetes.io~configmap", v.Name(), key)
				data, ok, err := r.ReadFileIfExists(p)
				if err != nil {
					n.podUnreadable(err, pod.Provenance().Pod)
				}
				if !ok {
					continue
				}
				n.record(p, pod.Provenance(), false)
				if n.sameAsAPI(key, data) {
					continue
				}
				cf, err := corefile.Parse(p, corefile.ExpandPillars(data, upstreams[pod.UID]))
				if err != nil {
					n.podUnreadable(err, pod.Provenance().Pod)
					continue
				}
				cf.Source = &corefile.Source{Key: key, Pod: pod.UID, PodName: pod.Provenance().Pod, Volume: v.Name()}
				n.addCorefiles(r, cf)
			}
		}
	}
}

func (n *Node) addCorefiles(r *hostcfg.Root, cfs ...*corefile.Config) {
	for _, cf := range cfs {
		n.Corefiles = append(n.Corefiles, cf)
		if cf.Source == nil {
			n.readForwarded(r, cf)
		}
	}
}

// kubeDNSUpstreams reads kube-dns's upstreamNameservers (a JSON list) where
// kubelet mounted the kube-dns ConfigMap into a DNS server pod (node-local-dns
// mounts it at /etc/kube-dns); node-cache uses them for
// __PILLAR__UPSTREAM__SERVERS__.
func (n *Node) kubeDNSUpstreams(r *hostcfg.Root, pod *dnspods.PodInfo) []string {
	vols, _ := r.Glob(path.Join(podDir(pod.UID), "volumes/kubernetes.io~configmap"), "*")
	for _, v := range vols {
		p := path.Join(v, "upstreamNameservers")
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil || !ok {
			continue
		}
		n.record(p, pod.Provenance(), false)
		var ups []string
		if err := json.Unmarshal(data, &ups); err != nil {
			n.podUnreadable(hostcfg.Errorf(p, 1, "not a JSON list of addresses: %v", err), pod.Provenance().Pod)
			continue
		}
		return ups
	}
	return nil
}

// serverKind says which DNS server a Corefile configures: node-local-dns's
// (its ConfigMap's name, the key node-cache reads, or a bind to a node cache
// address) or CoreDNS's.
func (n *Node) serverKind(cf *corefile.Config) string {
	if s := cf.Source; s != nil && (s.Key == "Corefile.base" || strings.Contains(s.ConfigMap, "nodelocaldns") || strings.Contains(s.ConfigMap, "node-local-dns")) {
		return "node-local-dns"
	}
	for _, sb := range cf.Servers {
		for _, b := range sb.Binds {
			if a, ok := parseAddr(b.Text); ok {
				if _, cache := n.NodeCache[a]; cache {
					return "node-local-dns"
				}
			}
		}
	}
	return "CoreDNS"
}

// readSandboxes reads DNS server pods' running sandboxes and their copies
// of the pod file; another pod's copy is not read (DESIGN.md §2b).
func (n *Node) readSandboxes(r *hostcfg.Root, ps *dnspods.Census) {
	for _, sb := range ps.Sandboxes {
		pv, ok := ps.DNSServer(sb)
		if !ok {
			n.record(sb.ResolvConf, pv, true)
			continue
		}
		rf, err := readResolv(r, sb.ResolvConf)
		if err != nil {
			n.podUnreadable(err, pv.Pod)
		}
		if rf == nil {
			continue
		}
		n.record(sb.ResolvConf, pv, false)
		// dnsPolicy Default: the copy is the pod file, not kubelet's
		// ClusterFirst file (which searches NAMESPACE.svc.DOMAIN first).
		if len(rf.Conf.Search) > 0 && strings.HasPrefix(rf.Conf.Search[0], sb.Namespace+".svc.") {
			continue
		}
		pc := PodCopy{Sandbox: sb, File: rf, Provenance: pv}
		if ps.Live != nil {
			if l, ok := ps.Live[sb.ID]; ok {
				pc.Live = &l
			}
		}
		n.PodCopies = append(n.PodCopies, pc)
	}
}

// PodCopy is a running DNS-server pod's copy of the pod file.
type PodCopy struct {
	Sandbox sandbox.Sandbox
	File    *resolvconf.File
	// Provenance is the pod's: always a DNS server pod's.
	Provenance dnspods.Provenance
	// Live is the sandbox as the container runtime lists it; nil when no
	// runtime was asked.
	Live *cri.Sandbox
}

// parseAddr reads an address without its zone, unmapped.
func parseAddr(s string) (netip.Addr, bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}
