package kubelet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg"
)

// procTree is a node tree with a fake /proc: each process's cmdline
// (NUL-separated, as the kernel gives it), its cgroup, and its root, a link
// to / (the node's own) unless rootOf names a folder of the tree.
func procTree(t *testing.T, archive string, procs map[string]string, cgroups map[string]string, rootOf map[string]string) *hostcfg.Root {
	t.Helper()
	r := kubeletTree(t, archive)
	for pid, cmdline := range procs {
		d := filepath.Join(r.Dir(), "proc", pid)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "cmdline"), []byte(cmdline), 0o444); err != nil {
			t.Fatal(err)
		}
		if cg, ok := cgroups[pid]; ok {
			if err := os.WriteFile(filepath.Join(d, "cgroup"), []byte(cg), 0o444); err != nil {
				t.Fatal(err)
			}
		}
		root := "/"
		if p, ok := rootOf[pid]; ok {
			root = p
		}
		if err := os.Symlink(root, filepath.Join(d, "root")); err != nil {
			t.Fatal(err)
		}
	}
	// The kernel's own links, which are no process.
	if err := os.Symlink("1", filepath.Join(r.Dir(), "proc", "self")); err != nil && len(procs) > 0 {
		t.Fatal(err)
	}
	return r
}

func TestClassify(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/bin/kubelet", "--config=/var/lib/kubelet/config.yaml"}, DistroKubelet},
		{[]string{"kubelet"}, DistroKubelet},
		{[]string{"/var/lib/rancher/rke2/data/v1.33.1-rke2r1-1a2b/bin/kubelet", "--volume-plugin-dir=/x"}, DistroKubelet},
		{[]string{"/usr/local/bin/k3s", "server"}, DistroK3s},
		{[]string{"/usr/local/bin/k3s", "agent"}, DistroK3s},
		{[]string{"/usr/local/bin/k3s", "kubectl", "get", "pods"}, ""},
		{[]string{"/usr/local/bin/rke2", "agent"}, DistroRKE2},
		{[]string{"/usr/local/bin/k0s", "worker", "--token-file=/etc/k0s/token"}, DistroK0s},
		{[]string{"/usr/local/bin/k0s", "status"}, ""},
		{[]string{"/usr/bin/microshift", "run"}, DistroMicroShift},
		{[]string{"/snap/microk8s/7394/kubelite", "--scheduler-args-file=/x"}, DistroMicroK8s},
		{[]string{"/usr/bin/kubelet-wrapper.sh"}, ""},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := classify(tt.argv); got != tt.want {
			t.Errorf("classify(%q) = %q, want %q", tt.argv, got, tt.want)
		}
	}
}

func TestSplitCmdline(t *testing.T) {
	tests := []struct {
		data string
		want []string
	}{
		{"/usr/bin/kubelet\x00--config\x00/opt/site/kubelet.yaml\x00", []string{"/usr/bin/kubelet", "--config", "/opt/site/kubelet.yaml"}},
		{"/usr/bin/kubelet\x00--node-labels=a b\x00", []string{"/usr/bin/kubelet", "--node-labels=a b"}},
		{"k3s agent", []string{"k3s", "agent"}}, // a title rewritten as one string
		{"", nil},
	}
	for _, tt := range tests {
		if got := splitCmdline([]byte(tt.data)); !slices.Equal(got, tt.want) {
			t.Errorf("splitCmdline(%q) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

func TestCgroupUnit(t *testing.T) {
	tests := []struct{ data, want string }{
		{"0::/system.slice/site-kubelet.service\n", "site-kubelet.service"},
		{"12:pids:/system.slice/x.service\n1:name=systemd:/system.slice/kubelet.service\n0::/\n", "kubelet.service"},
		// Seen from a pod's own cgroup namespace (the DaemonSet).
		{"0::/../../system.slice/kubelet.service\n", "kubelet.service"},
		{"0::/user.slice/user-0.slice/session-3.scope\n", ""},
	}
	for _, tt := range tests {
		if got := cgroupUnit([]byte(tt.data)); got != tt.want {
			t.Errorf("cgroupUnit(%q) = %q, want %q", tt.data, got, tt.want)
		}
	}
}

const siteConfig = `-- opt/site/kubelet.yaml --
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
resolvConf: /run/systemd/resolve/resolv.conf
`

// A kubelet started from a unit unloop does not read (a transient unit,
// a script) with a config path no layout knows: its process tells.
func TestRunningKubeletUnknownToFiles(t *testing.T) {
	r := procTree(t, siteConfig, map[string]string{
		"1":   "/sbin/init\x00",
		"412": "/opt/kube/bin/kubelet\x00--config=/opt/site/kubelet.yaml\x00--root-dir\x00/opt/site/root\x00",
		"413": "/usr/bin/containerd\x00",
	}, map[string]string{"412": "0::/system.slice/site-kubelet.service\n"}, nil)
	p, err := FindProcess(r)
	if err != nil || p == nil {
		t.Fatalf("FindProcess: %v, %v", p, err)
	}
	if p.PID != 412 || p.Distro != DistroKubelet || p.Unit != "site-kubelet.service" {
		t.Fatalf("found %+v", p)
	}
	files, err := Discover(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if files.Present {
		t.Fatalf("the files know this kubelet: %+v", files)
	}
	k, note := Reconcile(files, Running(r, p))
	if note != "" {
		t.Errorf("note %q", note)
	}
	if !k.Present || k.ResolvConf != "/run/systemd/resolve/resolv.conf" || k.ResolvConfSource != "config" ||
		k.ResolvConfAt != (Where{File: "/opt/site/kubelet.yaml", Line: 3}) || k.Unit != "site-kubelet.service" || k.Unknown != "" {
		t.Fatalf("running kubelet read as %+v", k)
	}
	if !strings.Contains(k.Why, "pid 412") {
		t.Errorf("why %q does not name the process", k.Why)
	}
}

// The unit changed (a drop-in now sets --resolv-conf) and kubelet was not
// restarted: pods get what the running kubelet chose, and the fix edits
// the files.
func TestRunningKubeletDisagreesWithFiles(t *testing.T) {
	r := procTree(t, siteConfig+`-- etc/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --config=/opt/site/kubelet.yaml
-- etc/systemd/system/kubelet.service.d/20-dns.conf --
[Service]
ExecStart=
ExecStart=/usr/bin/kubelet --config=/opt/site/kubelet.yaml --resolv-conf=/etc/resolv.conf
`, map[string]string{
		"90": "/usr/bin/kubelet\x00--config=/opt/site/kubelet.yaml\x00",
	}, map[string]string{"90": "0::/system.slice/kubelet.service\n"}, nil)
	files, err := Discover(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := FindProcess(r)
	if err != nil || p == nil {
		t.Fatalf("FindProcess: %v, %v", p, err)
	}
	k, note := Reconcile(files, Running(r, p))
	if k.ResolvConf != "/run/systemd/resolve/resolv.conf" {
		t.Errorf("pods get %q, want the running kubelet's /run/systemd/resolve/resolv.conf", k.ResolvConf)
	}
	if k.ResolvConfFlag == nil || k.ResolvConfFlag.File != "/etc/systemd/system/kubelet.service.d/20-dns.conf" || k.ResolvConfFlag.ValueStart < 0 {
		t.Errorf("the fix must edit the files' flag, got %+v", k.ResolvConfFlag)
	}
	for _, w := range []string{"pid 90", "/run/systemd/resolve/resolv.conf", "/etc/resolv.conf", "until kubelet restarts"} {
		if !strings.Contains(note, w) {
			t.Errorf("note %q does not say %q", note, w)
		}
	}
}

// k3s agent runs kubelet in-process: the process says k3s runs, and k3s's
// own files say what kubelet does.
func TestRunningK3sAgent(t *testing.T) {
	r := procTree(t, `-- etc/rancher/k3s/config.yaml --
resolv-conf: /etc/k3s-resolv.conf
-- etc/k3s-resolv.conf --
nameserver 10.0.0.2
`, map[string]string{"77": "/usr/local/bin/k3s\x00agent\x00"}, nil, nil)
	p, err := FindProcess(r)
	if err != nil || p == nil || p.Distro != DistroK3s {
		t.Fatalf("FindProcess: %+v, %v", p, err)
	}
	files, err := Discover(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, note := Reconcile(files, Running(r, p))
	if note != "" || k.Distro != DistroK3s || k.ResolvConf != "/etc/k3s-resolv.conf" || k.Unknown != "" || k.Process == nil {
		t.Fatalf("got %+v, note %q", k, note)
	}
}

// MicroShift runs kubelet in-process with a layout unloop does not read:
// the pod file is unknown, not guessed.
func TestRunningUnknownDistro(t *testing.T) {
	r := procTree(t, "-- etc/resolv.conf --\nnameserver 127.0.0.53\n", map[string]string{"300": "/usr/bin/microshift\x00run\x00"}, nil, nil)
	p, err := FindProcess(r)
	if err != nil || p == nil {
		t.Fatalf("FindProcess: %v, %v", p, err)
	}
	files, _ := Discover(r, nil)
	k, note := Reconcile(files, Running(r, p))
	if k.ResolvConf != "" || k.ResolvConfSource != "unknown" || !k.Present || k.Unknown == "" {
		t.Fatalf("got %+v", k)
	}
	if !strings.Contains(note, "microshift") || !strings.Contains(note, "unknown") {
		t.Errorf("note %q", note)
	}
}

// talosTree is a Talos v1.12.0 node: os-release, the kubelet.yaml machined
// writes (NewKubeletConfiguration, internal/app/machined/pkg/controllers/k8s/
// kubelet_spec.go, trimmed to the keys that matter here), the pod file, and
// kubelet's own root /ctr, where kubelet.yaml and the pod file are bind
// mounts of the node's (internal/app/machined/pkg/system/services/
// kubelet.go), hard links here; shared false leaves /ctr's pod file a copy.
func talosTree(t *testing.T, shared bool) *hostcfg.Root {
	t.Helper()
	const cfg = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 0.0.0.0
clusterDNS:
  - 10.96.0.10
clusterDomain: cluster.local
failSwapOn: false
resolvConf: /system/resolved/resolv.conf
tlsMinVersion: VersionTLS13
`
	r := procTree(t, "-- etc/os-release --\nNAME=\"Talos\"\nID=talos\nVERSION_ID=v1.12.0\n-- etc/kubernetes/kubelet.yaml --\n"+cfg+
		"-- system/resolved/resolv.conf --\nnameserver 10.96.0.10\nnameserver 192.0.2.53\n-- ctr/etc/hostname --\ntalos\n",
		map[string]string{"1": "/sbin/init\x00", "2014": "/usr/local/bin/kubelet\x00--cert-dir=/var/lib/kubelet/pki\x00--config=/etc/kubernetes/kubelet.yaml\x00--hostname-override=talos-1\x00--kubeconfig=/etc/kubernetes/kubeconfig-kubelet\x00"},
		map[string]string{"2014": "0::/podruntime/kubelet\n"}, map[string]string{"2014": "/ctr"})
	for _, f := range []string{"etc/kubernetes/kubelet.yaml", "system/resolved/resolv.conf"} {
		dst := filepath.Join(r.Dir(), "ctr", f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if f == "system/resolved/resolv.conf" && !shared {
			if err := os.WriteFile(dst, []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Link(filepath.Join(r.Dir(), f), dst); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// Talos: kubelet runs in a container of its own; its config, read through
// its root, names the pod file, which is the node's own (a bind mount), so
// its servers are judged and its cluster DNS address is known.
func TestRunningKubeletTalos(t *testing.T) {
	r := talosTree(t, true)
	p, err := FindProcess(r)
	if err != nil || p == nil || p.PID != 2014 {
		t.Fatalf("FindProcess: %+v, %v", p, err)
	}
	files, err := Discover(r, nil)
	if err != nil || files.Distro != DistroTalos {
		t.Fatalf("files: %+v, %v", files, err)
	}
	k, note := Reconcile(files, Running(r, p))
	if k.Unknown != "" || k.ResolvConfSource == "unknown" || k.ResolvConf != "/system/resolved/resolv.conf" || k.PodRoot != nil || note != "" {
		t.Fatalf("got %+v, note %q", k, note)
	}
	if fmt.Sprint(k.ClusterDNS) != "[10.96.0.10]" || k.Process == nil || k.Fix.Hand == nil {
		t.Errorf("cluster DNS %v, process %v, hand fix %v", k.ClusterDNS, k.Process, k.Fix.Hand != nil)
	}
	// The running kubelet alone (no os-release), as on an unknown layout.
	k, note = Reconcile(&Setup{}, Running(r, p))
	if k.Unknown != "" || k.ResolvConf != "/system/resolved/resolv.conf" || k.ResolvConfAt.File != "/etc/kubernetes/kubelet.yaml" || k.Fix.Hand == nil {
		t.Fatalf("running alone: %+v, note %q", k, note)
	}
}

// The container's pod file is not the node's file of that path: it is
// read through the process's root, and the note says so.
func TestRunningKubeletOwnPodFile(t *testing.T) {
	r := talosTree(t, false)
	p, _ := FindProcess(r)
	k, note := Reconcile(&Setup{}, Running(r, p))
	if k.PodRoot == nil || k.Unknown != "" {
		t.Fatalf("got %+v", k)
	}
	data, err := k.PodRoot.ReadFile(k.ResolvConf)
	if err != nil || string(data) != "nameserver 127.0.0.53\n" {
		t.Fatalf("read through the process root: %q, %v", data, err)
	}
	if !strings.Contains(note, "not the node's file of that path") || !strings.Contains(note, "/proc/2014/root") {
		t.Errorf("note %q", note)
	}
}

// RKE1 v1.6.3: kubelet is the Docker container "kubelet" (rke-tools'
// entrypoint.sh execs "$@"), in Docker's cgroup, with RKE's
// --resolv-conf=/etc/resolv.conf and, where systemd-resolved runs, the
// entrypoint's --resolv-conf=/run/systemd/resolve/resolv.conf after it;
// /run is bound from the node. The last flag wins, as in pflag.
func TestRunningKubeletRKE1(t *testing.T) {
	r := procTree(t, "-- etc/resolv.conf --\nnameserver 127.0.0.53\n-- run/systemd/resolve/resolv.conf --\nnameserver 10.43.0.10\nnameserver 192.0.2.53\n-- ctr/etc/hostname --\nrke\n",
		map[string]string{"1": "/sbin/init\x00", "3100": strings.Join([]string{"kubelet", "--client-ca-file=/etc/kubernetes/ssl/kube-ca.pem", "--cluster-dns=10.43.0.10",
			"--cluster-domain=cluster.local", "--fail-swap-on=false", "--hostname-override=node-1", "--kubeconfig=/etc/kubernetes/ssl/kubecfg-kube-node.yaml",
			"--resolv-conf=/etc/resolv.conf", "--root-dir=/var/lib/kubelet", "--cgroup-driver=cgroupfs", "--resolv-conf=/run/systemd/resolve/resolv.conf"}, "\x00") + "\x00"},
		map[string]string{"3100": "0::/system.slice/docker-4f1c2d.scope\n"}, map[string]string{"3100": "/ctr"})
	dst := filepath.Join(r.Dir(), "ctr/run/systemd/resolve/resolv.conf")
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(r.Dir(), "run/systemd/resolve/resolv.conf"), dst); err != nil {
		t.Fatal(err)
	}
	p, _ := FindProcess(r)
	files, _ := Discover(r, nil)
	k, _ := Reconcile(files, Running(r, p))
	if k.Unknown != "" || k.ResolvConf != "/run/systemd/resolve/resolv.conf" || k.ResolvConfSource != "flag" || k.PodRoot != nil {
		t.Fatalf("got %+v", k)
	}
	if fmt.Sprint(k.ClusterDNS) != "[10.43.0.10]" || k.Fix.Hand == nil || !strings.Contains(k.Fix.Hand("/x"), "pid 3100") {
		t.Errorf("cluster DNS %v, fix %v", k.ClusterDNS, k.Fix)
	}
}

// On a real procfs the root of this very process is the root itself.
func TestProcessRootOfRealProc(t *testing.T) {
	r, err := hostcfg.NewRoot("/")
	if err != nil {
		t.Fatal(err)
	}
	pr, err := r.ProcessRoot(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pr != r {
		t.Fatalf("this process's root is not /")
	}
}

// No /proc (an image, offline trees) or no kubelet running: nothing found.
func TestFindProcessNone(t *testing.T) {
	for _, r := range []*hostcfg.Root{
		kubeletTree(t, "-- etc/hostname --\nnode\n"),
		procTree(t, "", map[string]string{"1": "/sbin/init\x00", "2": "/usr/bin/containerd\x00"}, nil, nil),
	} {
		if p, err := FindProcess(r); p != nil || err != nil {
			t.Errorf("found %+v, %v", p, err)
		}
	}
}

// On this machine's real /proc: a process whose argv[0] is kubelet (sleep,
// under that name) is found through the kernel's cmdline files, and its
// root is the root.
func TestFindProcessRealProc(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "kubelet")
	data, err := os.ReadFile(sleep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	cmd := exec.Command(bin, "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	r, err := hostcfg.NewRoot("/")
	if err != nil {
		t.Fatal(err)
	}
	// Other kubelets may run here (booted test nodes): one is found.
	if p, err := FindProcess(r); err != nil || p == nil || p.Distro != DistroKubelet {
		t.Fatalf("FindProcess: %+v, %v", p, err)
	}
	cmdline, err := r.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	argv := splitCmdline(cmdline)
	if classify(argv) != DistroKubelet {
		t.Fatalf("argv %q", argv)
	}
	k := Running(r, &Process{PID: cmd.Process.Pid, Argv: argv, Distro: DistroKubelet})
	if k.Unknown != "" || k.ResolvConf != DefaultResolvConf {
		t.Fatalf("got %+v", k)
	}
	// Its start, from the kernel's clock ticks after boot: between the
	// test's start and now.
	if st, ok := startTime(r, cmd.Process.Pid); !ok || st.Before(began.Add(-2*time.Second)) || st.After(time.Now().Add(2*time.Second)) {
		t.Errorf("start time %v, %v; the test began at %v", st, ok, began)
	}
}

// kubelet.service names a config that is not there, but the kubelet that
// runs is another unit's: the files describe a kubelet that does not run.
func TestRunningKubeletOfAnotherUnit(t *testing.T) {
	r := procTree(t, siteConfig+`-- etc/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml
`, map[string]string{"700": "/opt/kube/bin/kubelet\x00--config=/opt/site/kubelet.yaml\x00"},
		map[string]string{"700": "0::/system.slice/site-kubelet.service\n"}, nil)
	files, err := Discover(r, nil)
	if err != nil || !files.Present || files.ResolvConf != DefaultResolvConf {
		t.Fatalf("files: %+v, %v", files, err)
	}
	p, _ := FindProcess(r)
	k, note := Reconcile(files, Running(r, p))
	if k.ResolvConf != "/run/systemd/resolve/resolv.conf" || k.ConfigPath != "/opt/site/kubelet.yaml" || k.Unit != "site-kubelet.service" {
		t.Fatalf("got %+v", k)
	}
	if !strings.Contains(note, "kubelet runs from site-kubelet.service (pid 700)") {
		t.Errorf("note %q", note)
	}
}

// The config file changed after kubelet started: kubelet has not read it,
// and the note says so.
func TestRunningKubeletConfigChangedSinceStart(t *testing.T) {
	r := procTree(t, siteConfig+`-- proc/stat --
cpu  1 2 3
btime 1700000000
`, map[string]string{"412": "/opt/kube/bin/kubelet\x00--config=/opt/site/kubelet.yaml\x00"}, nil, nil)
	// Started 100 s after boot (10000 ticks); "(kube let)" as a name with a space.
	stat := "412 (kube let) S 1 412 412 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 10000 1 1\n"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(r.Dir(), "proc/412/stat"), []byte(stat), 0o444))
	cfg := filepath.Join(r.Dir(), "opt/site/kubelet.yaml")
	started := time.Unix(1700000100, 0)
	if st, ok := startTime(r, 412); !ok || !st.Equal(started) {
		t.Fatalf("start time %v, %v; want %v", st, ok, started)
	}
	p, _ := FindProcess(r)
	must(os.Chtimes(cfg, started, started))
	if _, note := Reconcile(&Setup{}, Running(r, p)); note != "" {
		t.Errorf("unchanged config, note %q", note)
	}
	must(os.Chtimes(cfg, started.Add(time.Hour), started.Add(time.Hour)))
	_, note := Reconcile(&Setup{}, Running(r, p))
	if !strings.Contains(note, "/opt/site/kubelet.yaml changed after kubelet (pid 412) started at 2023-11-14T22:15:00Z") {
		t.Errorf("note %q", note)
	}
}

// A kubelet in a container (a kind node on this host) with a lower PID does
// not hide the node's own.
func TestFindProcessPrefersTheNodesOwn(t *testing.T) {
	r := procTree(t, siteConfig+"-- kind/etc/hostname --\nkind\n", map[string]string{
		"10": "/usr/bin/kubelet\x00--config=/var/lib/kubelet/config.yaml\x00",
		"20": "/opt/kube/bin/kubelet\x00--config=/opt/site/kubelet.yaml\x00",
	}, nil, map[string]string{"10": "/kind"})
	if p, err := FindProcess(r); err != nil || p == nil || p.PID != 20 {
		t.Fatalf("found %+v, %v; want pid 20", p, err)
	}
}

// A tenant's container running a program named kubelet, where the node's own
// kubelet runs in a root of its own (Talos): the tenant's is never taken.
func TestFindProcessNeverATenantsPod(t *testing.T) {
	r := procTree(t, siteConfig+"-- talos/etc/hostname --\ntalos\n-- pod/etc/hostname --\npod\n", map[string]string{
		"10": "/usr/local/bin/kubelet\x00--config=/etc/kubernetes/kubelet.yaml\x00",
		"5":  "/kubelet\x00--config=/evil.yaml\x00",
	}, map[string]string{
		"10": "0::/system/kubelet\n",
		"5":  "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-ab.scope\n",
	}, map[string]string{"10": "/talos", "5": "/pod"})
	if p, err := FindProcess(r); err != nil || p == nil || p.PID != 10 {
		t.Fatalf("found %+v, %v; want pid 10, not the pod's process 5", p, err)
	}
}

// A process whose root can't be followed (no ptrace access: here, a
// /proc/PID/root that is no folder) leaves the files to decide, with a note;
// with no files either, the pod file is unknown.
func TestRunningKubeletRootDenied(t *testing.T) {
	r := procTree(t, siteConfig+`-- etc/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet --config=/opt/site/kubelet.yaml
`, map[string]string{"90": "/usr/bin/kubelet\x00--config=/opt/site/kubelet.yaml\x00"}, nil, map[string]string{"90": "/nowhere"})
	files, err := Discover(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := FindProcess(r)
	k, note := Reconcile(files, Running(r, p))
	if k != files || k.ResolvConf != "/run/systemd/resolve/resolv.conf" || !strings.Contains(note, "judged by kubelet's files") {
		t.Fatalf("got %+v, note %q", k, note)
	}
	k, note = Reconcile(&Setup{}, Running(r, p))
	if k.ResolvConfSource != "unknown" || !strings.Contains(note, "can't be opened") {
		t.Fatalf("no files: got %+v, note %q", k, note)
	}
}
