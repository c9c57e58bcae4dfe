package networkmanager

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/parsetest"
)

func nmServers(l []Server) []string {
	var out []string
	for _, s := range l {
		out = append(out, fmt.Sprintf("%s %s@%s:%d", s.Key, s.Addr, s.File, s.Line))
	}
	return out
}

func TestLoad(t *testing.T) {
	const conn = `[connection]
id=Wired connection 1
uuid=0b9b6e52-9a1f-4c2c-8e0f-1f7b1f0c6b1d
type=ethernet
interface-name=eth0

[ipv4]
dns=169.254.25.10;192.168.2.136;
ignore-auto-dns=true
method=auto

[ipv6]
addr-gen-mode=default
dns=fe80::1%eth0;
method=auto
`
	tests := []struct {
		name    string
		tree    map[string]string
		present bool
		files   []string
		dns     hostcfg.Setting
		rc      hostcfg.Setting
		servers []string
		err     []string
	}{
		{
			name: "no NetworkManager",
			tree: map[string]string{"/etc/": ""},
		},
		{
			name:    "only the binary",
			tree:    map[string]string{"/usr/sbin/NetworkManager": "ELF"},
			present: true,
		},
		{
			name: "rhel default: main file only",
			tree: map[string]string{
				"/etc/NetworkManager/NetworkManager.conf": "# Configuration file for NetworkManager.\n[main]\n#plugins=keyfile,ifcfg-rh\n\n[logging]\n#level=DEBUG\n",
			},
			present: true,
			files:   []string{"/etc/NetworkManager/NetworkManager.conf"},
		},
		{
			name: "conf.d order and shadowing",
			tree: map[string]string{
				"/usr/lib/NetworkManager/conf.d/00-server.conf": "[main]\ndns=dnsmasq\nrc-manager=file\n",
				"/usr/lib/NetworkManager/conf.d/50-shadow.conf": "[main]\ndns=usrlib-shadowed\n",
				"/run/NetworkManager/conf.d/10-run.conf":        "[main]\nrc-manager=symlink\n",
				"/run/NetworkManager/conf.d/50-shadow.conf":     "[main]\ndns=run-shadowed\n",
				"/etc/NetworkManager/conf.d/50-shadow.conf":     "# empty: shadows the others\n",
				"/etc/NetworkManager/NetworkManager.conf":       "[main]\ndns=default\n",
				"/etc/NetworkManager/conf.d/90-dns-none.conf":   "[main]\ndns=none\n",
				"/etc/NetworkManager/conf.d/README":             "[main]\ndns=ignored\n",
			},
			present: true,
			files: []string{
				"/usr/lib/NetworkManager/conf.d/00-server.conf",
				"/run/NetworkManager/conf.d/10-run.conf",
				"/etc/NetworkManager/NetworkManager.conf",
				"/etc/NetworkManager/conf.d/50-shadow.conf",
				"/etc/NetworkManager/conf.d/90-dns-none.conf",
			},
			dns: hostcfg.Setting{Value: "none", File: "/etc/NetworkManager/conf.d/90-dns-none.conf", Line: 2},
			rc:  hostcfg.Setting{Value: "symlink", File: "/run/NetworkManager/conf.d/10-run.conf", Line: 2},
		},
		{
			name: "usr/lib and run come before the main file whatever their names",
			tree: map[string]string{
				"/usr/lib/NetworkManager/conf.d/99-z.conf": "[main]\ndns=systemd-resolved\n",
				"/etc/NetworkManager/NetworkManager.conf":  "[main]\ndns=default\n",
			},
			present: true,
			files:   []string{"/usr/lib/NetworkManager/conf.d/99-z.conf", "/etc/NetworkManager/NetworkManager.conf"},
			dns:     hostcfg.Setting{Value: "default", File: "/etc/NetworkManager/NetworkManager.conf", Line: 2},
		},
		{
			name: "global dns servers",
			tree: map[string]string{
				"/etc/NetworkManager/conf.d/dns.conf": "[global-dns]\nsearches=cluster.local\n\n[global-dns-domain-*]\nservers=169.254.25.10,192.168.2.136\n" +
					"[global-dns-domain-example.com]\nservers = 10.0.0.53; dns+tls://1.1.1.1#one.one.one.one\n",
			},
			present: true,
			files:   []string{"/etc/NetworkManager/conf.d/dns.conf"},
			servers: []string{
				"servers 169.254.25.10@/etc/NetworkManager/conf.d/dns.conf:5",
				"servers 192.168.2.136@/etc/NetworkManager/conf.d/dns.conf:5",
				"servers 10.0.0.53@/etc/NetworkManager/conf.d/dns.conf:7",
				"servers 1.1.1.1@/etc/NetworkManager/conf.d/dns.conf:7",
			},
		},
		{
			name: "a later file replaces the servers key",
			tree: map[string]string{
				"/etc/NetworkManager/NetworkManager.conf": "[global-dns-domain-*]\nservers=169.254.25.10\n",
				"/etc/NetworkManager/conf.d/20-fix.conf":  "[global-dns-domain-*]\nservers=192.168.2.136\nservers+=169.254.20.10\n",
			},
			present: true,
			files:   []string{"/etc/NetworkManager/NetworkManager.conf", "/etc/NetworkManager/conf.d/20-fix.conf"},
			servers: []string{"servers 192.168.2.136@/etc/NetworkManager/conf.d/20-fix.conf:2"},
		},
		{
			name: "global dns without the default domain is ignored, as NetworkManager does",
			tree: map[string]string{
				"/etc/NetworkManager/conf.d/dns.conf": "[global-dns-domain-example.com]\nservers=127.0.0.1\n",
			},
			present: true,
			files:   []string{"/etc/NetworkManager/conf.d/dns.conf"},
		},
		{
			name: "a disabled conf.d file is skipped",
			tree: map[string]string{
				"/etc/NetworkManager/conf.d/off.conf": "[.config]\nenable=false\n[main]\ndns=none\n",
				"/etc/NetworkManager/conf.d/on.conf":  "[.config]\nenable=nm-version-min:1.2\n[main]\nrc-manager=unmanaged\n",
			},
			present: true,
			files:   []string{"/etc/NetworkManager/conf.d/on.conf"},
			rc:      hostcfg.Setting{Value: "unmanaged", File: "/etc/NetworkManager/conf.d/on.conf", Line: 4},
		},
		{
			name: "connections: ipv4 and ipv6 dns",
			tree: map[string]string{
				"/etc/NetworkManager/system-connections/Wired connection 1.nmconnection": conn,
				"/run/NetworkManager/system-connections/cloud.nmconnection":              "[ipv4]\ndns=10.0.0.2\ndns=10.0.0.3;\n",
				"/usr/lib/NetworkManager/system-connections/x.nmconnection":              "[ipv6]\ndns=\n",
				"/etc/NetworkManager/system-connections/legacy-eth1":                     "[ipv4]\ndns=10.1.0.2;\n",
				"/etc/NetworkManager/system-connections/legacy-eth1~":                    "[ipv4]\ndns=10.9.9.9;\n",
				"/etc/NetworkManager/system-connections/eth2.nmconnection.rpmsave":       "[ipv4]\ndns=10.9.9.9;\n",
				"/run/NetworkManager/system-connections/no-extension":                    "[ipv4]\ndns=10.9.9.9;\n",
			},
			present: true,
			files: []string{
				"/etc/NetworkManager/system-connections/Wired connection 1.nmconnection",
				"/etc/NetworkManager/system-connections/legacy-eth1",
				"/run/NetworkManager/system-connections/cloud.nmconnection",
				"/usr/lib/NetworkManager/system-connections/x.nmconnection",
			},
			servers: []string{
				"ipv4.dns 169.254.25.10@/etc/NetworkManager/system-connections/Wired connection 1.nmconnection:8",
				"ipv4.dns 192.168.2.136@/etc/NetworkManager/system-connections/Wired connection 1.nmconnection:8",
				"ipv6.dns fe80::1%eth0@/etc/NetworkManager/system-connections/Wired connection 1.nmconnection:14",
				"ipv4.dns 10.1.0.2@/etc/NetworkManager/system-connections/legacy-eth1:2",
				"ipv4.dns 10.0.0.3@/run/NetworkManager/system-connections/cloud.nmconnection:3",
			},
		},
		{
			name: "bad files are errors naming file and line; the rest is read",
			tree: map[string]string{
				"/etc/NetworkManager/NetworkManager.conf":                 "[main]\ndns=default\n",
				"/etc/NetworkManager/conf.d/bad-addr.conf":                "[global-dns-domain-*]\n\nservers=169.254.25.10,node-local\n",
				"/etc/NetworkManager/conf.d/bad-line.conf":                "[main]\ndns=none\nthis is not a key\n",
				"/etc/NetworkManager/system-connections/bin.nmconnection": "\x00\x01binary",
				"/etc/NetworkManager/system-connections/ok.nmconnection":  "[ipv4]\ndns=10.0.0.2;\n",
			},
			present: true,
			files: []string{
				"/etc/NetworkManager/NetworkManager.conf",
				"/etc/NetworkManager/conf.d/bad-addr.conf",
				"/etc/NetworkManager/system-connections/ok.nmconnection",
			},
			dns:     hostcfg.Setting{Value: "default", File: "/etc/NetworkManager/NetworkManager.conf", Line: 2},
			servers: []string{"ipv4.dns 10.0.0.2@/etc/NetworkManager/system-connections/ok.nmconnection:2"},
			err: []string{
				`/etc/NetworkManager/conf.d/bad-addr.conf:3: [global-dns-domain-*] servers: "node-local" is not an IP address`,
				"/etc/NetworkManager/conf.d/bad-line.conf:3:",
				"/etc/NetworkManager/system-connections/bin.nmconnection:1: NUL",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nm, err := Load(parsetest.Root(t, tt.tree))
			if len(tt.err) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.err {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not say %q", err, w)
				}
			}
			if err != nil {
				var fe *hostcfg.FileError
				if !errors.As(err, &fe) {
					t.Errorf("error %v holds no FileError", err)
				}
			}
			if nm.Present != tt.present {
				t.Errorf("present %v, want %v", nm.Present, tt.present)
			}
			if !reflect.DeepEqual(nm.Files, tt.files) {
				t.Errorf("files %q, want %q", nm.Files, tt.files)
			}
			if nm.DNSMode != tt.dns || nm.RCManager != tt.rc {
				t.Errorf("dns %+v rc-manager %+v, want %+v %+v", nm.DNSMode, nm.RCManager, tt.dns, tt.rc)
			}
			if got := nmServers(nm.Servers); !reflect.DeepEqual(got, tt.servers) {
				t.Errorf("servers\n%q\nwant\n%q", got, tt.servers)
			}
		})
	}
}

func TestParseConnectionErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		line  int
		words []string
	}{
		{"key before a section", "dns=1.1.1.1\n", 1, []string{"before the first"}},
		{"bad section", "[ipv4\ndns=1.1.1.1\n", 1, []string{"section"}},
		{"not a key", "[ipv4]\nnameserver 1.1.1.1\n", 2, []string{"key=value"}},
		{"empty key", "[ipv4]\n=1\n", 2, []string{"empty key"}},
		{"bad ipv6 dns", "[ipv6]\ndns=::1;fe80::zz;\n", 2, []string{`"fe80::zz"`, "[ipv6] dns"}},
		{"invalid UTF-8", "[ipv4]\nid=\xff\n", 2, []string{"UTF-8"}},
		{"huge line", "[ipv4]\nid=" + strings.Repeat("x", conffile.MaxINILine) + "\n", 2, []string{"bytes long"}},
		{"huge file", strings.Repeat("#\n", hostcfg.MaxFileSize/2+1), 0, []string{"more than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConnection("/etc/NetworkManager/system-connections/x.nmconnection", []byte(tt.in))
			parsetest.WantFileError(t, err, "/etc/NetworkManager/system-connections/x.nmconnection", tt.line, tt.words...)
		})
	}
}

func TestParseConnection(t *testing.T) {
	got, err := ParseConnection("/c", []byte("# comment\n[ipv4]\ndns[de]=9.9.9.9\ndns = 10.0.0.2 ; 10.0.0.3#dns.example ;\r\n[ipv6]\ndns=[2001:db8::53]:53;\n[vpn]\ndns=not-checked\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ipv4.dns 10.0.0.2@/c:4", "ipv4.dns 10.0.0.3@/c:4", "ipv6.dns 2001:db8::53@/c:6"}
	if g := nmServers(got); !reflect.DeepEqual(g, want) {
		t.Errorf("got %q, want %q", g, want)
	}
}

func FuzzParseNMKeyfile(f *testing.F) {
	for _, s := range []string{
		"[ipv4]\ndns=169.254.25.10;192.168.2.136;\n[ipv6]\ndns=fe80::1%eth0;\n",
		"[main]\ndns=none\nrc-manager=symlink\n[global-dns-domain-*]\nservers=1.1.1.1,dns+tls://8.8.8.8#dns.google\n",
		"# c\n[.config]\nenable=false\nkey[de]=x\n",
		"dns=1\n",
		"[x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const p = "/etc/NetworkManager/system-connections/x.nmconnection"
		servers, err := ParseConnection(p, data)
		if err != nil {
			var fe *hostcfg.FileError
			if !errors.As(err, &fe) || fe.Path != p {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		for _, s := range servers {
			if !s.Addr.IsValid() || s.Line < 1 || (s.Key != "ipv4.dns" && s.Key != "ipv6.dns") {
				t.Fatalf("server %+v", s)
			}
		}
		entries, err := parseKeyfile(p, data)
		if err != nil {
			t.Fatalf("keyfile parses as a connection but not as a keyfile: %v", err)
		}
		_ = nmDisabled(entries)
	})
}

// The lease files as NetworkManager writes them: dhclient's format under
// dhcp=dhclient (Ubuntu 16.04, NetworkManager 1.2), sd-dhcp-lease's KEY=VALUE
// (dhcp_lease_save, NetworkManager 1.38's dhcp=systemd), and the nettools
// client's ADDRESS= alone (lease_save in nm-dhcp-nettools.c, 1.20 and later).
const (
	nmDhclientLease = `lease {
  interface "enp0s3";
  fixed-address 10.0.2.15;
  option subnet-mask 255.255.255.0;
  option routers 10.0.2.2;
  option dhcp-lease-time 86400;
  option domain-name-servers 10.0.2.3;
  option domain-name "lan";
  renew 4 2016/07/21 21:26:45;
  expire 5 2016/07/22 10:27:10;
}
lease {
  interface "enp0s3";
  fixed-address 10.0.2.15;
  option domain-name-servers 192.168.2.136,192.168.2.138;
  renew 5 2016/07/22 09:26:45;
}
`
	nmSystemdLease = `# This is private data. Do not parse.
ADDRESS=192.168.122.57
NETMASK=255.255.255.0
ROUTER=192.168.122.1
SERVER_ADDRESS=192.168.122.1
T1=1800
T2=3150
LIFETIME=3600
DNS=192.168.122.1 10.0.0.53
DOMAINNAME=example.internal
`
	nmNettoolsLease = "# This is private data. Do not parse.\nADDRESS=192.168.122.57\n"
)

func TestLoadLeases(t *testing.T) {
	tests := []struct {
		name string
		tree map[string]string
		want []string // path:line addresses
		err  []string
	}{
		{name: "no NetworkManager", tree: map[string]string{"/etc/": ""}},
		{
			name: "ubuntu 16.04 dhclient lease: the last lease counts",
			tree: map[string]string{"/var/lib/NetworkManager/dhclient-4a7d1f3e-6e3c-3f0b-9d5b-2b3c1e5c8f21-enp0s3.lease": nmDhclientLease},
			want: []string{"/var/lib/NetworkManager/dhclient-4a7d1f3e-6e3c-3f0b-9d5b-2b3c1e5c8f21-enp0s3.lease:15 [192.168.2.136 192.168.2.138]"},
		},
		{
			name: "systemd's lease format, and the initrd's in /run",
			tree: map[string]string{
				"/var/lib/NetworkManager/internal-8c3f0e4c-1c47-4c9d-a5b5-6f4b0c1c2d3e-eth0.lease": nmSystemdLease,
				"/run/NetworkManager/internal-0e4c8c3f-1c47-4c9d-a5b5-6f4b0c1c2d3e-eth1.lease":     "DNS=10.1.0.2\n",
			},
			want: []string{
				"/var/lib/NetworkManager/internal-8c3f0e4c-1c47-4c9d-a5b5-6f4b0c1c2d3e-eth0.lease:9 [192.168.122.1 10.0.0.53]",
				"/run/NetworkManager/internal-0e4c8c3f-1c47-4c9d-a5b5-6f4b0c1c2d3e-eth1.lease:1 [10.1.0.2]",
			},
		},
		{
			name: "the nettools client saves no server",
			tree: map[string]string{
				"/var/lib/NetworkManager/internal-8c3f0e4c-1c47-4c9d-a5b5-6f4b0c1c2d3e-eth0.lease": nmNettoolsLease,
				"/var/lib/NetworkManager/timestamps":                                               "[timestamps]\n",
			},
		},
		{
			name: "a bad address is an error naming file and line; the other file is still read",
			tree: map[string]string{
				"/var/lib/NetworkManager/internal-a-eth0.lease": "ADDRESS=10.0.0.5\nDNS=10.0.0.1 nope\n",
				"/var/lib/NetworkManager/internal-b-eth1.lease": "DNS=10.0.0.2\n",
			},
			want: []string{"/var/lib/NetworkManager/internal-b-eth1.lease:1 [10.0.0.2]"},
			err:  []string{"/var/lib/NetworkManager/internal-a-eth0.lease:2", `"nope" is not an IP address`},
		},
		{
			name: "binary junk is an error",
			tree: map[string]string{"/var/lib/NetworkManager/internal-a-eth0.lease": "DNS=10.0.0.1\x00\x01\n"},
			err:  []string{"/var/lib/NetworkManager/internal-a-eth0.lease"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parsetest.Root(t, tt.tree)
			leases, err := LoadLeases(r)
			var got []string
			for _, l := range leases {
				got = append(got, fmt.Sprintf("%s:%d %v", l.Path, l.Line, l.DNS))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("leases\n%q\nwant\n%q", got, tt.want)
			}
			if len(tt.err) == 0 && err != nil {
				t.Fatalf("error: %v", err)
			}
			for _, w := range tt.err {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v, want it to say %q", err, w)
				}
			}
			// Load carries them, and its error names the same files.
			nm, lerr := Load(r)
			if len(nm.Leases) != len(leases) || (lerr == nil) != (err == nil) {
				t.Errorf("Load: %d leases, error %v; LoadLeases: %d, %v", len(nm.Leases), lerr, len(leases), err)
			}
		})
	}
}
