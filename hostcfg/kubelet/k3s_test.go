package kubelet

import (
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
