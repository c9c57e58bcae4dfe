package dnspods

import (
	"bytes"
	"encoding/json"
	"path"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/corefile"
)

// The cluster's DNS servers (CoreDNS, node-local-dns) run in pods: their
// Corefiles are ConfigMaps, left on disk by installers and mounted into the
// pods by kubelet. unloop reads them from the node (and, with credentials,
// from the API), and reads `forward . /etc/resolv.conf` in them as the pod's
// copy of the pod file.

// ManifestDirs are where installers leave their ConfigMaps: Kubespray's
// /etc/kubernetes/*.yml (coredns-config.yml, nodelocaldns-config.yml), k3s's
// and RKE2's auto-deployed manifests.
var ManifestDirs = []struct{ Dir, Pattern string }{
	{"/etc/kubernetes", "*.yml"},
	{"/etc/kubernetes", "*.yaml"},
	{"/var/lib/rancher/k3s/server/manifests", "*.yaml"},
	{"/var/lib/rancher/rke2/server/manifests", "*.yaml"},
}

// PodsDir is where kubelet keeps its pods' volumes (its --root-dir).
const PodsDir = "/var/lib/kubelet/pods"

// PodDir is a pod's folder under kubelet's.
func PodDir(uid string) string { return path.Join(PodsDir, uid) }

// Problem is an input that could not be read: the node's (Pod "") or a DNS
// server pod's ("namespace/name"), which is a warning of its own.
type Problem struct {
	Err error
	Pod string
}

// Corefiles are the cluster's Corefiles the node holds, in the order read
// (the installers' manifests, then the DNS server pods' volumes), with every
// input looked at and whose it is.
type Corefiles struct {
	Corefiles []*corefile.Config
	Inputs    []Input
	Problems  []Problem
}

// ReadCorefiles reads the ConfigMaps installers left on disk (the node's
// own) and the Corefiles kubelet mounted into DNS server pods. Any other
// pod's volumes are not read at all (DESIGN.md §2b). sameAsAPI says a
// mounted key is what the API already gave (read there, not twice).
func (c *Census) ReadCorefiles(r *hostcfg.Root, sameAsAPI func(key string, data []byte) bool) Corefiles {
	var out Corefiles
	ents, err := r.ReadDir(PodsDir)
	if err != nil {
		out.Problems = append(out.Problems, Problem{Err: err})
	}
	var dnsPods []*PodInfo
	for _, e := range ents {
		p := c.Pod(e.Name())
		if !p.DNSServer {
			out.Inputs = append(out.Inputs, Input{Path: PodDir(p.UID), Provenance: p.Provenance(), Skipped: true})
			continue
		}
		dnsPods = append(dnsPods, p)
	}
	// node-cache reads the kube-dns ConfigMap mounted into its own pod; a
	// ConfigMap on disk is filled from the first DNS server pod's.
	upstreams := map[string][]string{}
	var first []string
	for _, p := range dnsPods {
		upstreams[p.UID] = out.kubeDNSUpstreams(r, p)
		if first == nil {
			first = upstreams[p.UID]
		}
	}
	for _, d := range ManifestDirs {
		files, err := r.Glob(d.Dir, d.Pattern)
		if err != nil {
			out.Problems = append(out.Problems, Problem{Err: err})
			continue
		}
		for _, p := range files {
			data, ok, err := r.ReadFileIfExists(p)
			if err != nil || !ok || !bytes.Contains(data, []byte("Corefile")) || !bytes.Contains(data, []byte("ConfigMap")) {
				continue // not a ConfigMap holding a Corefile: not unloop's to judge
			}
			out.Inputs = append(out.Inputs, Input{Path: p, Provenance: Provenance{Owner: OwnerNode}})
			cfs, err := corefile.ParseManifest(p, corefile.ExpandPillars(data, first))
			if err != nil {
				out.Problems = append(out.Problems, Problem{Err: err})
				continue
			}
			out.Corefiles = append(out.Corefiles, cfs...)
		}
	}
	for _, pod := range dnsPods {
		out.readMounted(r, pod, upstreams[pod.UID], sameAsAPI)
	}
	return out
}

// readMounted reads the Corefiles mounted into a DNS server pod.
func (out *Corefiles) readMounted(r *hostcfg.Root, pod *PodInfo, upstreams []string, sameAsAPI func(string, []byte) bool) {
	pv := pod.Provenance()
	vols, _ := r.ReadDir(path.Join(PodDir(pod.UID), "volumes/kubernetes.io~configmap"))
	for _, v := range vols {
		for _, key := range []string{"Corefile", "Corefile.base"} {
			// kubelet's atomic writer: KEY is a link to ..data/KEY.
			p := path.Join(PodDir(pod.UID), "volumes/kubernetes.io~configmap", v.Name(), key)
			data, ok, err := r.ReadFileIfExists(p)
			if err != nil {
				out.Problems = append(out.Problems, Problem{Err: err, Pod: pv.Pod})
			}
			if !ok {
				continue
			}
			out.Inputs = append(out.Inputs, Input{Path: p, Provenance: pv})
			if sameAsAPI(key, data) {
				continue
			}
			cf, err := corefile.Parse(p, corefile.ExpandPillars(data, upstreams))
			if err != nil {
				out.Problems = append(out.Problems, Problem{Err: err, Pod: pv.Pod})
				continue
			}
			cf.Source = &corefile.Source{Key: key, Pod: pod.UID, PodName: pv.Pod, Volume: v.Name()}
			out.Corefiles = append(out.Corefiles, cf)
		}
	}
}

// kubeDNSUpstreams reads kube-dns's upstreamNameservers (a JSON list) where
// kubelet mounted the kube-dns ConfigMap into a DNS server pod (node-local-dns
// mounts it at /etc/kube-dns); node-cache uses them for
// __PILLAR__UPSTREAM__SERVERS__.
func (out *Corefiles) kubeDNSUpstreams(r *hostcfg.Root, pod *PodInfo) []string {
	vols, _ := r.Glob(path.Join(PodDir(pod.UID), "volumes/kubernetes.io~configmap"), "*")
	for _, v := range vols {
		p := path.Join(v, "upstreamNameservers")
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil || !ok {
			continue
		}
		out.Inputs = append(out.Inputs, Input{Path: p, Provenance: pod.Provenance()})
		var ups []string
		if err := json.Unmarshal(data, &ups); err != nil {
			out.Problems = append(out.Problems, Problem{Err: hostcfg.Errorf(p, 1, "not a JSON list of addresses: %v", err), Pod: pod.Provenance().Pod})
			continue
		}
		return ups
	}
	return nil
}
