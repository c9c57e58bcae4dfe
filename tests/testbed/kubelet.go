package testbed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"golang.org/x/sys/unix"
)

// A real kubelet (v1.34.4, built by `make deps` from tests/kubelet) on
// containerd, with static pods, in a node booted with KubeletOptions. The
// images are built here (no registry is reachable): unloop.test/pause:1 (the
// sandbox) and unloop.test/coredns:1 (.cache/bin/coredns). The crash,
// concurrency and bus-fault suites keep their stand-in kubelet (a unit that
// reads its config and sleeps), for CI's time.

// Where KubeletOptions binds the cache's binaries and images in the node.
const (
	KubeBin    = "/opt/kube/bin"
	kubeImages = "/opt/kube/images"
	// RuntimeEndpoint is containerd's CRI socket, kubelet's
	// containerRuntimeEndpoint.
	RuntimeEndpoint = "unix:///run/containerd/containerd.sock"
	// Crictl is crictl in the node, on containerd.
	Crictl = KubeBin + "/crictl"
	// ManifestDir is kubelet's staticPodPath.
	ManifestDir = "/etc/kubernetes/manifests"
)

// KubeletOptions is opts for a node that runs a real kubelet: the rootfs of
// opts.Release with containerd, runc and the CNI plugins in it, the node able
// to run containers, the cache's kubelet, crictl and images bound in, and
// containerd configured and ready at boot. kubelet itself is started by
// StartKubelet (its config names the node's pod cgroup root).
func KubeletOptions(t testing.TB, opts node.Options) node.Options {
	t.Helper()
	cache, err := node.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Release == "" {
		opts.Release = "bookworm"
	}
	opts.Release += "kubelet"
	opts.Containers = true
	opts.Binds = maps.Clone(opts.Binds)
	if opts.Binds == nil {
		opts.Binds = map[string]string{}
	}
	opts.Binds[filepath.Join(cache, "bin")] = KubeBin
	opts.Binds[filepath.Join(cache, "images")] = kubeImages
	opts.Files = maps.Clone(opts.Files)
	if opts.Files == nil {
		opts.Files = map[string]node.File{}
	}
	for p, data := range map[string]string{
		"/etc/containerd/config.toml":                                       containerdConfig,
		"/etc/cni/net.d/10-pods.conflist":                                   cniConfig,
		"/etc/crictl.yaml":                                                  "runtime-endpoint: " + RuntimeEndpoint + "\nimage-endpoint: " + RuntimeEndpoint + "\ntimeout: 10\n",
		"/etc/systemd/system/kubelet.service":                               kubeletUnit,
		"/usr/local/sbin/unloop-pod-cgroups":                                podCgroupsScript,
		"/etc/systemd/system/unloop-images.service":                         imagesUnit,
		"/etc/systemd/system/multi-user.target.wants/unloop-images.service": "",
	} {
		if data == "" {
			opts.Files[p] = node.File{Link: "/etc/systemd/system/" + filepath.Base(p)}
			continue
		}
		opts.Files[p] = node.File{Data: []byte(data), Mode: 0o644}
		if strings.HasPrefix(p, "/usr/local/sbin/") {
			opts.Files[p] = node.File{Data: []byte(data), Mode: 0o755}
		}
	}
	// Debian's installer names the host in /etc/hosts (127.0.1.1), which
	// debootstrap leaves out. Without it kubelet's node status asks DNS for
	// the node's name before it looks at the interfaces
	// (pkg/kubelet/nodestatus NodeAddress, v1.34.4), and its sync loop runs
	// no pod until that first status is made: on trixie's node with the pod
	// network the question took 8 s at every start (issue 27).
	if _, ok := opts.Files["/etc/hosts"]; !ok {
		host := strings.TrimSuffix(opts.Release, "kubelet") + "-node"
		opts.Files["/etc/hosts"] = node.File{Data: []byte("127.0.0.1\tlocalhost\n127.0.1.1\t" + host + "\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n"), Mode: 0o644}
	}
	if len(opts.Ready) == 0 {
		opts.Ready = []string{"dbus.service", "systemd-resolved.service"}
	}
	opts.Ready = append(slices.Clone(opts.Ready), "containerd.service", "unloop-images.service")
	if opts.BootTimeout == 0 {
		// containerd unpacks CoreDNS's image (112 MB, the native snapshotter
		// copies it) at the first boot.
		opts.BootTimeout = 2 * time.Minute
	}
	return opts
}

const (
	// containerdConfig: restrict_oom_score_adj because no process here may
	// lower its oom_score_adj (runc fails without it), the native
	// snapshotter because the node's root is an overlay, the sandbox image
	// the one imported here.
	containerdConfig = `version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "unloop.test/pause:1"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
`
	// cniConfig is the pod network: a bridge in the node, no masquerade
	// (pods only talk to the node here).
	cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "pods",
  "plugins": [{
    "type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false,
    "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}
  }]
}
`
	// imagesUnit imports the test bed's images into containerd's k8s.io
	// namespace (where CRI looks) once containerd is up; an image already
	// there (a reboot) is imported again in a moment.
	imagesUnit = `[Unit]
Description=unloop test bed: the pause and CoreDNS images, imported into containerd
After=containerd.service
Requires=containerd.service
Before=kubelet.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/ctr -n k8s.io images import --snapshotter native ` + kubeImages + `/pause.tar
ExecStart=/usr/bin/ctr -n k8s.io images import --snapshotter native ` + kubeImages + `/coredns.tar
[Install]
WantedBy=multi-user.target
`
	// podCgroupsScript makes kubelet's cgroupRoot (node.PodCgroupRoot, in
	// podCgroupRootFile) in every cgroup v1 hierarchy of the node: kubelet
	// refuses to start without it.
	podCgroupsScript = `#!/bin/sh
set -eu
r=$(cat ` + podCgroupRootFile + `)
awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i+1) == "cgroup") print $5; break } }' /proc/self/mountinfo |
while read -r c; do
	mkdir -p "$c$r"
done
`
	podCgroupRootFile = "/etc/kubernetes/unloop-cgroup-root"

	// kubeletUnit is kubelet as kubeadm's packages run it (restarted
	// always, after a pause, with no start limit: kubernetes/release's
	// kubelet.service sets StartLimitInterval=0), without the drop-in: the
	// config file only.
	kubeletUnit = `[Unit]
Description=kubelet: The Kubernetes Node Agent
Wants=containerd.service
After=containerd.service unloop-containers.service unloop-images.service
StartLimitIntervalSec=0
[Service]
ExecStartPre=/usr/local/sbin/unloop-pod-cgroups
ExecStart=` + KubeBin + `/kubelet --config=/var/lib/kubelet/config.yaml
Restart=always
RestartSec=1
[Install]
WantedBy=multi-user.target
`
)

// KubeletConfigFor is a standalone kubelet's config for n (no API server:
// anonymous, every request allowed, static pods only), its cgroup root the
// node's own, a cluster DNS address and no resolvConf (the node's
// /etc/resolv.conf goes to the pods: the case unloop is about). extra is
// appended as more top-level keys.
func KubeletConfigFor(n *node.Node, extra string) string {
	return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
staticPodPath: ` + ManifestDir + `
containerRuntimeEndpoint: ` + RuntimeEndpoint + `
cgroupDriver: cgroupfs
cgroupRoot: ` + n.PodCgroupRoot() + `
failSwapOn: false
enforceNodeAllocatable: []
clusterDomain: cluster.local
clusterDNS:
- 10.96.0.10
` + extra
}

// StartKubelet writes config as kubelet's /var/lib/kubelet/config.yaml
// (unless "": a node whose kubelet unit names a config of its own), enables
// and starts kubelet, and waits for its /healthz.
func StartKubelet(t testing.TB, n *node.Node, config string) {
	t.Helper()
	if config != "" {
		if err := n.WriteFile("/var/lib/kubelet/config.yaml", []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.WriteFile(podCgroupRootFile, []byte(n.PodCgroupRoot()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := n.Exec(context.Background(), "systemctl", "enable", "--now", "kubelet.service")
	if err != nil || !Poll(time.Minute, func() bool { return KubeletHealthz(t, n, 10248) == "ok" }) {
		log, _ := n.Exec(context.Background(), "journalctl", "-b", "--no-pager", "-o", "cat", "-n", "60", "-u", "kubelet.service", "-u", "containerd.service", "-u", "unloop-images.service", "-u", "unloop-containers.service")
		t.Fatalf("kubelet's /healthz not ok within a minute (%v):\n%s", err, log)
	}
}

// PreparePodCgroups does for a kubelet started without kubelet.service what
// its ExecStartPre= does: makes the node's pod cgroup root, without which
// kubelet refuses to start.
func PreparePodCgroups(t testing.TB, n *node.Node) {
	t.Helper()
	if err := n.WriteFile(podCgroupRootFile, []byte(n.PodCgroupRoot()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := n.Exec(context.Background(), "/usr/local/sbin/unloop-pod-cgroups"); err != nil {
		t.Fatalf("unloop-pod-cgroups: %v\n%s", err, out)
	}
}

// KubeletHealthz is what kubelet's healthz endpoint on 127.0.0.1:port in n
// answers ("ok" when healthy), or "" when nothing answers. Asked with bash's
// /dev/tcp: the rootfs has no curl.
func KubeletHealthz(t testing.TB, n *node.Node, port int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := n.Exec(ctx, "bash", "-c", fmt.Sprintf(`exec 3<>/dev/tcp/127.0.0.1/%d && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 && cat <&3`, port))
	if err != nil {
		return ""
	}
	_, body, _ := strings.Cut(out, "\r\n\r\n")
	return strings.TrimSpace(body)
}

// A Pod is what a static pod manifest says of one CoreDNS container.
type Pod struct {
	Name        string // also the manifest's file name
	HostNetwork bool
	Labels      map[string]string
	ConfigDir   string // the node folder with its Corefile, at /etc/coredns in the pod
}

// Manifest is p as a static pod of CoreDNS (unloop.test/coredns:1) with
// dnsPolicy Default: its /etc/resolv.conf is kubelet's resolvConf, copied
// into the sandbox when kubelet makes it.
func (p Pod) Manifest() string {
	var labels strings.Builder
	for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
		fmt.Fprintf(&labels, "    %s: %s\n", k, p.Labels[k])
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: kube-system
  labels:
%s
spec:
  hostNetwork: %t
  dnsPolicy: Default
  containers:
  - name: coredns
    image: unloop.test/coredns:1
    imagePullPolicy: Never
    args: ["-conf", "/etc/coredns/Corefile"]
    volumeMounts:
    - name: config
      mountPath: /etc/coredns
      readOnly: true
  volumes:
  - name: config
    hostPath:
      path: %s
      type: Directory
`, p.Name, labels.String(), p.HostNetwork, p.ConfigDir)
}

// AddPod writes p's manifest into kubelet's static pod folder; kubelet
// starts it on its own.
func AddPod(t testing.TB, n *node.Node, p Pod) {
	t.Helper()
	if err := n.WriteFile(ManifestDir+"/"+p.Name+".yaml", []byte(p.Manifest()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A Sandbox is a pod's sandbox as crictl shows it.
type Sandbox struct {
	ID, State string // State: SANDBOX_READY or SANDBOX_NOTREADY
	Name      string // the pod's name (a static pod's has the node name appended)
	Attempt   int
	IP        string // on the pod network; "" for hostNetwork
}

// Sandboxes are the sandboxes of the pods whose name starts with name, newest
// first, as crictl lists them.
func Sandboxes(t testing.TB, n *node.Node, name string) []Sandbox {
	t.Helper()
	var pods struct {
		Items []struct {
			ID       string `json:"id"`
			State    string `json:"state"`
			Metadata struct {
				Name    string `json:"name"`
				Attempt int    `json:"attempt"`
			} `json:"metadata"`
		} `json:"items"`
	}
	crictlJSON(t, n, &pods, "pods", "--name", "^"+name, "-o", "json")
	var out []Sandbox
	for _, p := range pods.Items {
		sb := Sandbox{ID: p.ID, State: p.State, Name: p.Metadata.Name, Attempt: p.Metadata.Attempt}
		if p.State == "SANDBOX_READY" {
			var st struct {
				Status struct {
					Network struct {
						IP string `json:"ip"`
					} `json:"network"`
				} `json:"status"`
			}
			crictlJSON(t, n, &st, "inspectp", "-o", "json", p.ID)
			sb.IP = st.Status.Network.IP
		}
		out = append(out, sb)
	}
	return out
}

// A Container is one run of a pod's container as crictl shows it.
type Container struct {
	ID, State string    // State: CONTAINER_RUNNING, CONTAINER_EXITED, ...
	Attempt   int       // the restart count of the run: 0 for the first
	Created   time.Time // when the runtime made it
}

// Containers are the runs of the containers of sandbox, newest first.
func Containers(t testing.TB, n *node.Node, sandbox string) []Container {
	t.Helper()
	var ps struct {
		Containers []struct {
			ID        string `json:"id"`
			State     string `json:"state"`
			CreatedAt int64  `json:"createdAt,string"` // ns since the epoch
			Metadata  struct {
				Attempt int `json:"attempt"`
			} `json:"metadata"`
		} `json:"containers"`
	}
	crictlJSON(t, n, &ps, "ps", "-a", "--pod", sandbox, "-o", "json")
	var out []Container
	for _, c := range ps.Containers {
		out = append(out, Container{ID: c.ID, State: c.State, Attempt: c.Metadata.Attempt, Created: time.Unix(0, c.CreatedAt)})
	}
	slices.SortFunc(out, func(a, b Container) int { return b.Attempt - a.Attempt })
	return out
}

// crictlJSON runs crictl with args in n and decodes its JSON into v.
func crictlJSON(t testing.TB, n *node.Node, v any, args ...string) {
	t.Helper()
	out, code := Exec(t, n, append([]string{Crictl}, args...)...)
	if code != 0 {
		t.Fatalf("crictl %s: exit %d", strings.Join(args, " "), code)
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("crictl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Dig asks server for example.test from inside n's network namespace and
// returns the short answer.
func Dig(n *node.Node, server string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", n.Leader()), "dig", "+short", "+time=2", "+tries=1", "@"+server, "example.test", "A").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// KubeletConfigz is the config kubelet in n runs with, by its /configz (on
// its TLS port 10250: anonymous, every request allowed). Asked with this
// machine's curl inside the node's network namespace.
func KubeletConfigz(t testing.TB, n *node.Node) map[string]any {
	t.Helper()
	// kubelet serves /healthz (10248) before its main server (10250)
	// listens: a refused connection (curl's 7) right after /healthz said ok
	// is asked again, for a while.
	var out []byte
	var err error
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err = exec.CommandContext(ctx, "nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", n.Leader()),
			"curl", "-sSk", "--max-time", "5", "https://127.0.0.1:10250/configz").Output()
		cancel()
		var ee *exec.ExitError
		if err == nil || !errors.As(err, &ee) || ee.ExitCode() != 7 || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("kubelet's /configz: %v", err)
	}
	var cz struct {
		KubeletConfig map[string]any `json:"kubeletconfig"`
	}
	if err := json.Unmarshal(out, &cz); err != nil || cz.KubeletConfig == nil {
		t.Fatalf("kubelet's /configz: %v, no config in:\n%s", err, out)
	}
	return cz.KubeletConfig
}

// KubeletResolvConf is the resolvConf kubelet in n runs with, by its /configz.
func KubeletResolvConf(t testing.TB, n *node.Node) string {
	t.Helper()
	rc, ok := KubeletConfigz(t, n)["resolvConf"].(string)
	if !ok {
		t.Fatalf("kubelet's /configz has no resolvConf")
	}
	return rc
}

// SandboxTimes are when the runtime made sandbox id and when it started the
// newest run of its first container (zero while none has started), from
// crictl inspectp and inspect: the runtime's own clock, this machine's (a
// node shares the kernel).
func SandboxTimes(t testing.TB, n *node.Node, id string) (created, started time.Time) {
	t.Helper()
	var sb struct {
		Status struct {
			CreatedAt time.Time `json:"createdAt"`
		} `json:"status"`
	}
	crictlJSON(t, n, &sb, "inspectp", "-o", "json", id)
	cs := Containers(t, n, id)
	if len(cs) == 0 {
		return sb.Status.CreatedAt, time.Time{}
	}
	var c struct {
		Status struct {
			StartedAt time.Time `json:"startedAt"`
		} `json:"status"`
	}
	crictlJSON(t, n, &c, "inspect", "-o", "json", cs[0].ID)
	return sb.Status.CreatedAt, c.Status.StartedAt
}

// UnitStarted is when unit's main process last started, from systemd's
// ExecMainStartTimestampMonotonic: CLOCK_MONOTONIC, which a node shares
// with this machine, returned as this machine's wall time.
func UnitStarted(t testing.TB, n *node.Node, unit string) time.Time {
	t.Helper()
	us, err := strconv.ParseInt(strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", "ExecMainStartTimestampMonotonic", unit)), 10, 64)
	if err != nil {
		t.Fatalf("%s's ExecMainStartTimestampMonotonic: %v", unit, err)
	}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		t.Fatal(err)
	}
	return time.Now().Add(-time.Duration(now.Nano() - us*1000))
}
