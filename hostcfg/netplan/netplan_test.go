package netplan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/internal/parsetest"
)

// view is a compact view of the links: "type/id renderer servers dhcp".
func view(c *Config) []string {
	var out []string
	for _, l := range c.Links {
		var ns []string
		for _, s := range l.Nameservers {
			ns = append(ns, fmt.Sprintf("%s@%s:%d", s.Text, s.File, s.Line))
		}
		out = append(out, fmt.Sprintf("%s/%s %s [%s] dhcp4=%s/%s dhcp6=%s/%s -> %s", l.Type, l.ID, l.Renderer, strings.Join(ns, " "),
			l.DHCP4.Value, l.UseDNS4.Value, l.DHCP6.Value, l.UseDNS6.Value, l.Rendered()))
	}
	return out
}

func TestLoad(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  []string
		read  []string
	}{{
		// netplan's tests/generator/test_common.py test_nameserver (networkd).
		name: "netplan's test_nameserver",
		files: map[string]string{"/etc/netplan/a.yaml": `network:
  version: 2
  ethernets:
    engreen:
      addresses: ["192.168.14.2/24"]
      nameservers:
        addresses: [1.2.3.4, "1234::FFFF"]
    enblue:
      addresses: ["192.168.1.3/24"]
      nameservers:
        search: [lab, kitchen]
        addresses: [8.8.8.8]`},
		want: []string{
			"ethernets/engreen networkd [1.2.3.4@/etc/netplan/a.yaml:7 1234::FFFF@/etc/netplan/a.yaml:7] dhcp4=/ dhcp6=/ -> /run/systemd/network/10-netplan-engreen.network",
			"ethernets/enblue networkd [8.8.8.8@/etc/netplan/a.yaml:12] dhcp4=/ dhcp6=/ -> /run/systemd/network/10-netplan-enblue.network",
		},
		read: []string{"/etc/netplan/a.yaml"},
	}, {
		// The same test for NetworkManager: network: renderer: decides.
		name: "netplan's test_nameserver NetworkManager",
		files: map[string]string{"/etc/netplan/a.yaml": `network:
  version: 2
  renderer: NetworkManager
  ethernets:
    engreen:
      nameservers:
        addresses: [1.2.3.4, 2.3.4.5, "1234::FFFF"]
`},
		want: []string{"ethernets/engreen NetworkManager [1.2.3.4@/etc/netplan/a.yaml:7 2.3.4.5@/etc/netplan/a.yaml:7 1234::FFFF@/etc/netplan/a.yaml:7] dhcp4=/ dhcp6=/ -> /run/NetworkManager/system-connections/netplan-engreen.nmconnection"},
		read: []string{"/etc/netplan/a.yaml"},
	}, {
		// test_fwdecl_will_not_lead_to_duplicates: a bond's block list.
		name: "netplan's bond with a block list",
		files: map[string]string{"/etc/netplan/a.yaml": `network:
  bonds:
    aggi:
      nameservers:
        addresses:
          - 1.2.3.4
        search:
          - example.com
      interfaces:
        - eth0
  ethernets:
    eth0:
      ignore-carrier: true
`},
		want: []string{
			"bonds/aggi networkd [1.2.3.4@/etc/netplan/a.yaml:6] dhcp4=/ dhcp6=/ -> /run/systemd/network/10-netplan-aggi.network",
			"ethernets/eth0 networkd [] dhcp4=/ dhcp6=/ -> /run/systemd/network/10-netplan-eth0.network",
		},
		read: []string{"/etc/netplan/a.yaml"},
	}, {
		// util.c: /run shadows /etc shadows /lib by name; files merge by base
		// name whatever their folder, and a list goes on in a later file
		// (a repeat is dropped).
		name: "shadowing and merge order",
		files: map[string]string{
			"/lib/netplan/50-a.yaml": "network: {ethernets: {eth0: {nameservers: {addresses: [9.9.9.9]}}}}\n",
			"/etc/netplan/50-a.yaml": "network:\n  ethernets:\n    eth0:\n      dhcp4: true\n      nameservers:\n        addresses: [169.254.25.10]\n",
			"/run/netplan/10-b.yaml": "network:\n  ethernets:\n    eth0:\n      nameservers:\n        addresses: [10.0.0.2]\n",
			"/lib/netplan/90-c.yaml": "network:\n  renderer: NetworkManager\n  ethernets:\n    eth0:\n      dhcp4-overrides: {use-dns: no}\n      nameservers:\n        addresses: [10.0.0.2, 169.254.25.10]\n",
			"/etc/netplan/notes.txt": "not yaml",
		},
		want: []string{"ethernets/eth0 NetworkManager [10.0.0.2@/run/netplan/10-b.yaml:5 169.254.25.10@/etc/netplan/50-a.yaml:6] dhcp4=yes/no dhcp6=/ -> /run/NetworkManager/system-connections/netplan-eth0.nmconnection"},
		read: []string{"/run/netplan/10-b.yaml", "/etc/netplan/50-a.yaml", "/lib/netplan/90-c.yaml"},
	}, {
		// A definition's own renderer: beats its section's and network:'s.
		name: "renderers",
		files: map[string]string{"/etc/netplan/a.yaml": `network:
  renderer: NetworkManager
  ethernets:
    renderer: networkd
    eth0: {dhcp6: y, dhcp6-overrides: {use-dns: FALSE}}
  vlans:
    "v 1": {renderer: networkd}
  bridges:
    br0: {}
`},
		want: []string{
			"ethernets/eth0 networkd [] dhcp4=/ dhcp6=yes/no -> /run/systemd/network/10-netplan-eth0.network",
			"vlans/v 1 networkd [] dhcp4=/ dhcp6=/ -> /run/systemd/network/10-netplan-v%201.network",
			"bridges/br0 NetworkManager [] dhcp4=/ dhcp6=/ -> /run/NetworkManager/system-connections/netplan-br0.nmconnection",
		},
		read: []string{"/etc/netplan/a.yaml"},
	}, {
		name:  "empty and comment-only files",
		files: map[string]string{"/etc/netplan/a.yaml": "", "/etc/netplan/b.yaml": "# nothing\n", "/etc/netplan/c.yaml": "---\n"},
		read:  []string{"/etc/netplan/a.yaml", "/etc/netplan/b.yaml", "/etc/netplan/c.yaml"},
	}} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(parsetest.Root(t, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			if got := view(c); strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("links:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if strings.Join(c.Files, " ") != strings.Join(tt.read, " ") {
				t.Errorf("read %v, want %v", c.Files, tt.read)
			}
		})
	}
}

// TestLoadErrors: what netplan generate refuses is an error naming the file
// and line (netplan's tests/generator/test_errors.py where it has the case).
func TestLoadErrors(t *testing.T) {
	for _, tt := range []struct {
		name, text string
		line       int
		words      []string
	}{
		{"test_yaml_expected_mapping", "network:\n  version", 2, []string{"wants a mapping"}},
		{"bad YAML", "network:\n  ethernets:\n    eth0: [\n", 3, []string{"not valid YAML"}},
		{"test_invalid_bool", "network:\n  version: 2\n  ethernets:\n    id0:\n      dhcp4: wut\n", 5, []string{"invalid boolean value 'wut'"}},
		{"use-dns not a boolean", "network:\n  ethernets:\n    id0:\n      dhcp4-overrides:\n        use-dns: maybe\n", 5, []string{"invalid boolean value 'maybe'"}},
		{"test_invalid_nameserver_ipv4 300.400.1.1", "network:\n  version: 2\n  ethernets:\n    engreen:\n      nameservers:\n        addresses: [300.400.1.1]", 6, []string{"malformed address '300.400.1.1'"}},
		{"test_invalid_nameserver_ipv4 1.2.3", "network:\n  ethernets:\n    engreen:\n      nameservers:\n        addresses: [1.2.3]", 5, []string{"malformed address '1.2.3'"}},
		{"test_invalid_nameserver_ipv4 prefix", "network:\n  ethernets:\n    engreen:\n      nameservers:\n        addresses: [192.168.14.1/24]", 5, []string{"malformed address '192.168.14.1/24'"}},
		{"test_invalid_nameserver_ipv6 1:::c", "network:\n  ethernets:\n    engreen:\n      nameservers:\n        addresses: [\"1:::c\"]", 5, []string{"malformed address '1:::c'"}},
		{"test_invalid_nameserver_ipv6 prefix", "network:\n  ethernets:\n    engreen:\n      nameservers:\n        addresses:\n          - \"1234::1/50\"", 6, []string{"malformed address '1234::1/50'"}},
		{"addresses not a list", "network:\n  ethernets:\n    e:\n      nameservers:\n        addresses: 1.2.3.4\n", 5, []string{"wants a list"}},
		{"unknown renderer", "network:\n  renderer: systemd\n", 2, []string{"unknown value"}},
		{"network a list", "network:\n  - a\n", 2, []string{"network: is a list"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := parsetest.Root(t, map[string]string{"/etc/netplan/01.yaml": "network: {}\n", "/etc/netplan/50-cloud-init.yaml": tt.text})
			c, err := Load(r)
			parsetest.WantFileError(t, err, "/etc/netplan/50-cloud-init.yaml", tt.line, tt.words...)
			if c != nil {
				t.Errorf("a config came back with the error: %v", view(c))
			}
		})
	}
}
