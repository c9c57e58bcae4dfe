package remediate

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/document"
	"github.com/unloop/unloop/remediate/node"
)

var update = flag.Bool("update", false, "rewrite golden files")

// treeOptions reads "key: value" lines of a tree's comment as options.
func treeOptions(t *testing.T, comment string) node.Options {
	o := node.Options{Offline: true}
	for _, line := range strings.Split(comment, "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		switch k {
		case "local-ip":
			o.LocalIPs = append(o.LocalIPs, netip.MustParseAddr(v))
		case "upstream":
			o.Upstreams = append(o.Upstreams, netip.MustParseAddr(v))
		case "corefile":
			o.Corefiles = append(o.Corefiles, v)
		case "dns-upstreams":
			o.DNSUpstreams = append(o.DNSUpstreams, netip.MustParseAddr(v))
		}
	}
	return o
}

func checkTree(t *testing.T, name string) (*node.Report, *node.Node) {
	t.Helper()
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", name+".txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, n, err := Check(context.Background(), node.Env{Root: root}, treeOptions(t, comment))
	if err != nil {
		t.Fatal(err)
	}
	return rep, n
}

func codes(fs []node.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, string(f.Code)+"@"+f.File+":"+itoa(f.Line))
	}
	return out
}

func itoa(i int) string { return strconv.Itoa(i) }

// nlPod is the node-local-dns pods' folder in the addon's trees, but its last two digits.
const nlPod = "/var/lib/kubelet/pods/0b1c2d3e-4f50-4617-8829-3a4b5c6d7e"

// TestAnalyzeNodes runs check over node trees written from the field's facts;
// the codes are asserted here, the whole report against a golden file.
func TestAnalyzeNodes(t *testing.T) {
	tests := []struct {
		name      string
		status    string
		generator string
		codes     []string
		fixes     []string // of the first finding
	}{
		{"ubuntu-2004-kubeadm-stub", "error", "systemd-resolved-stub",
			[]string{"nameserver-resolved-stub@/etc/resolv.conf:21"}, []string{"kubelet", "stub"}},
		{"ubuntu-1804-no-kubelet-stub", "error", "systemd-resolved-stub",
			[]string{"nameserver-resolved-stub@/etc/resolv.conf:21"}, []string{"stub"}},
		{"ubuntu-2204-kubeadm-fixed", "ok", "systemd-resolved-uplink", nil, nil},
		{"ubuntu-2404-uplink", "ok", "systemd-resolved-uplink", nil, nil},
		{"ubuntu-typo-path", "error", "",
			[]string{"kubelet-resolvconf-missing@/var/lib/kubelet/config.yaml:10"}, []string{"kubelet"}},
		{"ubuntu-misspelled-key", "error", "systemd-resolved-stub",
			[]string{"kubelet-resolvconf-misspelled@/var/lib/kubelet/config.yaml:10", "nameserver-resolved-stub@/etc/resolv.conf:21"}, []string{"kubelet"}},
		{"ubuntu-flag-beats-config", "ok", "systemd-resolved-uplink", nil, nil},
		{"ubuntu-flag-loops", "error", "systemd-resolved-stub",
			[]string{"nameserver-resolved-stub@/etc/resolv.conf:21"}, []string{"kubelet", "stub"}},
		{"ubuntu-kubespray-resolved-dns", "error", "systemd-resolved-uplink",
			[]string{"nameserver-node-local-dns@/run/systemd/resolve/resolv.conf:4", "resolved-upstream-loop@/etc/systemd/resolved.conf.d/kubespray.conf:2"}, []string{"kubelet"}},
		{"rhel-kubespray-dhclient", "error", "dhclient",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:3", "dhclient-injects-nameserver@/etc/dhcp/dhclient.conf:2"}, []string{"dhclient", "kubelet"}},
		{"debian-dhclient-headerless", "error", "dhclient",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:3"}, []string{"dhclient"}},
		{"networkmanager-global-dns", "error", "networkmanager",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:3", "networkmanager-injects-nameserver@/etc/NetworkManager/conf.d/90-dns.conf:2"}, []string{"networkmanager"}},
		// Fixed where NetworkManager reads the server first (issue 24).
		{"networkmanager-keyfile-dns", "error", "networkmanager",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:3", "networkmanager-injects-nameserver@/etc/NetworkManager/system-connections/eth0.nmconnection:10"}, []string{"networkmanager", "kubelet"}},
		{"networkmanager-ifcfg-dns", "error", "networkmanager",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:2", "networkmanager-injects-nameserver@/etc/sysconfig/network-scripts/ifcfg-eth0:8"}, []string{"networkmanager", "kubelet"}},
		{"resolvconf-loopback", "error", "resolvconf",
			[]string{"nameserver-loopback@/etc/resolv.conf:3", "no-upstream@:0"}, []string{}},
		// Debian's resolvconf as the source (issue 24): the input that names the address, fixed there.
		{"debian-resolvconf-head", "error", "resolvconf",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:3", "resolvconf-injects-nameserver@/etc/resolvconf/resolv.conf.d/head:3"}, []string{"resolvconf", "kubelet"}},
		{"debian-resolvconf-base", "error", "resolvconf",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:4", "resolvconf-injects-nameserver@/etc/resolvconf/resolv.conf.d/base:2"}, []string{"resolvconf", "kubelet"}},
		{"debian-resolvconf-dnsmasq", "error", "resolvconf",
			[]string{"nameserver-loopback@/etc/resolv.conf:3", "resolvconf-injects-nameserver@/run/resolvconf/interface/lo.dnsmasq:1"}, []string{"resolvconf", "kubelet"}},
		// openresolv as the source (issue 24): resolvconf.conf's line fixed there, a record by kubelet.
		{"openresolv-name-servers", "error", "resolvconf",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:3", "resolvconf-injects-nameserver@/etc/resolvconf.conf:5"}, []string{"openresolv", "kubelet"}},
		{"openresolv-local-only", "error", "resolvconf",
			[]string{"nameserver-loopback@/etc/resolv.conf:3", "resolvconf-injects-nameserver@/etc/resolvconf.conf:3"}, []string{"openresolv", "kubelet"}},
		{"openresolv-record", "error", "resolvconf",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:2", "resolvconf-injects-nameserver@/run/resolvconf/interfaces/eth0:2"}, []string{"openresolv", "kubelet"}},
		{"openresolv-unknown", "error", "resolvconf",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:2"}, []string{"kubelet"}},
		{"debian-resolvconf-unreadable", "error", "resolvconf",
			[]string{"unreadable@/etc/resolvconf/resolv.conf.d/head:0", "nameserver-node-local-dns@/etc/resolv.conf:3"}, []string{}},
		{"docker-corefile", "error", "unknown",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:1", "corefile-forward-loop@/etc/coredns/Corefile:9", "corefile-forward-loop@/etc/coredns/Corefile:15"}, []string{"corefile"}},
		{"ipv6", "error", "unknown",
			[]string{"nameserver-loopback@/etc/resolv.conf:1", "nameserver-zone-index@/etc/resolv.conf:2"}, []string{}},
		{"gcp-metadata", "ok", "dhclient", nil, nil},
		{"limits-local", "warning", "unknown",
			[]string{"nameserver-local-address@/etc/resolv.conf:2", "nameserver-limit@/etc/resolv.conf:5", "search-limit@/etc/resolv.conf:1"}, nil},
		{"no-upstream", "error", "unknown",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:1", "no-upstream@:0"}, []string{}},
		{"demo-dhclient-node-local-dns", "error", "dhclient",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:3", "nameserver-node-local-dns@/etc/resolv.conf:4", "dhclient-injects-nameserver@/etc/dhcp/dhclient.conf:4", "corefile-forward-loop@/etc/coredns/Corefile:6", "corefile-forward-loop@/etc/coredns/Corefile:6"}, []string{"dhclient", "kubelet"}},
		{"upstream-given", "error", "dhclient",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:1"}, []string{"dhclient"}},
		{"kubespray-upstream-dns-servers", "ok", "kubespray", nil, nil},
		{"kubespray-default", "error", "kubespray",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:4"}, []string{"kubelet"}},
		{"kubespray-pods-containerd", "error", "kubespray",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:4", "pod-resolv-conf-stale@/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/4a5b6c7d8e9f00112233445566778899aabbccddeeff00112233445566778899/resolv.conf:4"}, []string{"kubelet"}},
		{"crio-stale-copy", "error", "systemd-resolved-uplink",
			[]string{"pod-resolv-conf-stale@/var/lib/containers/storage/overlay-containers/c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0/userdata/resolv.conf:1"}, []string{}},
		{"nodelocaldns-self-forward", "error", "unknown",
			[]string{"corefile-forward-loop@" + nlPod + "8f/volumes/kubernetes.io~configmap/config-volume/Corefile.base:10",
				"corefile-forward-loop@" + nlPod + "8f/volumes/kubernetes.io~configmap/config-volume/Corefile.base:22",
				"corefile-forward-loop@" + nlPod + "8f/volumes/kubernetes.io~configmap/config-volume/Corefile.base:33"}, []string{}},
		{"nodelocaldns-addon", "ok", "unknown", nil, nil},
		{"kind-docker-engine", "ok", "docker", nil, nil},
		{"kubeadm-coredns-stub-copy", "error", "unknown",
			[]string{"nameserver-resolved-stub@/etc/resolv.conf:21"}, []string{"kubelet"}},
		{"k3s-coredns-manifest", "ok", "dhclient", nil, nil},
		{"fedora-networkmanager-resolved", "error", "systemd-resolved-stub",
			[]string{"nameserver-resolved-stub@/etc/resolv.conf:21"}, []string{"kubelet", "stub"}},
		{"ubuntu-1604-networkmanager-dnsmasq", "error", "networkmanager",
			[]string{"nameserver-loopback@/etc/resolv.conf:3", "networkmanager-injects-nameserver@/etc/NetworkManager/NetworkManager.conf:3"}, []string{"networkmanager", "kubelet"}},
		// NetworkManager's DNS modes (issue 24): dns=dnsmasq is fixed at its source unless what it would write instead
		// loops too; with resolved, its keyfile's server is traced through resolved's uplink file.
		{"networkmanager-dnsmasq", "error", "networkmanager",
			[]string{"nameserver-loopback@/etc/resolv.conf:2", "networkmanager-injects-nameserver@/etc/NetworkManager/conf.d/dns.conf:3"}, []string{"networkmanager", "kubelet"}},
		{"networkmanager-dnsmasq-lease-loops", "error", "networkmanager",
			[]string{"nameserver-loopback@/etc/resolv.conf:2", "networkmanager-injects-nameserver@/etc/NetworkManager/conf.d/dns.conf:3"}, []string{"kubelet"}},
		{"networkmanager-resolved-keyfile", "error", "systemd-resolved-uplink",
			[]string{"nameserver-node-local-dns@/run/systemd/resolve/resolv.conf:3", "networkmanager-injects-nameserver@/etc/NetworkManager/system-connections/eth0.nmconnection:9"}, []string{"networkmanager", "kubelet"}},
		{"zero-address", "error", "unknown",
			[]string{"nameserver-loopback@/etc/resolv.conf:1", "nameserver-loopback@/etc/resolv.conf:2", "corefile-forward-loop@/etc/coredns/Corefile:2"}, []string{"kubelet"}},
		{"ubuntu-networkd-node-local-dns", "error", "systemd-resolved-uplink",
			[]string{"nameserver-node-local-dns@/run/systemd/resolve/resolv.conf:17", "networkd-injects-nameserver@/run/systemd/network/10-netplan-eth0.network:7"}, []string{"networkd", "kubelet"}},
		{"ubuntu-networkd-clean", "ok", "systemd-resolved-uplink", nil, nil},
		{"networkd-dhcp-lease", "error", "systemd-resolved-uplink",
			[]string{"nameserver-node-local-dns@/run/systemd/resolve/resolv.conf:17", "networkd-injects-nameserver@/run/systemd/netif/leases/2:8"}, []string{"networkd", "kubelet"}},
		// netplan's YAML as the source (issue 24): its line, not the file it renders.
		{"netplan-networkd", "error", "systemd-resolved-uplink",
			[]string{"nameserver-node-local-dns@/run/systemd/resolve/resolv.conf:17", "netplan-injects-nameserver@/etc/netplan/50-cloud-init.yaml:9"}, []string{"netplan", "kubelet"}},
		{"netplan-dhcp-lease", "error", "systemd-resolved-uplink",
			[]string{"nameserver-node-local-dns@/run/systemd/resolve/resolv.conf:17", "netplan-injects-nameserver@/etc/netplan/50-cloud-init.yaml:6"}, []string{"netplan", "kubelet"}},
		{"netplan-networkmanager", "error", "networkmanager",
			[]string{"nameserver-node-local-dns@/etc/resolv.conf:2", "netplan-injects-nameserver@/etc/netplan/01-network-manager.yaml:7"}, []string{"netplan", "kubelet"}},
		{"resolved-no-servers", "error", "systemd-resolved-uplink",
			[]string{"nameserver-none@/run/systemd/resolve/resolv.conf:0"}, []string{"kubelet"}},
		// kubelet's own rules (issue 23): what pods get is what kubelet hands them.
		{"kubelet-resolvconf-empty", "error", "",
			[]string{"nameserver-loopback@/var/lib/kubelet/config.yaml:10"}, []string{"kubelet"}},
		{"kubelet-resolv-conf-flag-empty-dualstack", "error", "",
			[]string{"nameserver-loopback@/var/lib/kubelet/kubeadm-flags.env:1", "nameserver-loopback@/var/lib/kubelet/kubeadm-flags.env:1"}, []string{"kubelet"}},
		{"limit-loopback-fourth", "warning", "systemd-resolved-uplink",
			[]string{"nameserver-limit@/run/systemd/resolve/resolv.conf:20"}, nil},
		{"invalid-nameserver-value", "error", "systemd-resolved-uplink",
			[]string{"nameserver-resolved-stub@/run/systemd/resolve/resolv.conf:18", "nameserver-invalid@/run/systemd/resolve/resolv.conf:17"}, []string{"kubelet"}},
		{"kubespray-cluster-dns", "error", "kubespray",
			[]string{"nameserver-cluster-dns@/etc/resolv.conf:4"}, []string{"kubelet"}},
		{"k3s-kubelet-arg-resolv-conf-empty", "error", "",
			[]string{"nameserver-loopback@/etc/rancher/k3s/config.yaml.d/50-dns.yaml:2"}, []string{"kubelet"}},
		// Files read as their readers read them (issue 23).
		{"coredns-forward-file-and-address", "ok", "unknown", nil, nil},
		{"k3s-invalid-host-file", "ok", "systemd-resolved-uplink", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, _ := checkTree(t, tt.name)
			if rep.Status != tt.status {
				t.Errorf("status = %q, want %q", rep.Status, tt.status)
			}
			if rep.ResolvConf.Generator != tt.generator {
				t.Errorf("generator = %q (%s), want %q", rep.ResolvConf.Generator, rep.ResolvConf.Evidence, tt.generator)
			}
			if got := codes(rep.Findings); !slices.Equal(got, tt.codes) {
				t.Errorf("findings:\n got %q\nwant %q", got, tt.codes)
			}
			if tt.fixes != nil && len(rep.Findings) > 0 && !slices.Equal(rep.Findings[0].Fixes, tt.fixes) {
				t.Errorf("fixes = %q, want %q", rep.Findings[0].Fixes, tt.fixes)
			}
			for _, f := range rep.Findings {
				if f.Message == "" || len(f.Chain) == 0 {
					t.Errorf("%s has no message or chain", f.Code)
				}
			}
			goldenCheck(t, tt.name, rep)
		})
	}
}

// goldenCheck compares the check document of a tree with its golden file.
func goldenCheck(t *testing.T, tree string, rep *node.Report) {
	t.Helper()
	got, err := json.MarshalIndent(document.NewCheck(rep), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, filepath.Join("testdata", "nodes", tree+".golden.json"), append(got, '\n'))
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run with -update after checking):\n%s", path, got)
	}
}

// The node's interfaces are a seam: an address on nodelocaldns is a node cache
// address even when it is not configured.
func TestAnalyzeInterfaces(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/resolv.conf"), []byte("nameserver 169.254.99.10\nnameserver 10.0.0.5\nnameserver 10.0.0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte("ID=debian\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, _ := hostcfg.NewRoot(dir)
	ifs := func() ([]node.Iface, error) {
		return []node.Iface{
			{Name: "lo", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.1")}},
			{Name: "nodelocaldns", Addrs: []netip.Addr{netip.MustParseAddr("169.254.99.10")}},
			{Name: "eth0", Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.5")}},
		}, nil
	}
	rep, _, err := Check(context.Background(), node.Env{Root: root, Interfaces: ifs}, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"nameserver-node-local-dns@/etc/resolv.conf:1", "nameserver-local-address@/etc/resolv.conf:2"}
	if got := codes(rep.Findings); !slices.Equal(got, want) {
		t.Fatalf("findings %q, want %q", got, want)
	}
	if !strings.Contains(rep.Findings[0].Message, "interface nodelocaldns") {
		t.Errorf("message does not say why: %s", rep.Findings[0].Message)
	}
}
