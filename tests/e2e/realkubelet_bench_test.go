package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// BenchmarkRealKubeletApply: the time from `unloop apply --strategy kubelet`
// until the real kubelet runs on the new config (its /configz names
// resolved's uplink file), with apply's fixed 2 s watch (healthzPort: 0,
// kubelet serves no /healthz) and with its healthz watch. The pods are not
// in it: recreating them comes after either watch. Each iteration is one
// apply, then a rollback (not timed). `make bench` runs it.
func BenchmarkRealKubeletApply(b *testing.B) {
	for _, watch := range []struct{ name, extra string }{
		{"fixed2s", "healthzPort: 0\n"},
		{"healthz", ""},
	} {
		b.Run(watch.name, func(b *testing.B) {
			bd := &bed{Net: testbed.NewNet(b, "ulb", "10.97"), t: b}
			bd.Node = testbed.Boot(b, binDir, testbed.KubeletOptions(b, node.Options{NetNS: bd.NodeNS}))
			n := bd.Node
			bd.AddNodeAddr()
			bd.IP("-n", bd.NodeNS, "route", "add", "default", "via", bd.Upstream)
			bd.resolvedDNS("upstream.conf", bd.Upstream)
			if err := n.WriteFile("/var/lib/kubelet/config.yaml", []byte(testbed.KubeletConfigFor(n, watch.extra)), 0o644); err != nil {
				b.Fatal(err)
			}
			n.Run("systemctl", "daemon-reload")
			if err := n.WriteFile("/etc/kubernetes/unloop-cgroup-root", []byte(n.PodCgroupRoot()), 0o644); err != nil {
				b.Fatal(err)
			}
			n.Run("systemctl", "enable", "--now", "kubelet.service")
			if !testbed.Poll(time.Minute, func() bool { return configzResolvConf(n) == "/etc/resolv.conf" }) {
				b.Fatalf("kubelet's /configz: no resolvConf /etc/resolv.conf within a minute")
			}
			var ms []float64
			for b.Loop() {
				start := time.Now()
				if out, code := testbed.Unloop(b, n, "apply", "--strategy", "kubelet"); code != 0 {
					b.Fatalf("apply: exit %d\n%s\n%s", code, out, n.Run("journalctl", "-b", "--no-pager", "-o", "cat", "-n", "25", "-u", "kubelet.service"))
				}
				if !testbed.Poll(time.Minute, func() bool { return configzResolvConf(n) == "/run/systemd/resolve/resolv.conf" }) {
					b.Fatal("kubelet not on the new config within a minute of apply")
				}
				ms = append(ms, float64(time.Since(start).Microseconds())/1000)
				b.StopTimer()
				if out, code := testbed.Unloop(b, n, "rollback"); code != 0 {
					b.Fatalf("rollback: exit %d: %s", code, out)
				}
				if !testbed.Poll(time.Minute, func() bool { return configzResolvConf(n) == "/etc/resolv.conf" }) {
					b.Fatal("kubelet not back on the old config within a minute of the rollback")
				}
				b.StartTimer()
			}
			slices.Sort(ms)
			b.ReportMetric(ms[len(ms)/2], "ms-median")
			b.ReportMetric(ms[len(ms)*9/10], "ms-p90")
		})
	}
}

// configzResolvConf is the resolvConf kubelet's /configz shows, or "" while
// it does not answer.
func configzResolvConf(n *node.Node) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", n.Leader()),
		"curl", "-sSk", "--max-time", "2", "https://127.0.0.1:10250/configz").Output()
	if err != nil {
		return ""
	}
	var cz struct {
		KubeletConfig struct {
			ResolvConf string `json:"resolvConf"`
		} `json:"kubeletconfig"`
	}
	if json.Unmarshal(out, &cz) != nil {
		return ""
	}
	return cz.KubeletConfig.ResolvConf
}

// BenchmarkRealKubeletCheck: online `unloop check` on a clean node that runs
// the real kubelet, with no pod and with 100 (static pods of pause,
// hostNetwork, no labels: listed through CRI, none of them a DNS server).
// Each iteration is one check, run in the node (the time includes nsenter's,
// the same for both). `make bench` runs it.
func BenchmarkRealKubeletCheck(b *testing.B) {
	bd := &bed{Net: testbed.NewNet(b, "ulb", "10.97"), t: b}
	bd.Node = testbed.Boot(b, binDir, testbed.KubeletOptions(b, node.Options{NetNS: bd.NodeNS}))
	n := bd.Node
	bd.AddNodeAddr()
	bd.IP("-n", bd.NodeNS, "route", "add", "default", "via", bd.Upstream)
	bd.resolvedDNS("upstream.conf", bd.Upstream)
	testbed.StartKubelet(b, n, testbed.KubeletConfigFor(n, "resolvConf: /run/systemd/resolve/resolv.conf\n"))
	check := func(b *testing.B) {
		var ms []float64
		for b.Loop() {
			start := time.Now()
			if out, code := testbed.Unloop(b, n, "check", "--output", "json"); code != 0 {
				b.Fatalf("check: exit %d on a clean node\n%s", code, out)
			}
			ms = append(ms, float64(time.Since(start).Microseconds())/1000)
		}
		slices.Sort(ms)
		b.ReportMetric(ms[len(ms)/2], "ms-median")
		b.ReportMetric(ms[len(ms)*9/10], "ms-p90")
	}
	b.Run("pods=0", check)
	const pods = 100
	for i := range pods {
		if err := n.WriteFile(fmt.Sprintf("%s/pause-%03d.yaml", testbed.ManifestDir, i), []byte(fmt.Sprintf(pauseManifest, i)), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	testbed.WaitFor(b, 10*time.Minute, fmt.Sprintf("%d pause pods ready", pods), func() bool {
		ready := 0
		for _, sb := range testbed.Sandboxes(b, n, "pause-") {
			if sb.State == "SANDBOX_READY" {
				ready++
			}
		}
		return ready == pods
	})
	b.Logf("%d pause pods ready in %v", pods, time.Since(start).Round(time.Second))
	b.Run(fmt.Sprintf("pods=%d", pods), check)
}

// pauseManifest is a static pod of pause alone (%03d: its number).
const pauseManifest = `apiVersion: v1
kind: Pod
metadata:
  name: pause-%03d
  namespace: default
spec:
  hostNetwork: true
  containers:
  - name: pause
    image: unloop.test/pause:1
    imagePullPolicy: Never
`
