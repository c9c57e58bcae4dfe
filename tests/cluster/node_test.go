package cluster_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/cluster"
	"github.com/unloop/unloop/tests/testbed"
)

// TestClusterInNode: a whole cluster in one booted node, the real kubelet
// registered with it (no longer standalone), the controller manager, the
// scheduler and kube-proxy running: the node is Ready. Then CoreDNS as
// kubeadm deploys it, its Corefile's forward line made `forward . 0.0.0.0`,
// crash-loops through the API; unloop finds and fixes the ConfigMap from
// the node; the pods answer through the kube-dns Service. The cases share
// the node.
func TestClusterInNode(t *testing.T) {
	c := cluster.StartNode(t, binDir)
	if out := c.Kubectl("get", "nodes", "--no-headers"); !strings.HasPrefix(out, c.Name+" ") || strings.Fields(out)[1] != "Ready" {
		t.Fatalf("kubectl get nodes:\n%s\nwant %s Ready", out, c.Name)
	}
	manifest, err := os.ReadFile("testdata/kubeadm-coredns.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The training script's sed over kubeadm's ConfigMap:
	// s|forward . /etc/resolv.conf|forward . 0.0.0.0|.
	looping := strings.Replace(string(manifest), "forward . /etc/resolv.conf", "forward . 0.0.0.0", 1)
	c.Apply(looping)
	corefile := func() string {
		return c.Kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}")
	}
	before := corefile()

	t.Run("crash-loops", func(t *testing.T) {
		testbed.WaitFor(t, 3*time.Minute, "CoreDNS's pods in CrashLoopBackOff", func() bool {
			return strings.Contains(c.Kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "--no-headers"), "CrashLoopBackOff")
		})
		pod := c.Kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "jsonpath={.items[0].metadata.name}")
		// The last run's log, as a user reads it (kubelet may be between
		// two runs: the log of one that just ended is a moment away).
		var log string
		if !testbed.Poll(30*time.Second, func() bool {
			log, _ = c.KubectlErr("-n", "kube-system", "logs", "--previous", pod)
			return strings.Contains(log, "[FATAL] plugin/loop: Loop")
		}) {
			t.Fatalf("pod %s's log has no loop FATAL:\n%s\n%s", pod, log, c.Diagnose())
		}
	})

	t.Run("check", func(t *testing.T) {
		out, code := testbed.Unloop(t, c.Node, "check", "--kubeconfig", cluster.AdminConf)
		if want := "configmap/kube-system/coredns/Corefile:13  forward . 0.0.0.0"; code != 2 || !strings.Contains(out, want) {
			t.Fatalf("check exited %d, want 2 and %q:\n%s", code, want, out)
		}
	})

	t.Run("apply", func(t *testing.T) {
		out, code := testbed.Unloop(t, c.Node, "apply", "--kubeconfig", cluster.AdminConf, "--strategy", "corefile")
		fixed := strings.Replace(before, "forward . 0.0.0.0 {", "forward . "+c.Upstream+" {", 1)
		if now := corefile(); now != fixed {
			t.Fatalf("apply exited %d; the Corefile is\n%s\nwant\n%s\n%s", code, now, fixed, out)
		}
		// apply returns once CoreDNS serves the new Corefile (exit 0, in
		// effect): every pod answers then, from the upstream.
		if code != 0 {
			t.Fatalf("apply exited %d, want 0 (CoreDNS serving the fix):\n%s\n%s", code, out, c.Diagnose())
		}
		for _, ip := range strings.Fields(c.Kubectl("-n", "kube-system", "get", "pods", "-l", "k8s-app=kube-dns", "-o", "jsonpath={.items[*].status.podIP}")) {
			if a, err := testbed.Dig(c.Node, ip); a != "192.0.2.10" {
				t.Errorf("pod %s answers %q (%v) after apply, want 192.0.2.10", ip, a, err)
			}
		}
		// Through the kube-dns Service (kube-proxy's rules), once its
		// endpoints list the Ready pods.
		testbed.WaitFor(t, time.Minute, "CoreDNS answering on 10.96.0.10", func() bool {
			a, _ := testbed.Dig(c.Node, "10.96.0.10")
			return a == "192.0.2.10"
		})
		// The kubernetes plugin reached the API server through the
		// kubernetes Service (10.96.0.1, kube-proxy's rules) from the pod
		// network.
		ans, err := exec.Command("nsenter", "--net=/run/netns/"+c.NodeNS, "dig", "+short", "+time=2", "+tries=2", "@10.96.0.10", "kubernetes.default.svc.cluster.local", "A").CombinedOutput()
		if got := strings.TrimSpace(string(ans)); err != nil || got != "10.96.0.1" {
			t.Fatalf("kubernetes.default.svc.cluster.local: %q, %v; want 10.96.0.1", got, err)
		}
		rv := c.Kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.metadata.resourceVersion}")
		out, code = testbed.Unloop(t, c.Node, "apply", "--kubeconfig", cluster.AdminConf, "--strategy", "corefile", "-o", "json")
		if again := c.Kubectl("-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.metadata.resourceVersion}"); code != 0 || !strings.Contains(out, `"changed": false`) || again != rv {
			t.Fatalf("a second apply exited %d, resourceVersion %s → %s:\n%s", code, rv, again, out)
		}
	})

	t.Run("rollback", func(t *testing.T) {
		out, code := testbed.Unloop(t, c.Node, "rollback", "--kubeconfig", cluster.AdminConf)
		if now := corefile(); code != 0 || now != before {
			t.Fatalf("rollback exited %d; the Corefile is\n%s\nwant\n%s\n%s", code, now, before, out)
		}
	})
}
