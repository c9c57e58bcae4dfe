package netplan

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/unloop/unloop/hostcfg/internal/parsetest"
)

var nodeCache = netip.MustParseAddr("169.254.25.10")

func loops(a netip.Addr) bool { return a == nodeCache || a.IsLoopback() }

func TestRemove(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		fill           []netip.Addr
	}{{
		name: "block list keeps comments and the rest",
		in:   "# written by Kubespray\nnetwork:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      nameservers:\n        addresses:\n          - 169.254.25.10 # nodelocaldns\n          - '10.0.0.2'\n        search: [cluster.local]\n",
		want: "# written by Kubespray\nnetwork:\n  version: 2\n  ethernets:\n    eth0:\n      dhcp4: true\n      nameservers:\n        addresses:\n          - '10.0.0.2'\n        search: [cluster.local]\n",
	}, {
		name: "flow list, first, middle and last",
		in:   "network:\n  ethernets:\n    a: {nameservers: {addresses: [169.254.25.10, 10.0.0.2]}}\n    b:\n      nameservers:\n        addresses: [10.0.0.2, \"127.0.0.1\", 10.0.0.3]   # keep\n    c:\n      nameservers:\n        addresses: [10.0.0.2,169.254.25.10]\r\n",
		want: "network:\n  ethernets:\n    a: {nameservers: {addresses: [10.0.0.2]}}\n    b:\n      nameservers:\n        addresses: [10.0.0.2, 10.0.0.3]   # keep\n    c:\n      nameservers:\n        addresses: [10.0.0.2]\r\n",
	}, {
		name: "all looping: the upstreams in their place",
		in:   "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses:\n        - 169.254.25.10\n        - 127.0.0.53\n    eth1:\n      nameservers: {addresses: [169.254.25.10]}\n",
		want: "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses:\n        - 10.0.0.2\n        - 10.0.0.3\n    eth1:\n      nameservers: {addresses: [10.0.0.2, 10.0.0.3]}\n",
		fill: []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3")},
	}, {
		name: "all looping and no upstream: an empty list",
		in:   "network:\n  ethernets:\n    eth0:\n      dhcp4: yes\n      nameservers:\n        addresses:   # the node cache\n          - 169.254.25.10\n        search: [x]\n",
		want: "network:\n  ethernets:\n    eth0:\n      dhcp4: yes\n      nameservers:\n        addresses: []   # the node cache\n        search: [x]\n",
	}, {
		name: "nothing loops: the same bytes",
		in:   "network:\n  ethernets:\n    eth0:\n      nameservers: {addresses: [10.0.0.2]}\n",
		want: "network:\n  ethernets:\n    eth0:\n      nameservers: {addresses: [10.0.0.2]}\n",
	}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Remove("/etc/netplan/50.yaml", []byte(tt.in), loops, tt.fill)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestRemoveByHand: what the editor does not splice is an error naming the
// file and line, and nothing is returned to write.
func TestRemoveByHand(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		line     int
	}{
		{"an anchor another list names", "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses:\n          - &cache 169.254.25.10\n    eth1:\n      nameservers: {addresses: [*cache, 10.0.0.2]}\n", 0},
		{"bad YAML", "network:\n  ethernets:\n    eth0: {\n", 3},
		{"malformed address", "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses: [169.254.25.10, 1.2.3]\n", 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Remove("/etc/netplan/50.yaml", []byte(tt.in), loops, nil)
			parsetest.WantFileError(t, err, "/etc/netplan/50.yaml", tt.line)
			if got != nil {
				t.Errorf("an edit came back with the error:\n%s", got)
			}
		})
	}
}

func TestNoLeaseDNS(t *testing.T) {
	for _, tt := range []struct {
		name, in, want string
		family         int
	}{{
		name:   "no overrides yet",
		in:     "network:\n  ethernets:\n    eth0:\n      # DHCP from the cloud\n      dhcp4: true\n",
		want:   "network:\n  ethernets:\n    eth0:\n      # DHCP from the cloud\n      dhcp4-overrides:\n        use-dns: false\n      dhcp4: true\n",
		family: 4,
	}, {
		name:   "overrides without use-dns",
		in:     "network:\n  ethernets:\n    eth0:\n      dhcp6: true\n      dhcp6-overrides:\n          use-ntp: false\n",
		want:   "network:\n  ethernets:\n    eth0:\n      dhcp6: true\n      dhcp6-overrides:\n          use-dns: false\n          use-ntp: false\n",
		family: 6,
	}, {
		name:   "use-dns true",
		in:     "network:\r\n  ethernets:\r\n    eth0:\r\n      dhcp4: true\r\n      dhcp4-overrides:\r\n        use-dns: \"yes\" # was\r\n",
		want:   "network:\r\n  ethernets:\r\n    eth0:\r\n      dhcp4: true\r\n      dhcp4-overrides:\r\n        use-dns: false # was\r\n",
		family: 4,
	}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NoLeaseDNS("/etc/netplan/50.yaml", []byte(tt.in), "ethernets", "eth0", tt.family)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
	_, err := NoLeaseDNS("/etc/netplan/50.yaml", []byte("network:\n  ethernets:\n    eth0: {dhcp4: true}\n"), "ethernets", "eth0", 4)
	if !errors.Is(err, ErrHand) {
		t.Errorf("a flow mapping: %v, want %v", err, ErrHand)
	}
}

func TestAddNameservers(t *testing.T) {
	add := []netip.Addr{netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("fd00::2")}
	for _, tt := range []struct{ name, in, want string }{
		{"no nameservers", "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n", "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses: [10.0.0.2, fd00::2]\n      dhcp4: true\n"},
		{"nameservers without addresses", "network:\n  ethernets:\n    eth0:\n      nameservers:\n        search: [x]\n", "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses: [10.0.0.2, fd00::2]\n        search: [x]\n"},
		{"a block list", "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses:\n        - 10.0.0.9 # site\n", "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses:\n        - 10.0.0.9 # site\n        - 10.0.0.2\n        - fd00::2\n"},
		{"a flow list", "network:\n  ethernets:\n    eth0:\n      nameservers: {addresses: [10.0.0.9]}\n", "network:\n  ethernets:\n    eth0:\n      nameservers: {addresses: [10.0.0.9, 10.0.0.2, fd00::2]}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AddNameservers("/etc/netplan/50.yaml", []byte(tt.in), "ethernets", "eth0", add)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}
