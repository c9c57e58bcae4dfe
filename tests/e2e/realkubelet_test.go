package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// The real kubelet (v1.34.4 on containerd) and its pods: the helpers the
// scenarios on it share (TestFieldReport, the scenarios of scenarios_test.go),
// and every kubelet edit unloop makes, run under it.

// newKubeletBed is newBed with a node that runs containers and the real
// kubelet (not started yet), with 169.254.25.10 on its lo.
func newKubeletBed(t *testing.T, release, dhcpDNS string) *bed {
	t.Helper()
	b := &bed{Net: testbed.NewNet(t, "ulk", "10.98"), t: t}
	b.DHCP("option:dns-server,"+strings.ReplaceAll(dhcpDNS, "UPSTREAM", b.Upstream), "option:domain-name,example.internal")
	b.IP("-n", b.NodeNS, "addr", "add", "169.254.25.10/32", "dev", "lo")
	b.Node = testbed.Boot(t, binDir, testbed.KubeletOptions(t, node.Options{Release: release, Ready: []string{"dbus.service"},
		NetNS: b.NodeNS, Overlay: t.TempDir()}))
	return b
}

// nodeLocalDNSPod is node-local-dns as a static pod: CoreDNS on
// 169.254.25.10, its Corefile from the node's /etc/node-local-dns.
var nodeLocalDNSPod = testbed.Pod{Name: "node-local-dns", HostNetwork: true,
	Labels: map[string]string{"k8s-app": "node-local-dns"}, ConfigDir: "/etc/node-local-dns"}

// crashLoops waits until the pod's container has exited of the loop
// (plugin/loop's FATAL line in its log) with a restart count of 2 or more,
// and returns the sandbox and that run.
func crashLoops(t *testing.T, n *node.Node, pod string) (testbed.Sandbox, testbed.Container) {
	t.Helper()
	// Under load a first start can be slow (the sandbox, the image's
	// snapshot): the wait is generous, and a timeout shows what kubelet did.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pods:\n%s\ncontainers:\n%s\nkubelet:\n%s", n.Run(testbed.Crictl, "pods"), n.Run(testbed.Crictl, "ps", "-a"),
				n.Run("sh", "-c", "journalctl -b -u kubelet.service -u containerd.service --no-pager -o cat | tail -n 60"))
		}
	})
	sb, run, _, ok := loopExit(t, n, pod, nil, 2, 5*time.Minute)
	if !ok {
		t.Fatalf("%s not crash-looping (a run with restart count 2 dead of the loop) within 5 minutes", pod)
	}
	return sb, run
}

// loopWindow bounds a run of CoreDNS that has not died of a loop it has:
// plugin/loop probes for 30 s after a start and then disables itself
// (plugin/loop/setup.go, CoreDNS v1.15.0). A run up longer missed it.
const loopWindow = 40 * time.Second

// loopExit waits until the newest sandbox of pod, none of before, has a run
// with restart count attempt or more that exited with plugin/loop's FATAL
// line, and returns the sandbox, the run and its log; ok is false at the
// timeout. A run that outlives loopWindow is logged (its log, the sandbox's
// copy of the pod file) and stopped, so that kubelet starts another: the
// loop plugin's probe can miss, which is how a looping node "works after one
// reboot and fails after the next"; more than 3 misses fail the test.
func loopExit(t testing.TB, n *node.Node, pod string, before []string, attempt int, timeout time.Duration) (sb testbed.Sandbox, run testbed.Container, log string, ok bool) {
	t.Helper()
	misses := 0
	ok = testbed.Poll(timeout, func() bool {
		sbs := testbed.Sandboxes(t, n, pod)
		if len(sbs) == 0 || slices.Contains(before, sbs[0].ID) {
			return false
		}
		sb = sbs[0]
		cs := testbed.Containers(t, n, sb.ID)
		if len(cs) == 0 {
			return false
		}
		run = cs[0]
		switch {
		case run.State == "CONTAINER_RUNNING" && time.Since(run.Created) > loopWindow:
			misses++
			cp, _ := n.ReadFile(sandboxCopy(sb.ID))
			t.Logf("%s's run %d has been up %v: plugin/loop missed the loop (miss %d); its copy of the pod file:\n%s\nits log:\n%s",
				pod, run.Attempt, time.Since(run.Created).Round(time.Second), misses, cp, n.Run(testbed.Crictl, "logs", run.ID))
			if misses > 3 {
				t.Fatalf("plugin/loop missed the loop at %d starts of %s", misses, pod)
			}
			n.Run(testbed.Crictl, "stop", run.ID)
			return false
		case run.State != "CONTAINER_EXITED":
			return false
		}
		log = n.Run(testbed.Crictl, "logs", run.ID)
		return run.Attempt >= attempt && strings.Contains(log, loopLine)
	})
	return sb, run, log, ok
}

// newSandbox waits for the pod's ready sandbox other than old (kubelet's
// new one, after apply removed old through CRI) and returns it.
func newSandbox(t testing.TB, n *node.Node, pod, old string) testbed.Sandbox {
	t.Helper()
	var sb testbed.Sandbox
	testbed.WaitFor(t, 2*time.Minute, pod+"'s new sandbox ready", func() bool {
		sbs := testbed.Sandboxes(t, n, pod)
		if len(sbs) == 0 || sbs[0].State != "SANDBOX_READY" || sbs[0].ID == old {
			return false
		}
		sb = sbs[0]
		return true
	})
	return sb
}

// podAnswers waits until server answers example.test through the upstream,
// and checks the pod's container still runs 3 s later (plugin/loop would have
// ended it). It returns when the first answer came.
func podAnswers(t *testing.T, n *node.Node, sb testbed.Sandbox, server string) time.Time {
	t.Helper()
	var ans string
	if !testbed.Poll(time.Minute, func() bool { ans, _ = testbed.Dig(n, server); return ans == "192.0.2.10" }) {
		t.Fatalf("%s (%s) answers %q for example.test, want 192.0.2.10; containers %+v", sb.Name, server, ans, testbed.Containers(t, n, sb.ID))
	}
	answered := time.Now()
	time.Sleep(3 * time.Second)
	if cs := testbed.Containers(t, n, sb.ID); len(cs) == 0 || cs[0].State != "CONTAINER_RUNNING" {
		t.Fatalf("%s stopped after answering: %+v", sb.Name, cs)
	}
	return answered
}

// fieldReportKubelet is the field report's node with the real kubelet:
// dhclient writes 169.254.25.10 first into /etc/resolv.conf, and
// node-local-dns (a static pod) crash-loops on it. It returns the pod's
// sandbox and its newest (exited) run.
func fieldReportKubelet(t *testing.T, release string) (*bed, testbed.Sandbox, testbed.Container) {
	t.Helper()
	b := newKubeletBed(t, release, "169.254.25.10,UPSTREAM")
	n := b.Node
	n.Run("systemctl", "disable", "--now", "systemd-resolved.service")
	must(t, os.Remove(filepath.Join(must1(n.Path("/etc")), "resolv.conf")))
	must(t, n.WriteFile("/etc/resolv.conf", nil, 0o644))
	must(t, n.WriteFile("/etc/dhcp/dhclient.conf", []byte(dhclientConf), 0o644))
	b.startDHCP(b.Upstream)
	b.waitResolv("169.254.25.10")
	must(t, n.WriteFile("/etc/node-local-dns/Corefile", []byte(nodeLocalCorefile), 0o644))
	testbed.StartKubelet(t, n, testbed.KubeletConfigFor(n, ""))
	testbed.AddPod(t, n, nodeLocalDNSPod)
	sb, last := crashLoops(t, n, "node-local-dns")
	return b, sb, last
}

// realKubeletEdits are the shapes of kubelet setup the kubelet strategy edits:
// the config (block YAML, flow YAML, JSON, resolvConf misspelled) or the
// --resolv-conf flag (in kubeadm-flags.env, in a unit drop-in). config is the
// config file ({{BASE}}: the standalone keys as block YAML), files more files.
var realKubeletEdits = []struct {
	name   string
	config func(base map[string]any) string
	files  map[string]string
}{
	{"block YAML", func(map[string]any) string { return "" }, nil},
	// Flow mappings and lists under block keys: a file that starts with "{"
	// is taken for JSON by kubelet, which then refuses unquoted keys.
	{"flow YAML", func(base map[string]any) string {
		var b strings.Builder
		for _, k := range slices.Sorted(maps.Keys(base)) {
			fmt.Fprintf(&b, "%s: %s\n", k, flowYAML(base[k]))
		}
		return b.String()
	}, nil},
	{"JSON", func(base map[string]any) string { return string(must1(json.MarshalIndent(base, "", "  "))) + "\n" }, nil},
	{"misspelled key", func(map[string]any) string { return "resolvconf: /etc/resolv.conf\n" }, nil},
	{"kubeadm-flags.env", func(map[string]any) string { return "" }, map[string]string{
		"/etc/systemd/system/kubelet.service.d/10-kubeadm.conf": "[Service]\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\nExecStart=\nExecStart=" +
			testbed.KubeBin + "/kubelet --config=/var/lib/kubelet/config.yaml $KUBELET_KUBEADM_ARGS\n",
		"/var/lib/kubelet/kubeadm-flags.env": `KUBELET_KUBEADM_ARGS="--resolv-conf=/etc/resolv.conf"` + "\n",
	}},
	{"unit drop-in", func(map[string]any) string { return "" }, map[string]string{
		"/etc/systemd/system/kubelet.service.d/20-resolv.conf": "[Service]\nExecStart=\nExecStart=" +
			testbed.KubeBin + "/kubelet --config=/var/lib/kubelet/config.yaml --resolv-conf=/etc/resolv.conf\n",
	}},
	// --config-dir: apply writes its own drop-in, sorting last, beside the
	// site's; kubelet merges both over the base config.
	{"config-dir drop-in", func(map[string]any) string { return "" }, map[string]string{
		"/etc/systemd/system/kubelet.service.d/20-config-dir.conf": "[Service]\nExecStart=\nExecStart=" +
			testbed.KubeBin + "/kubelet --config=/var/lib/kubelet/config.yaml --config-dir=/etc/kubernetes/kubelet.conf.d\n",
		"/etc/kubernetes/kubelet.conf.d/40-site.conf": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nmaxPods: 110\n",
	}},
}

// flowYAML writes v as one YAML flow mapping, keys and strings unquoted.
func flowYAML(v any) string {
	switch v := v.(type) {
	case map[string]any:
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(v)) {
			parts = append(parts, k+": "+flowYAML(v[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		var parts []string
		for _, e := range v {
			parts = append(parts, flowYAML(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}

// standaloneBase is testbed.KubeletConfigFor's keys as data, for the flow
// YAML and JSON shapes.
func standaloneBase(n *node.Node) map[string]any {
	return map[string]any{
		"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
		"authentication": map[string]any{"anonymous": map[string]any{"enabled": true}, "webhook": map[string]any{"enabled": false}},
		"authorization":  map[string]any{"mode": "AlwaysAllow"},
		"staticPodPath":  testbed.ManifestDir, "containerRuntimeEndpoint": testbed.RuntimeEndpoint,
		"cgroupDriver": "cgroupfs", "cgroupRoot": n.PodCgroupRoot(), "failSwapOn": false,
		"enforceNodeAllocatable": []any{}, "clusterDomain": "cluster.local", "clusterDNS": []any{"10.96.0.10"},
	}
}

// TestRealKubeletEdits runs every kubelet edit unloop makes under the real
// kubelet, on one node of each release (rolled back between shapes): the stub
// file is kubelet's pod file, `apply --strategy kubelet` edits where it is
// set, restarts kubelet and watches its /healthz; kubelet is healthy and its
// /configz shows resolved's uplink file.
func TestRealKubeletEdits(t *testing.T) {
	testbed.ForEachRelease(t, testRealKubeletEdits)
}

func testRealKubeletEdits(t *testing.T, release string) {
	b := newPodNetBed(t, release, "ulk", "10.98")
	n := b.Node
	base := standaloneBase(n)
	testbed.StartKubelet(t, n, testbed.KubeletConfigFor(n, ""))
	for _, tc := range realKubeletEdits {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			config := tc.config(base)
			if config == "" || strings.HasPrefix(config, "resolvconf") {
				config = testbed.KubeletConfigFor(n, config)
			}
			must(t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(config), 0o644))
			for p, data := range tc.files {
				must(t, n.WriteFile(p, []byte(data), 0o644))
			}
			t.Cleanup(func() {
				for p := range tc.files {
					_ = os.Remove(must1(n.Path(p)))
				}
			})
			n.Run("systemctl", "daemon-reload")
			startUnit(t, n, "restart", "kubelet.service")
			if !testbed.Poll(time.Minute, func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" }) {
				t.Fatalf("kubelet not healthy before apply:\n%s", n.Run("journalctl", "-b", "-u", "kubelet.service", "--no-pager", "-o", "cat", "-n", "8"))
			}
			if rc := testbed.KubeletResolvConf(t, n); rc != "/etc/resolv.conf" {
				t.Fatalf("kubelet runs with resolvConf %q before apply, want /etc/resolv.conf", rc)
			}

			start := time.Now()
			out, code := testbed.Unloop(t, n, "apply", "--strategy", "kubelet", "--output", "json")
			took := time.Since(start)
			if r := decode(t, out); code != 0 || !r.Verified {
				t.Fatalf("apply: exit %d, verified %v\n%s\n%s", code, r.Verified, out,
					n.Run("journalctl", "-b", "-u", "kubelet.service", "--no-pager", "-o", "cat", "-n", "30"))
			}
			if h := testbed.KubeletHealthz(t, n, 10248); h != "ok" {
				t.Errorf("kubelet's /healthz after apply: %q", h)
			}
			if rc := testbed.KubeletResolvConf(t, n); rc != "/run/systemd/resolve/resolv.conf" {
				t.Errorf("kubelet runs with resolvConf %q after apply, want resolved's uplink file; apply said:\n%s", rc, out)
			}
			t.Logf("apply (kubelet restarted, healthz watched) took %v", took.Round(10*time.Millisecond))

			if out, code := testbed.Unloop(t, n, "rollback"); code != 0 {
				t.Fatalf("rollback: exit %d: %s", code, out)
			}
		})
	}
}

// TestRealKubeletRefusedConfigRolledBack: the restarted kubelet never gets
// healthy on apply's config (a site's wrapper hands the real kubelet a flag
// it refuses whenever the config names resolved's uplink file, so kubelet
// exits at every start under Restart=always). apply's watch (kubelet's
// /healthz, and the unit's state meanwhile: here it sees kubelet stop)
// catches it, rolls the config back and restarts kubelet, which is healthy
// again on the old resolvConf; apply fails and says so. The site's unit
// allows 2 starts in 2 minutes: kubelet's start and apply's restart use them
// up, and systemd refuses the rollback's restart unless the rollback resets
// the limit first (as it does). On bookworm and trixie.
func TestRealKubeletRefusedConfigRolledBack(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newPodNetBed(t, release, "ulk", "10.98")
		n := b.Node
		must(t, n.WriteFile("/etc/systemd/system/kubelet.service.d/30-site-check.conf", []byte("[Unit]\nStartLimitIntervalSec=120\nStartLimitBurst=2\n[Service]\nExecStart=\nExecStart=/bin/sh -c '"+
			"if grep -q /run/systemd/resolve /var/lib/kubelet/config.yaml; then set -- --refused-by-site; fi; exec "+
			testbed.KubeBin+"/kubelet --config=/var/lib/kubelet/config.yaml \"$@\"' kubelet\n"), 0o644))
		config := testbed.KubeletConfigFor(n, "")
		testbed.StartKubelet(t, n, config)
		if rc := testbed.KubeletResolvConf(t, n); rc != "/etc/resolv.conf" {
			t.Fatalf("kubelet runs with resolvConf %q before apply", rc)
		}

		start := time.Now()
		out, code := testbed.Unloop(t, n, "apply", "--strategy", "kubelet", "--output", "json")
		took := time.Since(start)
		if code == 0 {
			t.Fatalf("apply succeeded on a config kubelet refuses:\n%s", out)
		}
		var res applyDoc
		must(t, json.Unmarshal([]byte(out), &res))
		if !res.RolledBack {
			t.Errorf("apply says it did not roll back:\n%s", out)
		}
		if got := string(must1(n.ReadFile("/var/lib/kubelet/config.yaml"))); got != config {
			t.Errorf("kubelet's config after the rolled-back apply:\n%s", got)
		}
		kl := n.Run("journalctl", "-b", "-u", "kubelet.service", "--no-pager", "-o", "cat")
		if !strings.Contains(kl, "unknown flag: --refused-by-site") {
			t.Errorf("kubelet never refused the config; its log:\n%s", kl)
		}
		testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok after the rollback", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
		if rc := testbed.KubeletResolvConf(t, n); rc != "/etc/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after the rollback, want the old /etc/resolv.conf", rc)
		}
		if strings.Contains(out, "rolling back failed") {
			t.Errorf("apply's rollback failed:\n%s", out)
		}
		t.Logf("apply, the watch and the rollback took %v", took.Round(10*time.Millisecond))
	})
}

// journalSince is kubelet's and containerd's log since t, with timestamps to
// the microsecond.
func journalSince(n *node.Node, t time.Time) string {
	return n.Run("journalctl", "-u", "kubelet.service", "-u", "containerd.service", "--no-pager", "-o", "short-precise",
		"--since", fmt.Sprintf("@%d.%06d", t.Unix(), t.Nanosecond()/1000))
}

// applyDoc is what these tests read of `apply --output json`.
type applyDoc struct {
	Run           string
	Verified      bool
	RolledBack    bool `json:"rolled_back"`
	Changes       []applyChange
	PodsRecreated []string `json:"pods_recreated"`
	PodsStale     []string `json:"pods_stale"`
}

type applyChange struct {
	Kind, Action string
	Skipped      *skipped
	Pods         []string
}

// TestRealKubeletPodNotBack: the field report's node with the real kubelet,
// where apply's fix is right but the crash-looping pod can't be recreated.
//
// kubelet stopped (the boot unit's case): apply fixes the file and removes no
// sandbox; the plan says why, and apply exits 3 with the pod in pods_stale:
// the ready sandbox keeps its copy when kubelet starts again. Then, kubelet running again, the sandbox
// (pause) image is removed from containerd: kubelet's RunPodSandbox has to
// pull it and no registry is reachable, so the pod gets no new sandbox. apply
// fixes the file, waits 60 s for the pod and exits 3: "fixed; 1 pod still
// holds the old file", the pod in pods_stale; the file fix and its run stay.
// Once the image is back kubelet makes the pod on the clean file, and it
// answers.
func TestRealKubeletPodNotBack(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b, sb, _ := fieldReportKubelet(t, release)
		n := b.Node
		pod := "kube-system/" + sb.Name

		startUnit(t, n, "stop", "kubelet.service")
		out, code := testbed.Unloop(t, n, "apply", "--strategy", "dhclient", "--output", "json")
		var res applyDoc
		must(t, json.Unmarshal([]byte(out), &res))
		// The sandbox stays ready while kubelet is stopped, and a kubelet
		// that starts keeps a ready sandbox: the pod still holds the old
		// file, so apply says so (exit 3, the pod in pods_stale).
		if code != 3 || !res.Verified || len(res.PodsRecreated) > 0 || !slices.Equal(res.PodsStale, []string{pod}) ||
			!slices.ContainsFunc(res.Changes, func(c applyChange) bool {
				return c.Action == "recreate" && slices.Equal(c.Pods, []string{pod}) && c.Skipped != nil && c.Skipped.Reason == "kubelet_not_running" && c.Skipped.Message == "kubelet.service is not running"
			}) {
			t.Fatalf("apply with kubelet stopped (exit %d): want the file fixed and the recreate of %s skipped, kubelet not running:\n%s", code, pod, out)
		}
		if got := string(must1(n.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") {
			t.Fatalf("apply with kubelet stopped left /etc/resolv.conf:\n%s", got)
		}
		if sbs := testbed.Sandboxes(t, n, "node-local-dns"); len(sbs) != 1 || sbs[0].ID != sb.ID || sbs[0].State != "SANDBOX_READY" {
			t.Fatalf("apply with kubelet stopped touched the sandbox %s: now %+v", sb.ID, sbs)
		}
		if out, code := testbed.Unloop(t, n, "rollback"); code != 0 {
			t.Fatalf("rollback: exit %d: %s", code, out)
		}
		b.waitResolv("169.254.25.10")
		startUnit(t, n, "start", "kubelet.service")
		testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })

		// The sandbox image gone: no new sandbox for the pod.
		n.Run("ctr", "-n", "k8s.io", "images", "rm", "unloop.test/pause:1")
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
		defer cancel()
		out, err := n.Exec(ctx, "/opt/unloop/unloop", "apply", "--strategy", "dhclient", "--output", "json")
		took := time.Since(start)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("apply with the pod not coming back: %v, want exit 3:\n%s\n%s", err, out, journalSince(n, start))
		}
		if want := "unloop: fixed; 1 pod still holds the old file: " + pod; !strings.Contains(err.Error(), want) {
			t.Errorf("apply's message: %v\nwant %q", err, want)
		}
		res = applyDoc{}
		must(t, json.Unmarshal([]byte(out), &res))
		if !res.Verified || res.RolledBack || res.Run == "" || !slices.Equal(res.PodsStale, []string{pod}) || len(res.PodsRecreated) > 0 {
			t.Fatalf("apply: run %q, verified %v, rolled back %v, stale %q, recreated %q; want %s stale only:\n%s",
				res.Run, res.Verified, res.RolledBack, res.PodsStale, res.PodsRecreated, pod, out)
		}
		if took < 60*time.Second {
			t.Errorf("apply gave up on the pod after %v, before its 60 s", took)
		}
		t.Logf("apply → exit 3 after %v", took.Round(100*time.Millisecond))
		if got := string(must1(n.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") || !strings.Contains(got, b.Upstream) {
			t.Errorf("after apply's exit 3, /etc/resolv.conf is:\n%s", got)
		}
		var runs struct{ Runs []struct{ ID, State string } }
		must(t, json.Unmarshal([]byte(must1s(testbed.Unloop(t, n, "runs", "--output", "json"))), &runs))
		if len(runs.Runs) == 0 || runs.Runs[0].ID != res.Run || runs.Runs[0].State != "applied" {
			t.Errorf("the journal after apply's exit 3: %+v, want run %s applied", runs.Runs, res.Run)
		}
		// kubelet tried and failed: the sandbox image can't be pulled.
		kl := strings.Split(journalSince(n, start), "\n")
		if i := slices.IndexFunc(kl, func(l string) bool {
			return strings.Contains(l, "kubelet") && strings.Contains(l, "CreatePodSandbox") && strings.Contains(l, "unloop.test/pause:1")
		}); i < 0 {
			t.Errorf("kubelet's log shows no failed sandbox for want of the pause image:\n%s", strings.Join(kl, "\n"))
		} else {
			t.Logf("kubelet: %s", kl[i])
		}
		if sbs := testbed.Sandboxes(t, n, "node-local-dns"); slices.ContainsFunc(sbs, func(s testbed.Sandbox) bool { return s.State == "SANDBOX_READY" }) {
			t.Errorf("node-local-dns has a ready sandbox without the pause image: %+v", sbs)
		}

		// The fault repaired: kubelet makes the pod on the clean file.
		n.Run("ctr", "-n", "k8s.io", "images", "import", "--snapshotter", "native", "/opt/kube/images/pause.tar")
		repaired := time.Now()
		sb = newSandbox(t, n, "node-local-dns", sb.ID)
		copy := string(must1(n.ReadFile(sandboxCopy(sb.ID))))
		if strings.Contains(copy, "169.254.25.10") {
			t.Fatalf("the new sandbox's copy still names 169.254.25.10:\n%s", copy)
		}
		answered := podAnswers(t, n, sb, "169.254.25.10")
		t.Logf("image back → %s answers: %v", pod, answered.Sub(repaired).Round(100*time.Millisecond))
		if out, code := testbed.Unloop(t, n, "check"); code != 0 {
			t.Errorf("check after the pod came back exited %d:\n%s", code, out)
		}
	})
}
