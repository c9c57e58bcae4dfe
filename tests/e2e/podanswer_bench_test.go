package e2e

import (
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// BenchmarkRealKubeletApplyToPod: the time a user waits, from the start of
// `unloop apply --strategy kubelet` until the CoreDNS pod that crash-looped
// on resolved's stub answers from its new sandbox, with apply's fixed 2 s
// watch (healthzPort: 0) and with its healthz watch. The node is scenario
// 2's: the real kubelet, CoreDNS on the pod network with dnsPolicy: Default.
// Each iteration is one apply; then (not timed) a rollback, and the pod's
// sandbox removed so the next one gets the stub and dies of the loop again.
// `make bench` runs it.
func BenchmarkRealKubeletApplyToPod(b *testing.B) {
	for _, watch := range []struct{ name, extra string }{
		{"fixed2s", "healthzPort: 0\n"},
		{"healthz", ""},
	} {
		b.Run(watch.name, func(b *testing.B) {
			bd := newPodNetBed(b, "bookworm", "ulb", "10.97")
			n := bd.Node
			must(b, n.WriteFile("/etc/pod-coredns/Corefile", []byte(podCorefile), 0o644))
			must(b, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(testbed.KubeletConfigFor(n, watch.extra)), 0o644))
			must(b, n.WriteFile("/etc/kubernetes/unloop-cgroup-root", []byte(n.PodCgroupRoot()), 0o644))
			n.Run("systemctl", "daemon-reload")
			n.Run("systemctl", "enable", "--now", "kubelet.service")
			testbed.AddPod(b, n, testbed.Pod{Name: "coredns", Labels: map[string]string{"k8s-app": "kube-dns"}, ConfigDir: "/etc/pod-coredns"})
			old := ""
			if ok, log := diesOfLoop(b, n, "coredns", old); !ok {
				b.Fatalf("CoreDNS did not die of the loop on the stub:\n%s", log)
			}
			var ms []float64
			for b.Loop() {
				old = testbed.Sandboxes(b, n, "coredns")[0].ID
				start := time.Now()
				if out, code := testbed.Unloop(b, n, "apply", "--strategy", "kubelet"); code != 0 {
					b.Fatalf("apply: exit %d\n%s", code, out)
				}
				sb := newSandbox(b, n, "coredns", old)
				if !testbed.Poll(time.Minute, func() bool { ans, _ := testbed.Dig(n, sb.IP); return ans == "192.0.2.10" }) {
					b.Fatalf("the recreated pod does not answer within a minute: %+v", testbed.Containers(b, n, sb.ID))
				}
				ms = append(ms, float64(time.Since(start).Microseconds())/1000)
				b.StopTimer()
				if out, code := testbed.Unloop(b, n, "rollback"); code != 0 {
					b.Fatalf("rollback: exit %d: %s", code, out)
				}
				if !testbed.Poll(time.Minute, func() bool { return configzResolvConf(n) == "/etc/resolv.conf" }) {
					b.Fatal("kubelet not back on the old config within a minute of the rollback")
				}
				n.Run(testbed.Crictl, "stopp", sb.ID)
				n.Run(testbed.Crictl, "rmp", sb.ID)
				if ok, log := diesOfLoop(b, n, "coredns", sb.ID); !ok {
					b.Fatalf("after the rollback the next sandbox does not die of the loop:\n%s", log)
				}
				b.StartTimer()
			}
			slices.Sort(ms)
			b.Logf("apply → the recreated pod answers (%s watch), ms: %v", watch.name, ms)
			b.ReportMetric(ms[len(ms)/2], "ms-median")
			b.ReportMetric(ms[len(ms)*9/10], "ms-p90")
		})
	}
}

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
