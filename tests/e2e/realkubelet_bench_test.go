package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// BenchmarkRealKubeletApply: how long `unloop apply --strategy kubelet` runs
// (ms-apply: the edit, kubelet's restart, the watch, then the CoreDNS pod
// that crash-looped on resolved's stub recreated through CRI) and how long
// until that pod answers from its new sandbox (ms-pod: what a user waits
// for), with apply's fixed 2 s watch (healthzPort: 0) and with its healthz
// watch. The node is scenario 2's: the real kubelet, CoreDNS on the pod
// network with dnsPolicy: Default. Each iteration is one apply; then (not
// timed) a rollback, and the pod's sandbox removed so the next one gets the
// stub and dies of the loop again. The stub row is the same pod fixed with
// no kubelet restart (issue 27's "fix without a kubelet restart"): `apply
// --strategy stub` turns resolved's stub listener off and relinks
// /etc/resolv.conf, which kubelet already hands to pods; its kubelet logs at
// --v=4, so PLEG's event and the sandbox request show in the breakdown.
// UNLOOP_BENCH_LOGS=DIR saves each run's apply -v trace and the node's
// journal there. `make bench` runs it.
func BenchmarkRealKubeletApply(b *testing.B) {
	for _, watch := range []struct{ name, extra, strategy, unit string }{
		{"fixed2s", "healthzPort: 0\n", "kubelet", "kubelet.service"},
		{"healthz", "", "kubelet", "kubelet.service"},
		{"stub", "logging:\n  verbosity: 4\n", "stub", "systemd-resolved.service"},
	} {
		b.Run(watch.name, func(b *testing.B) {
			bd := newPodNetBed(b, "bookworm", "ulb", "10.97")
			n := bd.Node
			must(b, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(testbed.KubeletConfigFor(n, watch.extra)), 0o644))
			must(b, n.WriteFile("/etc/kubernetes/unloop-cgroup-root", []byte(n.PodCgroupRoot()), 0o644))
			n.Run("systemctl", "enable", "--now", "kubelet.service")
			addPod(b, n, corednsPod, podCorefile)
			if ok, log := diesOfLoop(b, n, corednsPod.Name, nil); !ok {
				b.Fatalf("CoreDNS did not die of the loop on the stub:\n%s", log)
			}
			var took, pod []float64
			steps := make([][]float64, len(applySteps))
			for b.Loop() {
				old := testbed.Sandboxes(b, n, corednsPod.Name)[0].ID
				start := time.Now()
				args := []string{"/opt/unloop/unloop", "apply", "--strategy", watch.strategy}
				if os.Getenv("UNLOOP_BENCH_LOGS") != "" {
					args = []string{"sh", "-c", strings.Join(args, " ") + " -v 2>/run/apply-trace.log"}
				}
				if out, code := testbed.Exec(b, n, args...); code != 0 {
					b.Fatalf("apply: exit %d\n%s\n%s", code, out, n.Run("journalctl", "-b", "--no-pager", "-o", "cat", "-n", "25", "-u", "kubelet.service"))
				}
				took = append(took, msSince(start))
				if rc := configzResolvConf(n); watch.strategy == "kubelet" && rc != "/run/systemd/resolve/resolv.conf" {
					b.Fatalf("kubelet runs with resolvConf %q after apply", rc)
				}
				sb := newSandbox(b, n, corednsPod.Name, old)
				if !testbed.Poll(time.Minute, func() bool { ans, _ := testbed.Dig(n, sb.IP); return ans == "192.0.2.10" }) {
					b.Fatalf("the recreated pod does not answer within a minute: %+v", testbed.Containers(b, n, sb.ID))
				}
				pod = append(pod, msSince(start))
				b.StopTimer()
				created, started := testbed.SandboxTimes(b, n, sb.ID)
				for i, at := range []time.Time{testbed.UnitStarted(b, n, watch.unit), sandboxRemoved(b, n, old), kubeletLine(b, n, `"Type":"ContainerDied","Data":"`+old), kubeletLine(b, n, `"Creating PodSandbox for pod"`), created, started} {
					if !at.IsZero() {
						steps[i] = append(steps[i], float64(at.Sub(start).Microseconds())/1000)
					}
				}
				steps[6] = append(steps[6], took[len(took)-1])
				steps[7] = append(steps[7], pod[len(pod)-1])
				if watch.strategy == "stub" {
					plegSaw(b, n, sb.ID)
				}
				if out, code := testbed.Unloop(b, n, "rollback"); code != 0 {
					b.Fatalf("rollback: exit %d: %s", code, out)
				}
				if !testbed.Poll(time.Minute, func() bool {
					if watch.strategy != "kubelet" {
						f, _ := n.ReadFile("/etc/resolv.conf")
						return strings.Contains(string(f), "nameserver 127.0.0.53")
					}
					return configzResolvConf(n) == "/etc/resolv.conf"
				}) {
					b.Fatal("not back on the old config within a minute of the rollback")
				}
				if dbg := os.Getenv("UNLOOP_BENCH_LOGS"); dbg != "" {
					out, _ := testbed.Exec(b, n, "journalctl", "-b", "--no-pager", "-o", "short-unix", "-u", "kubelet.service", "-u", "containerd.service", "-u", "systemd-resolved.service")
					tr, _ := n.ReadFile("/run/apply-trace.log")
					_ = os.WriteFile(fmt.Sprintf("%s/%s-%d.log", dbg, watch.name, len(took)), []byte(fmt.Sprintf("apply started %d\n%s\n%s", start.UnixMicro(), tr, out)), 0o644)
				}
				if ok, log := nextDiesOfLoop(b, n, corednsPod.Name, sb.ID); !ok {
					b.Fatalf("after the rollback the next sandbox does not die of the loop:\n%s", log)
				}
				b.StartTimer()
			}
			b.Logf("apply (%s watch) returns, ms: %v; apply → the recreated pod answers, ms: %v", watch.name, took, pod)
			reportMedian(b, took, "ms-apply")
			reportMedian(b, pod, "ms-pod")
			b.Log(breakdown(watch.name, steps))
		})
	}
}

// applySteps are the steps of apply → the recreated pod answering, each
// timed from apply's start: the restarted unit's new process (kubelet's, or
// resolved's for the stub row: systemd's ExecMainStartTimestamp), the old
// sandbox removed by apply (containerd's log), the pod's new sandbox and its
// container's start (the runtime's timestamps: kubelet noticed the old one
// gone, made the new one), apply's return, the pod's first answer (dig from
// the host, every 100 ms).
var applySteps = []string{"unit restarted", "old sandbox removed", "PLEG saw it gone", "RunPodSandbox", "new sandbox made", "container started", "apply returned", "first answer"}

// sandboxRemoved is when containerd removed the sandbox id, from its own
// log line (containerd 1.6: `msg="RemovePodSandbox \"ID\" returns
// successfully"`, the quotes escaped in logrus's msg); the zero time when
// the journal has none. The line is picked here, not with journalctl
// --grep, whose pattern the first round never saw match.
func sandboxRemoved(b *testing.B, n *node.Node, id string) time.Time {
	return journalLine(b, n, "containerd.service", func(l string) bool {
		return strings.Contains(l, "RemovePodSandbox") && strings.Contains(l, id) && strings.Contains(l, "returns successfully")
	})
}

// kubeletLine is when kubelet last logged a line holding sub (the stub
// row's kubelet logs at --v=4: PLEG's events, "Creating PodSandbox for
// pod"); the zero time when it logged none.
func kubeletLine(b *testing.B, n *node.Node, sub string) time.Time {
	return journalLine(b, n, "kubelet.service", func(l string) bool { return strings.Contains(l, sub) })
}

// journalLine is the time of the unit's last line in this boot's journal
// for which match holds; the zero time when there is none.
func journalLine(b *testing.B, n *node.Node, unit string, match func(string) bool) time.Time {
	b.Helper()
	out, _ := testbed.Exec(b, n, "journalctl", "-b", "-u", unit, "--no-pager", "-o", "short-unix")
	var at time.Time
	for l := range strings.Lines(out) {
		if f := strings.Fields(l); len(f) > 0 && match(l) {
			if sec, err := strconv.ParseFloat(f[0], 64); err == nil {
				at = time.Unix(0, int64(sec*1e9))
			}
		}
	}
	return at
}

// plegSaw waits until kubelet's PLEG has seen the sandbox id start. A
// sandbox removed before PLEG's next relist (every 1 s) was never seen, so
// its removal is no event either, and kubelet, which still thinks its
// sandbox exists, makes no new one until its periodic resync (syncFrequency
// 1 min; 75 s seen): the stub row's rollback takes under a second, and the
// first round's "no new sandbox within 2 minutes" was this.
func plegSaw(b *testing.B, n *node.Node, id string) {
	b.Helper()
	if !testbed.Poll(time.Minute, func() bool { return !kubeletLine(b, n, `"Type":"ContainerStarted","Data":"`+id).IsZero() }) {
		b.Fatalf("kubelet's PLEG did not see sandbox %s start within a minute", id)
	}
}

// breakdown prints, for each step, its median, smallest and largest time
// after apply's start over the runs.
func breakdown(name string, steps [][]float64) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "apply → pod answering (%s watch), ms after apply started: median [min..max] over %d runs", name, len(steps[0]))
	for i, ms := range steps {
		if len(ms) == 0 {
			fmt.Fprintf(&sb, "\n  %-19s not seen", applySteps[i])
			continue
		}
		ms = slices.Sorted(slices.Values(ms))
		fmt.Fprintf(&sb, "\n  %-19s %7.0f [%.0f..%.0f]", applySteps[i], ms[len(ms)/2], ms[0], ms[len(ms)-1])
	}
	return sb.String()
}

// msSince is the time since start in milliseconds.
func msSince(start time.Time) float64 { return float64(time.Since(start).Microseconds()) / 1000 }

// reportMedian reports the median and the 90th percentile of ms as
// name-median and name-p90.
func reportMedian(b *testing.B, ms []float64, name string) {
	ms = slices.Sorted(slices.Values(ms))
	b.ReportMetric(ms[len(ms)/2], name+"-median")
	b.ReportMetric(ms[len(ms)*9/10], name+"-p90")
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
	bd := newPodNetBed(b, "bookworm", "ulb", "10.97")
	n := bd.Node
	testbed.StartKubelet(b, n, testbed.KubeletConfigFor(n, "resolvConf: /run/systemd/resolve/resolv.conf\n"))
	check := func(b *testing.B) {
		var ms []float64
		for b.Loop() {
			start := time.Now()
			if out, code := testbed.Unloop(b, n, "check", "--output", "json"); code != 0 {
				b.Fatalf("check: exit %d on a clean node\n%s", code, out)
			}
			ms = append(ms, msSince(start))
		}
		reportMedian(b, ms, "ms")
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
