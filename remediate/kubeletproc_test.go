package remediate

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// procNode is a node whose host file is resolved's stub content, with a fake
// /proc holding one process (argv NUL-separated, its root the node's /).
func procNode(t *testing.T, argv string, files map[string]string) string {
	t.Helper()
	files["etc/resolv.conf"] = "nameserver 127.0.0.53\noptions edns0 trust-ad\n"
	files["proc/300/cmdline"] = argv
	dir := hostcfgtest.Files(t, files)
	if err := os.Symlink("/", filepath.Join(dir, "proc/300/root")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Online, a kubelet that runs in a way unloop does not know (MicroShift's
// in-process kubelet, no layout of its own here) gives no verdict on a pod
// file it would have to guess; offline, with no kubelet process to see, the
// host file is judged as before.
func TestCheckUnknownRunningKubeletIsNoLoop(t *testing.T) {
	root := mustRoot(t, procNode(t, "/usr/bin/microshift\x00run\x00", map[string]string{}))
	bus := &restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}
	rep, _, err := Check(context.Background(), node.Env{Root: root, Bus: bus}, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "ok" || len(rep.Findings) != 0 {
		t.Errorf("online: status %s, findings %+v; want no verdict", rep.Status, rep.Findings)
	}
	if rep.Kubelet.Source != "unknown" || rep.Kubelet.ResolvConf != "" || !strings.Contains(strings.Join(rep.Notes, "\n"), "microshift (pid 300)") {
		t.Errorf("online: kubelet %+v, notes %q; want unknown, said why", rep.Kubelet, rep.Notes)
	}
	rep, _, err = Check(context.Background(), node.Env{Root: root}, node.Options{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "error" {
		t.Errorf("offline: status %s; want the host file's loop, judged as before", rep.Status)
	}
}

// Online, kubelet's process names a config no layout knows; that config's
// resolvConf is the pod file.
func TestCheckRunningKubeletConfig(t *testing.T) {
	root := mustRoot(t, procNode(t, "/opt/kube/bin/kubelet\x00--config\x00/opt/site/kubelet.yaml\x00", map[string]string{
		"opt/site/kubelet.yaml": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /etc/site-resolv.conf\n",
		"etc/site-resolv.conf":  "nameserver 192.0.2.53\n",
	}))
	bus := &restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}
	rep, _, err := Check(context.Background(), node.Env{Root: root, Bus: bus}, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "ok" || rep.ResolvConf.Path != "/etc/site-resolv.conf" || rep.Kubelet.Config != "/opt/site/kubelet.yaml" || !rep.Kubelet.Present || rep.Kubelet.PID != 300 {
		t.Errorf("status %s, pod file %s, kubelet %+v, findings %+v", rep.Status, rep.ResolvConf.Path, rep.Kubelet, rep.Findings)
	}
}

// checkOnline runs check on dir with a bus that answers, as online.
func checkOnline(t *testing.T, dir string, ifaces ...netip.Addr) *node.Report {
	t.Helper()
	bus := &restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}
	env := node.Env{Root: mustRoot(t, dir), Bus: bus}
	if ifaces != nil {
		env.Interfaces = func() ([]node.Iface, error) { return []node.Iface{{Name: "eth0", Addrs: ifaces}}, nil }
	}
	rep, _, err := Check(context.Background(), env, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func codesOf(rep *node.Report) string {
	var out []string
	for _, f := range rep.Findings {
		if f.Code == finding.CodeNoUpstream {
			continue // follows from the loops: every server named loops
		}
		out = append(out, fmt.Sprintf("%s %s:%d %s", f.Code, f.File, f.Line, f.Address))
	}
	return strings.Join(out, "; ")
}

// Talos v1.12.0: kubelet runs in a container of its own (root /ctr here,
// cgroup /podruntime/kubelet) with --config=/etc/kubernetes/kubelet.yaml,
// whose resolvConf is /system/resolved/resolv.conf. Its pod file is judged
// as the kubelet's pods get it, not reported unknown: bound from the node
// (a hard link here), its clusterDNS is a loop; a file of the container's
// own, apart from the node's, is read through /proc/PID/root.
func TestCheckContainerizedKubeletTalos(t *testing.T) {
	const cfg = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDNS:\n  - 10.96.0.10\nresolvConf: /system/resolved/resolv.conf\n"
	build := func(shared bool) string {
		files := map[string]string{
			"etc/kubernetes/kubelet.yaml":     cfg,
			"ctr/etc/kubernetes/kubelet.yaml": cfg,
			"system/resolved/resolv.conf":     "nameserver 10.96.0.10\n",
			"ctr/system/resolved/resolv.conf": "nameserver 127.0.0.53\n",
			"etc/resolv.conf":                 "nameserver 127.0.0.53\n",
			"proc/2014/cmdline":               "/usr/local/bin/kubelet\x00--config=/etc/kubernetes/kubelet.yaml\x00",
			"proc/2014/cgroup":                "0::/podruntime/kubelet\n",
		}
		dir := hostcfgtest.Files(t, files)
		if err := os.Symlink("/ctr", filepath.Join(dir, "proc/2014/root")); err != nil {
			t.Fatal(err)
		}
		if !shared {
			// The container's file is its own resolved's stub file, by the
			// link resolved would make: a stub the node's stub strategy
			// would think its own.
			p := filepath.Join(dir, "ctr/system/resolved/resolv.conf")
			stub := filepath.Join(dir, "ctr/run/systemd/resolve/stub-resolv.conf")
			if err := os.MkdirAll(filepath.Dir(stub), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(stub, []byte("# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\nnameserver 127.0.0.53\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/run/systemd/resolve/stub-resolv.conf", p); err != nil {
				t.Fatal(err)
			}
		}
		if shared {
			p := filepath.Join(dir, "ctr/system/resolved/resolv.conf")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(dir, "system/resolved/resolv.conf"), p); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	rep := checkOnline(t, build(true))
	if rep.ResolvConf.Path != "/system/resolved/resolv.conf" || rep.Kubelet.Source != "config" || rep.Kubelet.PID != 2014 ||
		codesOf(rep) != "nameserver-cluster-dns /system/resolved/resolv.conf:1 10.96.0.10" {
		t.Errorf("bound from the node: pod file %q, kubelet %+v, findings %s", rep.ResolvConf.Path, rep.Kubelet, codesOf(rep))
	}
	rep = checkOnline(t, build(false))
	if rep.ResolvConf.Path != "/system/resolved/resolv.conf" || codesOf(rep) != "nameserver-resolved-stub /system/resolved/resolv.conf:2 127.0.0.53" ||
		!strings.Contains(strings.Join(rep.Notes, "\n"), "/proc/2014/root") {
		t.Errorf("the container's own file: pod file %q, findings %s, notes %q", rep.ResolvConf.Path, codesOf(rep), rep.Notes)
	}
	// The node has a file at that path too: no strategy that edits the node
	// (stub, a file) may be offered for the container's own.
	for _, f := range rep.Findings {
		if f.Code == finding.CodeResolvedStub && !slices.Equal(f.Fixes, []string{"kubelet"}) {
			t.Errorf("the container's own file: %s offers %v, want only kubelet's own setting", f.Code, f.Fixes)
		}
	}
}

// k3s's command-line-only settings, from the running process's argv: each
// form gives the verdict kubelet's pods get.
func TestCheckK3sCommandLine(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	tests := []struct {
		name, argv string
		ifaces     []netip.Addr
		want       string
		ns         string
	}{
		{"--kubelet-arg=resolv-conf= on an IPv4 node", "--kubelet-arg=resolv-conf=", []netip.Addr{v4, v6}, "nameserver-loopback /proc/300/cmdline:0 127.0.0.1", "[127.0.0.1]"},
		{"--kubelet-arg=resolv-conf= on an IPv6-only node", "--kubelet-arg=resolv-conf=", []netip.Addr{v6}, "nameserver-loopback /proc/300/cmdline:0 ::1", "[::1]"},
		{"--kubelet-arg=resolv-conf= with --node-ip of both families", "--kubelet-arg=resolv-conf=\x00--node-ip=192.0.2.10,2001:db8::10", []netip.Addr{v4}, "nameserver-loopback /proc/300/cmdline:0 127.0.0.1; nameserver-loopback /proc/300/cmdline:0 ::1", "[127.0.0.1 ::1]"},
		{"--resolv-conf naming k3s's default cluster DNS", "--resolv-conf=/etc/k3s-resolv.conf", []netip.Addr{v4}, "nameserver-cluster-dns /etc/k3s-resolv.conf:1 10.43.0.10", "[10.43.0.10]"},
		{"--cluster-dns", "--resolv-conf=/etc/site-resolv.conf\x00--cluster-dns=192.0.2.53", []netip.Addr{v4}, "nameserver-cluster-dns /etc/site-resolv.conf:1 192.0.2.53", "[192.0.2.53]"},
		{"--kubelet-arg=cluster-dns=", "--resolv-conf\x00/etc/site-resolv.conf\x00--kubelet-arg=cluster-dns=192.0.2.53", []netip.Addr{v4}, "nameserver-cluster-dns /etc/site-resolv.conf:1 192.0.2.53", "[192.0.2.53]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := procNode(t, "/usr/local/bin/k3s\x00server\x00"+tt.argv+"\x00", map[string]string{
				"etc/k3s-resolv.conf":  "nameserver 10.43.0.10\n",
				"etc/site-resolv.conf": "nameserver 192.0.2.53\n",
			})
			rep := checkOnline(t, dir, tt.ifaces...)
			if got := codesOf(rep); got != tt.want || fmt.Sprint(rep.ResolvConf.Nameservers) != tt.ns || rep.Kubelet.Distro != "k3s" {
				t.Errorf("findings %s, nameservers %v, kubelet %+v; want %s, %s", got, rep.ResolvConf.Nameservers, rep.Kubelet, tt.want, tt.ns)
			}
		})
	}
}

// Offline, the same flags from k3s's unit's ExecStart.
func TestCheckK3sUnitClusterDNS(t *testing.T) {
	dir := hostcfgtest.Files(t, map[string]string{
		"etc/systemd/system/k3s.service": "[Service]\nExecStart=/usr/local/bin/k3s server --cluster-dns=10.45.0.10 --resolv-conf=/etc/k3s-resolv.conf\n",
		"etc/k3s-resolv.conf":            "nameserver 10.45.0.10\n",
		"etc/resolv.conf":                "nameserver 192.0.2.53\n",
	})
	rep, _, err := Check(context.Background(), node.Env{Root: mustRoot(t, dir)}, node.Options{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := codesOf(rep); got != "nameserver-cluster-dns /etc/k3s-resolv.conf:1 10.45.0.10" {
		t.Errorf("findings %s", got)
	}
}

// RKE1 v1.6.3: kubelet is the Docker container "kubelet" (root /ctr here),
// started by rke-tools v0.1.111's entrypoint.sh with RKE's
// --resolv-conf=/etc/resolv.conf and, as systemd-resolved runs, its own
// --resolv-conf=/run/systemd/resolve/resolv.conf after it; /run is bound
// from the node. check names resolved's uplink file, the node's own.
func TestCheckContainerizedKubeletRKE1(t *testing.T) {
	argv := []string{"kubelet", "--client-ca-file=/etc/kubernetes/ssl/kube-ca.pem", "--cluster-dns=10.43.0.10", "--cluster-domain=cluster.local",
		"--hostname-override=node-1", "--resolv-conf=/etc/resolv.conf", "--root-dir=/var/lib/kubelet", "--cgroup-driver=cgroupfs", "--resolv-conf=/run/systemd/resolve/resolv.conf"}
	dir := hostcfgtest.Files(t, map[string]string{
		"etc/resolv.conf":                 "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
		"run/systemd/resolve/resolv.conf": "nameserver 10.43.0.10\nnameserver 192.0.2.53\n",
		"ctr/etc/hostname":                "node-1\n",
		"proc/3100/cmdline":               strings.Join(argv, "\x00") + "\x00",
		"proc/3100/cgroup":                "0::/system.slice/docker-4f1c2d.scope\n",
	})
	if err := os.Symlink("/ctr", filepath.Join(dir, "proc/3100/root")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "ctr/run/systemd/resolve/resolv.conf")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "run/systemd/resolve/resolv.conf"), p); err != nil {
		t.Fatal(err)
	}
	rep := checkOnline(t, dir)
	if rep.ResolvConf.Path != "/run/systemd/resolve/resolv.conf" || rep.Kubelet.Source != "flag" || rep.Kubelet.PID != 3100 ||
		codesOf(rep) != "nameserver-cluster-dns /run/systemd/resolve/resolv.conf:1 10.43.0.10" {
		t.Errorf("pod file %q, kubelet %+v, findings %s", rep.ResolvConf.Path, rep.Kubelet, codesOf(rep))
	}
}
