package remediate

import (
	"context"
	"maps"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/remediate/node"
	dnsprobe "github.com/unloop/unloop/remediate/probe"
)

// TestFieldKubelets checks the node trees of kubelets that live elsewhere
// than a kubelet.service of kubeadm's: k3s, RKE2, --config-dir (EKS's
// nodeadm), MicroK8s, Canonical Kubernetes, k0s, MicroShift, Talos, Bottlerocket and AKS. Each tree names the
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
		{"talos", "ok", "talos", "/system/resolved/resolv.conf", "kubelet", ""},
		{"talos-loop", "error", "talos", "/system/resolved/resolv.conf", "kubelet", ""},
		{"microshift", "ok", "microshift", "/run/systemd/resolve/resolv.conf", "microshift.service", ""},
		{"microshift-loop", "error", "microshift", "/etc/resolv.conf", "microshift.service", ""},
		{"bottlerocket", "ok", "kubelet", "/run/netdog/resolv.conf", "kubelet.service", ""},
		{"bottlerocket-loop", "error", "kubelet", "/run/netdog/resolv.conf", "kubelet.service", ""},
		{"bottlerocket-boot", "ok", "kubelet", "/run/netdog/resolv.conf", "kubelet.service", ""},
		{"aks", "ok", "kubelet", "/run/systemd/resolve/resolv.conf", "kubelet.service", ""},
		{"aks-loop", "error", "kubelet", "/etc/resolv.conf", "kubelet.service", ""},
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

// localDNS serves on a loopback port, answering every question with rcode.
func localDNS(t *testing.T, rcode int) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(r, rcode)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// k3s's fallback file names 8.8.8.8: online, unloop asks it (here through an
// injected prober that sends the question to a local server instead, so the
// test never leaves the machine) and warns when it does not answer; offline
// it says it could not ask.
func TestK3sFallbackProbe(t *testing.T) {
	tests := []struct {
		name    string
		offline bool
		rcode   int
		note    string // "" : no note about 8.8.8.8
	}{
		{"answers", false, dns.RcodeSuccess, ""},
		{"refused", false, dns.RcodeRefused, "8.8.8.8 does not answer from this node (answered REFUSED)"},
		{"offline", true, dns.RcodeSuccess, "offline, unloop can't tell whether 8.8.8.8 answers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "k3s-fallback.txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			server := localDNS(t, tt.rcode)
			var asked []netip.Addr
			probe := func(ctx context.Context, a netip.Addr) error {
				asked = append(asked, a)
				return dnsprobe.At(ctx, server)
			}
			rep, _, err := Check(context.Background(), node.Env{Root: root, Probe: probe}, node.Options{Offline: tt.offline})
			if err != nil {
				t.Fatal(err)
			}
			var got string
			for _, n := range rep.Notes {
				if strings.Contains(n, "8.8.8.8") {
					got = n
				}
			}
			if tt.note == "" && got != "" || !strings.Contains(got, tt.note) {
				t.Errorf("note %q, want one saying %q", got, tt.note)
			}
			if want := !tt.offline; want != slices.Contains(asked, netip.MustParseAddr("8.8.8.8")) {
				t.Errorf("asked %v; 8.8.8.8 asked should be %v", asked, want)
			}
		})
	}
}

// On k0s unloop changes nothing: apply fails, the node is untouched, and the
// error is the edit to make in k0s.yaml.
func TestK0sByHand(t *testing.T) {
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "k0s.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	before := hostcfgtest.State(t, dir, nil)
	opts := treeOptions(t, comment)
	opts.Strategies = []string{node.StrategyKubelet}
	_, err = Apply(context.Background(), node.Env{Root: root}, opts)
	if err == nil {
		t.Fatal("apply succeeded on k0s")
	}
	for _, want := range []string{"/etc/k0s/k0s.yaml", "workerProfiles:", "resolvConf: /run/systemd/resolve/resolv.conf", "--profile=" + kubelet.K0sProfile, "k0sworker.service"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
		t.Errorf("apply changed the node")
	}
}

// A site's drop-in that kubelet or k3s reads after any name unloop can give
// its own file decides the pod file whatever unloop writes: apply refuses at
// plan time, names that file, and writes nothing.
func TestDropInCannotWin(t *testing.T) {
	for tree, site := range map[string]string{
		"kubelet-config-dir-last": "/etc/kubernetes/kubelet.conf.d/zzz-site.conf",
		"k3s-config-d-last":       "/etc/rancher/k3s/config.yaml.d/zzz-site.yaml",
	} {
		t.Run(tree, func(t *testing.T) {
			dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tree+".txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			before := hostcfgtest.State(t, dir, nil)
			env, opts := node.Env{Root: root}, treeOptions(t, comment)
			if _, err := MakePlan(context.Background(), env, opts); err == nil || !strings.Contains(err.Error(), site) {
				t.Errorf("plan: %v, want a refusal naming %s", err, site)
			}
			if _, err := Apply(context.Background(), env, opts); err == nil || !strings.Contains(err.Error(), site) {
				t.Errorf("apply: %v, want a refusal naming %s", err, site)
			}
			if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
				t.Errorf("apply changed the node")
			}
		})
	}
}
