package remediate

import (
	"strings"
	"testing"
)

// TestFieldKubelets checks the node trees of kubelets that live elsewhere
// than a kubelet.service of kubeadm's: k3s, RKE2, --config-dir (EKS's
// nodeadm), MicroK8s, Canonical Kubernetes and k0s. Each tree names the
// project and version its files come from. The whole report is compared with
// a golden file; plan, apply and rollback are in TestStrategies.
func TestFieldKubelets(t *testing.T) {
	tests := []struct {
		tree, status, distro, pod, unit, node string
	}{
		{"k3s-autodetect-clean", "ok", "k3s", "/run/systemd/resolve/resolv.conf", "k3s.service", ""},
		{"k3s-autodetect", "warning", "k3s", "/run/systemd/resolve/resolv.conf", "k3s.service", ""},
		{"k3s-fallback", "ok", "k3s", "/var/lib/rancher/k3s/agent/etc/resolv.conf", "k3s-agent.service", ""},
		{"k3s-config-d", "error", "k3s", "/etc/resolv.conf", "k3s.service", "k3s-node-1"},
		{"k3s-config-d-clean", "ok", "k3s", "/run/systemd/resolve/resolv.conf", "k3s.service", ""},
		{"k3s-kubelet-arg", "error", "k3s", "/etc/resolv.conf", "k3s.service", ""},
		{"rke2-server", "error", "rke2", "/etc/resolv.conf", "rke2-server.service", ""},
		{"rke2-agent", "error", "rke2", "/etc/resolv.conf", "rke2-agent.service", ""},
		{"rke2-agent-clean", "ok", "rke2", "/run/systemd/resolve/resolv.conf", "rke2-agent.service", ""},
		{"eks-al2023-nodeadm", "error", "kubelet", "/etc/resolv.conf", "kubelet.service", "ip-10-0-0-42.ec2.internal"},
		{"eks-al2023-nodeadm-clean", "ok", "kubelet", "/run/systemd/resolve/resolv.conf", "kubelet.service", "ip-10-0-0-42.ec2.internal"},
		{"kubelet-config-dir", "error", "kubelet", "/etc/resolv.conf", "kubelet.service", ""},
		{"kubelet-config-dir-clean", "ok", "kubelet", "/run/systemd/resolve/resolv.conf", "kubelet.service", ""},
		{"microk8s", "error", "microk8s", "/etc/resolv.conf", "snap.microk8s.daemon-kubelite.service", ""},
		{"microk8s-clean", "ok", "microk8s", "/run/systemd/resolve/resolv.conf", "snap.microk8s.daemon-kubelite.service", ""},
		{"k8s-snap", "error", "k8s-snap", "/etc/resolv.conf", "snap.k8s.kubelet.service", "k8s-node-1"},
		{"k8s-snap-clean", "ok", "k8s-snap", "/run/systemd/resolve/resolv.conf", "snap.k8s.kubelet.service", "k8s-node-1"},
		{"k0s", "error", "k0s", "/etc/resolv.conf", "k0sworker.service", ""},
		{"k0s-clean", "ok", "k0s", "/run/systemd/resolve/resolv.conf", "k0sworker.service", ""},
	}
	for _, tt := range tests {
		t.Run(tt.tree, func(t *testing.T) {
			rep, _ := checkTree(t, tt.tree)
			k := rep.Kubelet
			if rep.Status != tt.status || k.Distro != tt.distro || k.ResolvConf != tt.pod || k.Unit != tt.unit || k.NodeName != tt.node {
				t.Errorf("status %q distro %q pod file %q unit %q node %q; want %q %q %q %q %q (findings %q)",
					rep.Status, k.Distro, k.ResolvConf, k.Unit, k.NodeName, tt.status, tt.distro, tt.pod, tt.unit, tt.node, codes(rep.Findings))
			}
			if !k.Present {
				t.Error("kubelet not found")
			}
			for _, f := range rep.Findings {
				if strings.Contains(f.Message, "no kubelet found") {
					t.Errorf("%s says no kubelet: %s", f.Code, f.Message)
				}
			}
			goldenCheck(t, tt.tree, rep)
		})
	}
}
