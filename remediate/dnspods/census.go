package dnspods

import (
	"maps"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/sandbox"
	"github.com/unloop/unloop/remediate/trace"
)

// PodLogs is kubelet's podLogsDirectory (its default): one folder
// NAMESPACE_NAME_UID per pod (kuberuntime's BuildPodLogsDirectory), made
// when its sandbox is. Neither a namespace, a pod name nor a UID holds "_".
const PodLogs = "/var/log/pods"

// Census is who the node's pods are, by UID, and its sandboxes with what the
// runtime says of them: the stage before any pod's file is read, since only
// DNS server pods' files are.
type Census struct {
	byUID map[string]*PodInfo
	// Sandboxes are the runtime's sandboxes; a tenant's bundle is not read
	// when the runtime named every sandbox (sandbox.ListListed).
	Sandboxes []sandbox.Sandbox
	// Live are the sandboxes the runtime lists, by ID (online); nil offline.
	Live map[string]cri.Sandbox
	sel  Selector
	tr   trace.Log
}

// Take learns who the node's pods are: the runtime's sandboxes (its files,
// and live, what online CRI listed, which also has the labels), then
// kubelet's pod log folders, which name a pod's namespace and name offline.
// Then it decides which are DNS server pods. note says what could not be
// read of the pods' names; err is the sandboxes' listing's.
func Take(r *hostcfg.Root, live map[string]cri.Sandbox, sel Selector, tr trace.Log) (c *Census, note string, err error) {
	c = &Census{byUID: map[string]*PodInfo{}, Live: live, sel: sel, tr: tr}
	if live == nil {
		c.Sandboxes, err = sandbox.List(r)
	} else {
		// The runtime named every sandbox: only DNS server pods' bundles
		// are read (see ListListed).
		c.Sandboxes, err = sandbox.ListListed(r, func(id string) sandbox.Listed {
			l, ok := live[id]
			if !ok {
				return sandbox.Unlisted
			}
			if dns, _ := sel.Match(l.Namespace, l.Name, l.Labels); dns {
				return sandbox.Read
			}
			return sandbox.Unread
		})
	}
	for i, sb := range c.Sandboxes {
		if l, ok := live[sb.ID]; ok {
			c.Sandboxes[i] = withLive(sb, l)
		}
	}
	for _, id := range slices.Sorted(maps.Keys(live)) {
		l := live[id]
		c.add(l.UID, l.Namespace, l.Name, l.Labels, "runtime")
	}
	for _, sb := range c.Sandboxes {
		c.add(sb.UID, sb.Namespace, sb.Name, sb.Labels, "sandbox")
	}
	logs, lerr := r.ReadDir(PodLogs)
	if lerr != nil {
		note = "pods' names: " + lerr.Error() + "; pods the runtime did not name are taken for no DNS server's"
	}
	for _, e := range logs {
		if f := strings.Split(e.Name(), "_"); len(f) == 3 {
			c.add(f[2], f[0], f[1], nil, PodLogs)
		}
	}
	for _, uid := range slices.Sorted(maps.Keys(c.byUID)) {
		p := c.byUID[uid]
		var why string
		p.DNSServer, why = sel.Match(p.Namespace, p.Name, p.Labels)
		if tr.On() {
			tr.Fact("pod", "uid", uid, "pod", p.Namespace+"/"+p.Name, "from", p.From, "dns server", p.DNSServer, "why", why)
		}
	}
	return c, note, err
}

func (c *Census) add(uid, ns, name string, labels map[string]string, from string) {
	if uid == "" || ns == "" || name == "" {
		return
	}
	p := c.byUID[uid]
	if p == nil {
		p = &PodInfo{UID: uid, Namespace: ns, Name: name, From: from}
		c.byUID[uid] = p
	}
	if len(p.Labels) == 0 && len(labels) > 0 {
		p.Labels = labels
	}
}

// Pod returns what is known of the pod with uid; a pod whose namespace and
// name are unknown is no DNS server pod (said in the trace).
func (c *Census) Pod(uid string) *PodInfo {
	if p := c.byUID[uid]; p != nil {
		return p
	}
	c.tr.Fact("pod", "uid", uid, "dns server", false, "why", "its namespace and name are unknown: no sandbox the runtime names, no "+PodLogs+" folder")
	p := &PodInfo{UID: uid}
	c.byUID[uid] = p
	return p
}

// DNSServer says whether the sandbox is a DNS server pod's, by the
// dns-server-* settings: by what the runtime says of it, else by its pod's
// UID (kubelet's pod log folders).
func (c *Census) DNSServer(sb sandbox.Sandbox) (Provenance, bool) {
	if sb.Namespace == "" && sb.UID != "" {
		p := c.Pod(sb.UID)
		return p.Provenance(), p.DNSServer
	}
	p := &PodInfo{UID: sb.UID, Namespace: sb.Namespace, Name: sb.Name, Labels: sb.Labels}
	if known := c.byUID[sb.UID]; known != nil && len(p.Labels) == 0 {
		p.Labels = known.Labels
	}
	var why string
	p.DNSServer, why = c.sel.Match(p.Namespace, p.Name, p.Labels)
	switch {
	case !c.tr.On():
	case p.Namespace == "":
		c.tr.Fact("sandbox", "id", sandbox.ShortID(sb.ID), "dns server", false, "why", "its pod's namespace and name are unknown")
	default:
		c.tr.Fact("sandbox", "id", sandbox.ShortID(sb.ID), "pod", p.Namespace+"/"+p.Name, "dns server", p.DNSServer, "why", why)
	}
	return p.Provenance(), p.DNSServer
}

// withLive fills in what the runtime's files lack from what it lists.
func withLive(sb sandbox.Sandbox, l cri.Sandbox) sandbox.Sandbox {
	if sb.Name == "" {
		sb.Name, sb.Namespace = l.Name, l.Namespace
	}
	if sb.UID == "" {
		sb.UID = l.UID
	}
	if len(sb.Labels) == 0 {
		sb.Labels = l.Labels
	}
	return sb
}
