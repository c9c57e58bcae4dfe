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

// Whose an input is (DESIGN.md §2b): dnspods.Provenance and its kin.

// kubeletPodLogs is kubelet's podLogsDirectory (its default): one folder
// NAMESPACE_NAME_UID per pod (kuberuntime's BuildPodLogsDirectory), made
// when its sandbox is. Neither a namespace, a pod name nor a UID holds "_".
const kubeletPodLogs = "/var/log/pods"

// pods are the node's pods by UID, and its sandboxes with what the runtime
// says of them.
type pods struct {
	byUID     map[string]*dnspods.PodInfo
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
	ps := &pods{byUID: map[string]*dnspods.PodInfo{}, sel: opts.DNSServerPods.OrDefault()}
	live := n.askRuntime(ctx, env, opts)
	ps.live = live
	ps.sandboxes = load(n, func() ([]sandbox.Sandbox, error) {
		if live == nil {
			return sandbox.List(r)
		}
		// The runtime named every sandbox: only DNS server pods' bundles
		// are read (see ListListed).
		return sandbox.ListListed(r, func(id string) sandbox.Listed {
			l, ok := live[id]
			if !ok {
				return sandbox.Unlisted
			}
			if dns, _ := ps.sel.Match(l.Namespace, l.Name, l.Labels); dns {
				return sandbox.Read
			}
			return sandbox.Unread
		})
	})
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
			p = &dnspods.PodInfo{UID: uid, Namespace: ns, Name: name, From: from}
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
func (ps *pods) pod(n *Node, uid string) *dnspods.PodInfo {
	if p := ps.byUID[uid]; p != nil {
		return p
	}
	n.trace("pod", "uid", uid, "dns server", false, "why", "its namespace and name are unknown: no sandbox the runtime names, no "+kubeletPodLogs+" folder")
	p := &dnspods.PodInfo{UID: uid}
	ps.byUID[uid] = p
	return p
}

// record notes an input and whose it is.
func (n *Node) record(p string, pv dnspods.Provenance, skipped bool) {
	n.Inputs = append(n.Inputs, dnspods.Input{Path: p, Provenance: pv, Skipped: skipped})
}

// podDir is a pod's folder under kubelet's.
func podDir(uid string) string { return path.Join(kubeletPods, uid) }
