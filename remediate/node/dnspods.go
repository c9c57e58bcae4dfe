package node

import (
	"context"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/sandbox"
	"github.com/unloop/unloop/remediate/dnspods"
)

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

// kubeletPodLogs is kubelet's podLogsDirectory (its default): one folder
// NAMESPACE_NAME_UID per pod (kuberuntime's BuildPodLogsDirectory), made
// when its sandbox is. Neither a namespace, a pod name nor a UID holds "_".
const kubeletPodLogs = "/var/log/pods"

// pods are the node's pods by UID, and its sandboxes with what the runtime
// says of them.
type pods struct {
	byUID     map[string]*PodInfo
	sandboxes []sandbox.Sandbox
	// live are the sandboxes the runtime lists, by ID (online).
	live map[string]cri.Sandbox
	sel  dnspods.Selector
}

// readPods learns who the node's pods are: the runtime's sandboxes (its
// files, and online CRI, which also has the labels), then kubelet's pod log
// folders, which name a pod's namespace and name offline. Then it decides
// which are DNS server pods.
func (n *Node) readPods(ctx context.Context, env Env, opts Options) *pods {
	r := env.Root
	ps := &pods{byUID: map[string]*PodInfo{}, sel: opts.DNSServerPods.OrDefault()}
	ps.sandboxes = load(n, func() ([]sandbox.Sandbox, error) { return sandbox.List(r) })
	live := n.askRuntime(ctx, env, opts)
	ps.live = live
	for i, sb := range ps.sandboxes {
		if l, ok := live[sb.ID]; ok {
			ps.sandboxes[i] = withLive(sb, l)
		}
	}
	add := func(uid, ns, name string, labels map[string]string, from string) {
		if uid == "" || ns == "" || name == "" {
			return
		}
		p := ps.byUID[uid]
		if p == nil {
			p = &PodInfo{UID: uid, Namespace: ns, Name: name, From: from}
			ps.byUID[uid] = p
		}
		if len(p.Labels) == 0 && len(labels) > 0 {
			p.Labels = labels
		}
	}
	for _, id := range slices.Sorted(maps.Keys(live)) {
		l := live[id]
		add(l.UID, l.Namespace, l.Name, l.Labels, "runtime")
	}
	for _, sb := range ps.sandboxes {
		add(sb.UID, sb.Namespace, sb.Name, sb.Labels, "sandbox")
	}
	logs, err := r.ReadDir(kubeletPodLogs)
	if err != nil {
		n.Notes = append(n.Notes, fmt.Sprintf("pods' names: %v; pods the runtime did not name are taken for no DNS server's", err))
	}
	for _, e := range logs {
		if f := strings.Split(e.Name(), "_"); len(f) == 3 {
			add(f[2], f[0], f[1], nil, kubeletPodLogs)
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(ps.byUID)) {
		p := ps.byUID[uid]
		var why string
		p.DNSServer, why = ps.sel.Match(p.Namespace, p.Name, p.Labels)
		if n.tr.On() {
			n.trace("pod", "uid", uid, "pod", p.Namespace+"/"+p.Name, "from", p.From, "dns server", p.DNSServer, "why", why)
		}
	}
	return ps
}

// pod returns what is known of the pod with uid; a pod whose namespace and
// name are unknown is no DNS server pod (said at debug level).
func (ps *pods) pod(n *Node, uid string) *PodInfo {
	if p := ps.byUID[uid]; p != nil {
		return p
	}
	n.trace("pod", "uid", uid, "dns server", false, "why", "its namespace and name are unknown: no sandbox the runtime names, no "+kubeletPodLogs+" folder")
	p := &PodInfo{UID: uid}
	ps.byUID[uid] = p
	return p
}

// record notes an input and whose it is.
func (n *Node) record(p string, pv Provenance, skipped bool) {
	n.Inputs = append(n.Inputs, Input{Path: p, Provenance: pv, Skipped: skipped})
}

// podDir is a pod's folder under kubelet's.
func podDir(uid string) string { return path.Join(kubeletPods, uid) }
