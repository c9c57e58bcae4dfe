package dnspods

import "fmt"

// Provenance (DESIGN.md §2b): every input is the node's own, a DNS server
// pod's, or another pod's. The analysis reads the first two; what any other
// pod holds (its ConfigMap volumes, its sandbox's copy of the pod file) is
// never read, so no tenant can make unloop see a loop, or an unreadable
// input, that is not the node's.

// Owner says whose an input is.
type Owner string

const (
	OwnerNode         Owner = "node"           // the node's own files (installer manifests included)
	OwnerDNSServerPod Owner = "dns-server-pod" // a pod the dns-server-* settings name
	OwnerOther        Owner = "other"          // any other pod: never read
)

// Provenance is whose an input is: the node's, or a pod's (Pod is
// "namespace/name", "" when kubelet's files do not say).
type Provenance struct {
	Owner Owner
	Pod   string
	UID   string
}

func (p Provenance) String() string {
	if p.Owner == OwnerNode {
		return string(p.Owner)
	}
	pod := p.Pod
	if pod == "" {
		pod = "pod " + p.UID
	}
	return fmt.Sprintf("%s %s", p.Owner, pod)
}

// Input is one input of the cluster's DNS servers the node holds (a
// ConfigMap on disk, a pod's mounted Corefile or upstreamNameservers, a
// sandbox's copy of the pod file) and whose it is. Skipped: another pod's,
// not read.
type Input struct {
	Path       string
	Provenance Provenance
	Skipped    bool
}

// PodInfo is a pod kubelet runs on the node, as far as unloop can tell who
// it is, and whether it is a DNS server pod.
type PodInfo struct {
	UID, Namespace, Name string
	Labels               map[string]string
	// From says where its namespace and name were learned: "runtime" (CRI),
	// "sandbox" (the runtime's files), "/var/log/pods"; "" when nowhere.
	From      string
	DNSServer bool
}

// Provenance is whose the pod's inputs are.
func (p *PodInfo) Provenance() Provenance {
	pv := Provenance{Owner: OwnerOther, UID: p.UID}
	if p.DNSServer {
		pv.Owner = OwnerDNSServerPod
	}
	if p.Namespace != "" {
		pv.Pod = p.Namespace + "/" + p.Name
	}
	return pv
}
