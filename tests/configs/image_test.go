package configs

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// TestDaemonSetImageOnKubelet runs `make image`'s image as the DaemonSet's
// pod, under the real kubelet on containerd: the archive (written by
// configs/image from this run's unloop)
// is imported with ctr (as the README says), and the DaemonSet's pod template, unchanged, is a
// static pod: privileged, hostNetwork, the node's / at /host, the env and
// args. Its first run finds the node's loop (resolved's stub, the pod file)
// online over the host's bus, and names node paths.
func TestDaemonSetImageOnKubelet(t *testing.T) {
	ds, err := decodeDaemonSet(configFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	image := ds.Spec.Template.Spec.Containers[0].Image
	dir := t.TempDir()
	// Both architectures under one index, as `make image` writes it; the
	// other one's binary is a stand-in (this machine runs its own only),
	// and containerd must pick this machine's.
	other := map[string]string{"amd64": "arm64", "arm64": "amd64"}[runtime.GOARCH]
	must(t, os.WriteFile(filepath.Join(dir, "other"), []byte("not this architecture's unloop"), 0o755))
	build := exec.Command("go", "run", ".", "-name", image, "-bin", runtime.GOARCH+"="+filepath.Join(binDir, "unloop"),
		"-bin", other+"="+filepath.Join(dir, "other"), "-o", filepath.Join(dir, "unloop.tar"))
	build.Dir = filepath.Join(repo, "configs", "image")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("configs/image: %v\n%s", err, out)
	}

	// The node has an address and a default route, as a real one: kubelet
	// takes the node's IP (status.hostIP, the pod's NODE_IP and --listen)
	// from the default route's interface, and without it the container
	// never starts ("host IP unknown").
	nw := newNet(t)
	n := testbed.Boot(t, binDir, testbed.KubeletOptions(t, node.Options{
		NetNS: nw.NodeNS,
		Binds: map[string]string{dir: "/opt/unloop-image"},
		Files: map[string]node.File{"/etc/unloop/unloop.yaml": {Data: configFile(t, "unloop.yaml")}},
	}))
	nw.IP("-n", nw.NodeNS, "route", "add", "default", "via", nw.Upstream)
	if out, code := testbed.Exec(t, n, "ctr", "-n", "k8s.io", "images", "import", "--snapshotter", "native", "/opt/unloop-image/unloop.tar"); code != 0 {
		t.Fatalf("ctr images import: exit %d\n%s", code, out)
	}
	if out, _ := testbed.Exec(t, n, "ctr", "-n", "k8s.io", "images", "ls", "-q"); !strings.Contains(out, "docker.io/library/"+image+"\n") {
		t.Fatalf("containerd has no %s after the import:\n%s", image, out)
	}
	testbed.StartKubelet(t, n, testbed.KubeletConfigFor(n, ""))

	// A static pod may name no service account (kubelet v1.34 refuses the
	// manifest: "static pods may not reference serviceaccounts"); the
	// DaemonSet's pod has one for the Node condition, and without its token
	// watch reports to no Node, as here.
	spec := ds.Spec.Template.Spec
	spec.ServiceAccountName = ""
	pod := corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "unloop", Namespace: ds.Namespace, Labels: ds.Spec.Template.Labels},
		Spec:       spec}
	manifest, err := yaml.Marshal(pod)
	must(t, err)
	must(t, n.WriteFile(testbed.ManifestDir+"/unloop.yaml", manifest, 0o644))

	var logs, stderr string
	defer func() {
		if t.Failed() {
			// What kubelet and the pod said: why the pod never ran, or what it said.
			out, _ := testbed.Exec(t, n, "sh", "-c", testbed.Crictl+" pods; "+testbed.Crictl+" ps -a; journalctl -u kubelet --no-pager | tail -40")
			t.Logf("pods, containers, kubelet:\n%s\nthe pod's stderr:\n%s", out, stderr)
		}
	}()
	testbed.WaitFor(t, 2*time.Minute, "the unloop pod's first run", func() bool {
		sbs := testbed.Sandboxes(t, n, "unloop")
		if len(sbs) == 0 {
			return false
		}
		cs := testbed.Containers(t, n, sbs[0].ID)
		if len(cs) == 0 {
			return false
		}
		// The report is the container's stdout, the status line its stderr:
		// two streams, each copied to the log on its own, so either may
		// show first. Both are waited for.
		stderr, _ = testbed.Exec(t, n, "sh", "-c", testbed.Crictl+" logs "+cs[0].ID+" 2>&1 >/dev/null")
		logs, _ = testbed.Exec(t, n, testbed.Crictl, "logs", cs[0].ID)
		return strings.Contains(stderr, `"msg":"checked"`) && json.NewDecoder(strings.NewReader(logs)).Decode(new(any)) == nil
	})
	var r struct {
		Status   string `json:"status"`
		Online   bool   `json:"online"`
		Resolved *struct {
			ResolvConfMode string `json:"resolv_conf_mode"`
		} `json:"resolved"`
		Kubelet struct {
			Present bool   `json:"present"`
			Config  string `json:"config"`
			PID     int    `json:"pid"`
		} `json:"kubelet"`
		Notes    []string `json:"notes"`
		Findings []struct {
			Code string `json:"code"`
			File string `json:"file"`
		} `json:"findings"`
	}
	if err := json.NewDecoder(strings.NewReader(logs)).Decode(&r); err != nil {
		t.Fatalf("the pod's log: %v\n%s", err, logs)
	}
	if !strings.Contains(stderr, `"status":"error"`) || r.Status != "error" || !r.Online || r.Resolved == nil || r.Resolved.ResolvConfMode != "stub" {
		t.Errorf("the pod: status %s, online %v, resolved %+v; want the stub loop found online (exit 2):\n%s\n%s", r.Status, r.Online, r.Resolved, logs, stderr)
	}
	// Prometheus scrapes the node's address, from off the node.
	metrics, err := exec.Command("ip", "netns", "exec", nw.NetNS, "curl", "-sf", "http://"+nw.NodeAddr+":9958/metrics").CombinedOutput()
	if err != nil || !strings.Contains(string(metrics), `unloop_check_status{status="error"} 1`) {
		t.Errorf("/metrics on %s:9958 from the network (%v): want the loop's status\n%s", nw.NodeAddr, err, metrics)
	}
	if !r.Kubelet.Present || r.Kubelet.Config != "/var/lib/kubelet/config.yaml" || len(r.Findings) == 0 || r.Findings[0].Code != "nameserver-resolved-stub" || r.Findings[0].File != "/etc/resolv.conf" {
		t.Errorf("the pod: kubelet %+v, findings %+v; want node paths, not /host paths", r.Kubelet, r.Findings)
	}
	// The pod has a PID namespace of its own (no hostPID), and /host/proc,
	// the node's procfs under the recursive bind of /, shows kubelet,
	// whose root it follows.
	if r.Kubelet.PID == 0 {
		t.Errorf("the pod did not find the node's running kubelet through /host/proc: kubelet %+v, notes %q", r.Kubelet, r.Notes)
	}
}
