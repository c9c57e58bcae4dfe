package e2e

import (
	"os/exec"
	"slices"
	"testing"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// The scenarios' side of the real kubelet (the node: newPodNetBed; the
// waits: crashLoops, diesOfLoop, newSandbox, podAnswers): CoreDNS as the
// cluster's static pod, node-local-dns on the node's lo, and what a user
// sees of the pods (a sandbox removed, the sandboxes left alone).

// kubeletNodeDirs are unloopDirs on a node with the real kubelet: kubelet
// and containerd keep their own state under /var/lib, only kubelet's config
// there is unloop's.
var kubeletNodeDirs = []string{"/etc", "/var/lib/kubelet/config.yaml", "/run/systemd/resolve"}

// corednsPod is the cluster's CoreDNS as a static pod on the pod network
// (dnsPolicy: Default, no bind), its Corefile podCorefile from the node's
// /etc/pod-coredns, where a ConfigMap would be mounted.
var corednsPod = testbed.Pod{Name: "coredns", Labels: map[string]string{"k8s-app": "kube-dns"}, ConfigDir: "/etc/pod-coredns"}

// addPod writes pod's Corefile into its config folder and its manifest into
// kubelet's static pods: kubelet starts it.
func addPod(t testing.TB, n *node.Node, pod testbed.Pod, corefile string) {
	t.Helper()
	must(t, n.WriteFile(pod.ConfigDir+"/Corefile", []byte(corefile), 0o644))
	testbed.AddPod(t, n, pod)
}

// addNodeLocalDNS puts node-local-dns's address on the node's lo and starts
// it as a hostNetwork static pod bound to it.
func (b *bed) addNodeLocalDNS() {
	b.t.Helper()
	b.IP("-n", b.NodeNS, "addr", "add", "169.254.25.10/32", "dev", "lo")
	addPod(b.t, b.Node, nodeLocalDNSPod, nodeLocalCorefile)
}

// removeSandbox stops and removes a pod's sandbox with crictl, as an
// evicted or deleted pod loses it: kubelet makes the static pod a new one,
// with the pod file as it is now.
func removeSandbox(t testing.TB, n *node.Node, id string) {
	t.Helper()
	for _, verb := range []string{"stopp", "rmp"} {
		if out, code := testbed.Exec(t, n, testbed.Crictl, verb, id); code != 0 {
			t.Fatalf("crictl %s %s: exit %d: %s", verb, id, code, out)
		}
	}
}

// sandboxIDs are the IDs of every sandbox on the node, sorted: the same
// after a command when it removed and made none.
func sandboxIDs(t *testing.T, n *node.Node) []string {
	t.Helper()
	var ids []string
	for _, sb := range testbed.Sandboxes(t, n, "") {
		ids = append(ids, sb.ID)
	}
	slices.Sort(ids)
	return ids
}

// kubeletUnits are the units of a kubelet node that unloop could restart or
// that the pods need.
var kubeletUnits = []string{"kubelet.service", "containerd.service", "systemd-resolved.service"}

// newPodNetBed is a bed whose node runs containers and the real kubelet
// (not started), routes for the pod network (10.244.0.0/24, no masquerade:
// the answers come back through the node) and has resolved ask the upstream.
func newPodNetBed(t testing.TB, release, prefix, net string) *bed {
	t.Helper()
	b := &bed{Net: testbed.NewNet(t, prefix, net), t: t}
	b.Node = testbed.Boot(t, binDir, testbed.KubeletOptions(t, node.Options{Release: release, NetNS: b.NodeNS, Overlay: t.TempDir()}))
	b.AddNodeAddr()
	b.IP("-n", b.NodeNS, "route", "add", "default", "via", b.Upstream)
	b.IP("-n", b.NetNS, "route", "add", "10.244.0.0/24", "via", b.NodeAddr)
	if out, err := exec.Command("nsenter", "--net=/run/netns/"+b.NodeNS, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward in the node's namespace: %v: %s", err, out)
	}
	b.resolvedDNS("upstream.conf", b.Upstream)
	return b
}
