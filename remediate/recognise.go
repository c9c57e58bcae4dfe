package remediate

import (
	"bytes"
	"fmt"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// kubeletHostsHeader starts every /etc/hosts kubelet writes into a pod
// (kubelet v1.34 pkg/kubelet/kubelet_pods.go: managedHostsHeader, and
// managedHostsHeaderWithHostNetwork's "(host network)" variant): a root whose
// /etc/hosts starts so is a pod's own, never a node's.
var kubeletHostsHeader = []byte("# Kubernetes-managed hosts file")

// serviceAccountDir is where kubelet mounts a pod's service account token
// (automountServiceAccountToken, on by default): no node has it.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// notANode is the not-a-node finding when the root does not look like a
// node (DESIGN.md §2), else nil. A node is a root where a kubelet is found
// (a unit, flags or config file, a known distribution's layout, a running
// kubelet), a Corefile is read (CoreDNS on the host), or an os-release is
// present (/etc/os-release, or systemd's fallback /usr/lib/os-release); and
// that is not a pod's own root (kubelet's /etc/hosts, a service account
// token folder): a pod's image has an os-release of its own. An empty
// folder, a wrong hostPath, or `--root /` inside a pod then says so and
// exits 1, instead of an all-clear about a file no pod reads.
func notANode(root *hostcfg.Root, n *node.Node) *node.Finding {
	if hosts, ok, _ := root.Unrecorded().ReadFileIfExists("/etc/hosts"); ok && bytes.HasPrefix(hosts, kubeletHostsHeader) {
		return notANodeFinding("/etc/hosts", fmt.Sprintf("%s does not look like a node: it is a pod's own root (its /etc/hosts is kubelet's copy for a pod); give the node's root, e.g. --root /host", root.Dir()))
	}
	if root.Exists(serviceAccountDir) {
		return notANodeFinding(serviceAccountDir, fmt.Sprintf("%s does not look like a node: it is a pod's own root (it holds a pod's service account token folder); give the node's root, e.g. --root /host", root.Dir()))
	}
	if n.Kubelet.Present || len(n.Corefiles) > 0 || root.Exists("/etc/os-release") || root.Exists("/usr/lib/os-release") {
		return nil
	}
	return notANodeFinding("", fmt.Sprintf("%s does not look like a node: no kubelet (no unit, flags file, config or known layout), no Corefile and no /etc/os-release", root.Dir()))
}

func notANodeFinding(file, msg string) *node.Finding {
	return &node.Finding{
		Code: finding.CodeNotANode, Severity: finding.CodeNotANode.Severity(), File: file,
		Message: msg, Chain: []string{msg}, Fixes: []string{},
	}
}
