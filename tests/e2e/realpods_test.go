package e2e

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// The scenarios' side of the real kubelet: a node that runs it (containerd,
// static pods), the two DNS-server pods the scenarios loop, and the waits
// for what a user sees of a pod (its container dead of the loop, a new
// sandbox, the sandboxes left alone).

// newPodBed is a bed whose node runs containerd and can run the real kubelet
// (started by the test): a static address, the default route through the
// network's side, and the pod network (the node's cni0) routed back through
// the node, so pods reach the upstream without masquerade.
func newPodBed(t *testing.T, release string) *bed {
	t.Helper()
	b := &bed{Net: testbed.NewNet(t, "ulk", "10.98"), t: t}
	b.Node = testbed.Boot(t, binDir, testbed.KubeletOptions(t, node.Options{Release: release, NetNS: b.NodeNS, Overlay: t.TempDir()}))
	b.AddNodeAddr()
	b.IP("-n", b.NodeNS, "route", "add", "default", "via", b.Upstream)
	b.IP("-n", b.NetNS, "route", "add", "10.244.0.0/24", "via", b.NodeAddr)
	if out, err := exec.Command("nsenter", "--net=/run/netns/"+b.NodeNS, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward in the node's namespace: %v: %s", err, out)
	}
	return b
}

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

// sandboxCopy is the pod file kubelet copied into sandbox id.
func sandboxCopy(t *testing.T, n *node.Node, id string) string {
	t.Helper()
	return string(must1(n.ReadFile("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + id + "/resolv.conf")))
}

// exitsWithLoop waits until a run of the pod's container, in a sandbox
// other than old ("": any), has exited with CoreDNS's FATAL loop line ending
// in want in its log, and returns the sandbox and the run. The first such
// exit is enough: the loop is what kills it, the back-off is kubelet's.
func exitsWithLoop(t *testing.T, n *node.Node, pod, old, want string) (testbed.Sandbox, testbed.Container) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pods:\n%s\ncontainers:\n%s\nkubelet:\n%s", n.Run(testbed.Crictl, "pods"), n.Run(testbed.Crictl, "ps", "-a"),
				n.Run("sh", "-c", "journalctl -b -u kubelet.service -u containerd.service --no-pager -o cat | tail -n 60"))
		}
	})
	var sb testbed.Sandbox
	var run testbed.Container
	// Under load a first start is slow (the sandbox, the image's snapshot).
	testbed.WaitFor(t, 5*time.Minute, pod+" exited with the loop", func() bool {
		sbs := testbed.Sandboxes(t, n, pod)
		if len(sbs) == 0 || sbs[0].ID == old {
			return false
		}
		for _, c := range testbed.Containers(t, n, sbs[0].ID) {
			if c.State != "CONTAINER_EXITED" {
				continue
			}
			// A dead container's last lines may reach its log a moment later.
			if log, code := testbed.Exec(t, n, testbed.Crictl, "logs", c.ID); code == 0 && strings.Contains(log, loopLine) && strings.Contains(log, want) {
				sb, run = sbs[0], c
				return true
			}
		}
		return false
	})
	return sb, run
}

// readySandbox waits for the pod's ready sandbox other than old (after a
// reboot, or apply's recreation), with an address on the pod network unless
// hostNetwork, and returns it.
func readySandbox(t *testing.T, n *node.Node, pod, old string, hostNetwork bool) testbed.Sandbox {
	t.Helper()
	var sb testbed.Sandbox
	testbed.WaitFor(t, 2*time.Minute, pod+"'s new sandbox ready", func() bool {
		sbs := testbed.Sandboxes(t, n, pod)
		if len(sbs) == 0 || sbs[0].State != "SANDBOX_READY" || sbs[0].ID == old || (!hostNetwork && sbs[0].IP == "") {
			return false
		}
		sb = sbs[0]
		return true
	})
	return sb
}

// removeSandbox stops and removes a pod's sandbox with crictl, as an
// evicted or deleted pod loses it: kubelet makes the static pod a new one,
// with the pod file as it is now.
func removeSandbox(t *testing.T, n *node.Node, id string) {
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

// recreated is the pods apply's JSON says it recreated (pods_recreated)
// and those still holding the old file (pods_stale).
func recreated(t *testing.T, out string) (done, stale []string) {
	t.Helper()
	var r struct {
		Recreated []string `json:"pods_recreated"`
		Stale     []string `json:"pods_stale"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decoding apply's JSON: %v\n%s", err, out)
	}
	return r.Recreated, r.Stale
}

// kubeletUnits are the units of a kubelet node that unloop could restart or
// that the pods need.
var kubeletUnits = []string{"kubelet.service", "containerd.service", "systemd-resolved.service"}
