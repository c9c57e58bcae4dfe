package testbed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
)

// TestKubelet boots nodes with the real kubelet and two static pods of
// CoreDNS forwarding to the upstream: node-local-dns (hostNetwork, on
// 169.254.25.10) and coredns on the pod network (a CNI bridge). Both answer,
// kubelet made their sandboxes with a copy of the node's resolv.conf, and
// when the node goes its pods' cgroups on this machine go too.
func TestKubelet(t *testing.T) {
	ForEachRelease(t, func(t *testing.T, release string) {
		nw := NewNet(t, "ultk", "10.94")
		nw.AddNodeAddr()
		// kubelet wants a default route; the upstream routes the pod
		// network back to the node (no masquerade).
		nw.IP("-n", nw.NodeNS, "route", "add", "default", "via", nw.Upstream)
		nw.IP("-n", nw.NetNS, "route", "add", "10.244.0.0/24", "via", nw.NodeAddr)
		nw.IP("-n", nw.NodeNS, "addr", "add", "169.254.25.10/32", "dev", "lo")
		// The bridge plugin turns forwarding on unless it is on: the node's
		// /proc/sys is read-only, the namespace is the test's.
		if out, err := exec.Command("nsenter", "--net=/run/netns/"+nw.NodeNS, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
			t.Fatalf("ip_forward in the node's namespace: %v: %s", err, out)
		}
		n := node.Boot(t, KubeletOptions(t, node.Options{Release: release, NetNS: nw.NodeNS, Files: map[string]node.File{
			"/etc/node-local-dns/Corefile": {Data: []byte(".:53 {\n    bind 169.254.25.10\n    loop\n    forward . /etc/resolv.conf\n}\n")},
			"/etc/coredns/Corefile":        {Data: []byte(".:53 {\n    loop\n    forward . /etc/resolv.conf\n}\n")},
		}}))
		if err := n.Symlink("/run/upstream-resolv.conf", "/etc/resolv.conf"); err != nil {
			t.Fatal(err)
		}
		if err := n.WriteFile("/run/upstream-resolv.conf", []byte("nameserver "+nw.Upstream+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		StartKubelet(t, n, KubeletConfigFor(n, ""))
		AddPod(t, n, Pod{Name: "node-local-dns", HostNetwork: true, Labels: map[string]string{"k8s-app": "node-local-dns"}, ConfigDir: "/etc/node-local-dns"})
		AddPod(t, n, Pod{Name: "coredns", Labels: map[string]string{"k8s-app": "kube-dns"}, ConfigDir: "/etc/coredns"})

		for _, pod := range []struct{ name, server string }{{"node-local-dns", "169.254.25.10"}, {"coredns", ""}} {
			var sb Sandbox
			if !Poll(2*time.Minute, func() bool {
				sbs := Sandboxes(t, n, pod.name)
				if len(sbs) == 0 || sbs[0].State != "SANDBOX_READY" {
					return false
				}
				sb = sbs[0]
				return true
			}) {
				log, _ := n.Exec(t.Context(), "sh", "-c", "journalctl -b --no-pager -o cat -u kubelet.service -u containerd.service | grep -E '^E|level=error' | tail -15")
				t.Fatalf("%s's sandbox not ready within 2 minutes:\n%s", pod.name, log)
			}
			server := pod.server
			if server == "" {
				if !strings.HasPrefix(sb.IP, "10.244.0.") {
					t.Fatalf("%s's IP %q: want one on the pod network 10.244.0.0/24", pod.name, sb.IP)
				}
				server = sb.IP
			}
			var ans string
			if !Poll(time.Minute, func() bool { ans, _ = Dig(n, server); return ans == "192.0.2.10" }) {
				t.Fatalf("%s (%s) answers %q for example.test, want 192.0.2.10\ncontainers: %+v\n%s", pod.name, server, ans,
					Containers(t, n, sb.ID), n.Run("journalctl", "-b", "-u", "kubelet", "--no-pager", "-n", "40"))
			}
			copy, err := n.ReadFile("/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + sb.ID + "/resolv.conf")
			if err != nil || !strings.Contains(string(copy), "nameserver "+nw.Upstream) {
				t.Errorf("%s's sandbox copy of the pod file: %q, %v; want the node's nameserver %s", pod.name, copy, err, nw.Upstream)
			}
			t.Logf("%s answers on %s, %v after kubelet was started", pod.name, server, time.Since(start).Round(time.Millisecond))
		}

		root := n.PodCgroupRoot()
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*" + root + "/kubepods")
		if len(dirs) == 0 {
			t.Errorf("no kubepods cgroup under %s on this machine: the pods ran elsewhere", root)
		}
		if err := n.Poweroff(); err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Dir(d)); err == nil {
				t.Errorf("%s is still there after poweroff", filepath.Dir(d))
			}
		}
	})
}
