package kubelet

import (
	"fmt"
	"strings"
	"testing"
)

// k3s's test of a candidate file, as locateOrGenerateResolvConf applies it.
func TestK3sValidResolvConf(t *testing.T) {
	tests := []struct {
		name, data string
		want       bool
	}{
		{"private upstream", "nameserver 10.0.0.2\n", true},
		{"public upstream", "nameserver 1.1.1.1\nnameserver 2606:4700:4700::1111\n", true},
		{"resolved stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\n", false},
		{"one loopback spoils it", "nameserver 10.0.0.2\nnameserver 127.0.0.1\n", false},
		{"node-local-dns is link-local", "nameserver 169.254.25.10\n", false},
		{"zone index does not parse", "nameserver fe80::1%eth0\n", false},
		{"no nameserver", "search example.internal\n", false},
		{"indented line is not read", "  nameserver 127.0.0.1\nnameserver 10.0.0.2\n", true},
		{"unspecified", "nameserver 0.0.0.0\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k3sValidResolvConf([]byte(tt.data)); got != tt.want {
				t.Errorf("k3sValidResolvConf(%q) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}

func TestSetArg(t *testing.T) {
	tests := []struct {
		name, data, want, err string
	}{
		{"added", "--fail-swap-on=false\n", "--fail-swap-on=false\n--resolv-conf=/x\n", ""},
		{"added after a last line without newline", "--a=b", "--a=b\n--resolv-conf=/x\n", ""},
		{"edited in place", "--resolv-conf=/etc/resolv.conf\n--a=b\n", "--resolv-conf=/x\n--a=b\n", ""},
		{"double-quoted as k8sd writes it, edited inside the quotes", "--read-only-port=\"0\"\n--resolv-conf=\"/etc/resolv.conf\"\n--root-dir=\"/var/lib/kubelet\"\n", "--read-only-port=\"0\"\n--resolv-conf=\"/x\"\n--root-dir=\"/var/lib/kubelet\"\n", ""},
		{"single-quoted", "--resolv-conf='/etc/resolv.conf'\n", "--resolv-conf='/x'\n", ""},
		{"an expansion inside double quotes is left to a person", "--resolv-conf=\"${SNAP_DATA}/resolv.conf\"\n", "", "expansions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SetArg("/args", []byte(tt.data), "resolv-conf", "/x")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// Canonical Kubernetes' patched kubelet default, file by file.
func TestK8sSnapQualifies(t *testing.T) {
	tests := []struct {
		name, data string
		want       bool
	}{
		{"uplink", "nameserver 10.0.0.2\nsearch ec2.internal\n", true},
		{"resolved stub", "nameserver 127.0.0.53\noptions edns0 trust-ad\n", false},
		{"one loopback spoils it", "nameserver 10.0.0.2\nnameserver 127.0.0.1\n", false},
		{"zone index dropped", "nameserver fe80::1%eth0\n", true},
		{"indented line is read", "  nameserver 127.0.0.1\nnameserver 10.0.0.2\n", false},
		{"a line with more after the address is not read", "nameserver 127.0.0.1 # dnsmasq\nnameserver 10.0.0.2\n", true},
		{"not an address", "nameserver dns.example\n", false},
		{"no nameserver", "search example.internal\n", false},
		{"link-local node-local-dns passes", "nameserver 169.254.20.10\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := k8sSnapQualifies([]byte(tt.data)); got != tt.want {
				t.Errorf("k8sSnapQualifies(%q) = %v, want %v", tt.data, got, tt.want)
			}
		})
	}
}

// k0s's choice when it has not written kubelet's config yet.
func TestK0sDefault(t *testing.T) {
	unit := "-- etc/systemd/system/k0sworker.service --\n[Service]\nExecStart=/usr/local/bin/k0s worker --token-file=/etc/k0s/k0stoken\n"
	tests := []struct {
		name, resolv, want string
	}{
		{"resolved's stub alone", "nameserver 127.0.0.53\noptions edns0 trust-ad\n", "/run/systemd/resolve/resolv.conf"},
		{"the stub and another server", "nameserver 127.0.0.53\nnameserver 10.0.0.2\n", "/etc/resolv.conf"},
		{"a local dnsmasq", "nameserver 127.0.0.1\n", "/etc/resolv.conf"},
		{"a line that is no address is skipped", "nameserver dns.example\nnameserver 127.0.0.53\n", "/run/systemd/resolve/resolv.conf"},
		{"no nameserver", "search example.internal\n", "/etc/resolv.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := kubeletTree(t, unit+"-- etc/resolv.conf --\n"+tt.resolv)
			k, err := Discover(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if k.Distro != DistroK0s || k.ResolvConf != tt.want || k.ResolvConfSource != "distro" {
				t.Errorf("distro %q pod file %q (%s); want k0s %q (distro)", k.Distro, k.ResolvConf, k.ResolvConfSource, tt.want)
			}
		})
	}
}

// k3s's command-line-only DNS settings, each form read from the running
// process's argv (online) and from the unit's ExecStart (offline), merged
// with config.yaml as pkg/configfilearg does: the command line wins a
// single value and adds to a slice.
func TestK3sCommandLineDNS(t *testing.T) {
	const conf = "-- etc/rancher/k3s/config.yaml --\nnode-ip: 10.0.0.5\n-- etc/k3s-resolv.conf --\nnameserver 10.0.0.2\n"
	tests := []struct {
		name, args string // after "k3s agent"
		resolvConf string
		source     string
		nodeIPs    string
		clusterDNS string
		fromNode   bool
	}{
		{"--resolv-conf", "--resolv-conf=/etc/k3s-resolv.conf", "/etc/k3s-resolv.conf", "flag", "10.0.0.5", "10.43.0.10", false},
		{"--resolv-conf as two words", "--resolv-conf /etc/k3s-resolv.conf", "/etc/k3s-resolv.conf", "flag", "10.0.0.5", "10.43.0.10", false},
		{"--kubelet-arg=resolv-conf= (empty)", "--kubelet-arg=resolv-conf=", "", "flag", "10.0.0.5", "10.43.0.10", false},
		{"--kubelet-arg=cluster-dns=", "--kubelet-arg=cluster-dns=10.96.0.10", DefaultResolvConf, "distro", "10.0.0.5", "10.96.0.10", false},
		{"--cluster-dns", "--cluster-dns=10.45.0.10", DefaultResolvConf, "distro", "10.0.0.5", "10.45.0.10", false},
		{"--node-ip adds to config.yaml's", "--node-ip=fd00::5", DefaultResolvConf, "distro", "10.0.0.5 fd00::5", "10.43.0.10", false},
		{"-i, and --kubelet-arg=node-ip= over both", "-i 10.0.0.6 --kubelet-arg=node-ip=fd00::7", DefaultResolvConf, "distro", "fd00::7", "10.43.0.10", false},
		{"a comma list after config.yaml's IPv4 one: the IPv4 default", "--node-ip=fd00::5,10.0.0.6", DefaultResolvConf, "distro", "10.0.0.5 fd00::5 10.0.0.6", "10.43.0.10", false},
	}
	for _, tt := range tests {
		argv := append([]string{"/usr/local/bin/k3s", "agent"}, strings.Fields(tt.args)...)
		for _, online := range []bool{true, false} {
			name := tt.name + map[bool]string{true: ", argv", false: ", unit"}[online]
			t.Run(name, func(t *testing.T) {
				var k *Setup
				if online {
					r := procTree(t, conf+"-- etc/resolv.conf --\nnameserver 10.0.0.2\n", map[string]string{"77": strings.Join(argv, "\x00") + "\x00"}, nil, nil)
					p, err := FindProcess(r)
					if err != nil || p == nil {
						t.Fatalf("FindProcess: %v, %v", p, err)
					}
					k = Running(r, p)
				} else {
					r := kubeletTree(t, conf+"-- etc/resolv.conf --\nnameserver 10.0.0.2\n-- etc/systemd/system/k3s-agent.service --\n[Service]\nExecStart="+strings.Join(argv, " ")+"\n")
					var err error
					if k, err = Discover(r, nil); err != nil {
						t.Fatal(err)
					}
				}
				if k.Unknown != "" || k.ResolvConf != tt.resolvConf || k.ResolvConfSource != tt.source {
					t.Errorf("pod file %q (%s), unknown %q; want %q (%s)", k.ResolvConf, k.ResolvConfSource, k.Unknown, tt.resolvConf, tt.source)
				}
				if got := fmt.Sprint(k.NodeIPs); got != "["+tt.nodeIPs+"]" || k.NodeIPFromNode != tt.fromNode {
					t.Errorf("node IPs %s (from the node: %v), want [%s]", got, k.NodeIPFromNode, tt.nodeIPs)
				}
				if got := fmt.Sprint(k.ClusterDNS); got != "["+tt.clusterDNS+"]" {
					t.Errorf("cluster DNS %s, want [%s]", got, tt.clusterDNS)
				}
			})
		}
	}
}

// With no node IP anywhere, k3s hands kubelet the node's own address.
func TestK3sImplicitNodeIP(t *testing.T) {
	r := kubeletTree(t, "-- etc/systemd/system/k3s.service --\n[Service]\nExecStart=/usr/local/bin/k3s server\n")
	k, err := Discover(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(k.NodeIPs) != 0 || !k.NodeIPFromNode || fmt.Sprint(k.ClusterDNS) != "[10.43.0.10]" || k.ClusterDNSAt.String() != "k3s's default service CIDR" {
		t.Fatalf("got node IPs %v (from the node: %v), cluster DNS %v at %v", k.NodeIPs, k.NodeIPFromNode, k.ClusterDNS, k.ClusterDNSAt)
	}
}

// An IPv6 first node IP: k3s's default service CIDR is fd00:43::/112.
func TestK3sIPv6ClusterDNS(t *testing.T) {
	r := kubeletTree(t, "-- etc/systemd/system/k3s.service --\n[Service]\nExecStart=/usr/local/bin/k3s server --node-ip=fd00::5,10.0.0.5\n")
	k, err := Discover(r, nil)
	if err != nil || fmt.Sprint(k.ClusterDNS) != "[fd00:43::a]" || fmt.Sprint(k.NodeIPs) != "[fd00::5 10.0.0.5]" {
		t.Fatalf("got %v, %v, %v", k.ClusterDNS, k.NodeIPs, err)
	}
}
