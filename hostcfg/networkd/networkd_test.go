package networkd

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/parsetest"
	"github.com/unloop/unloop/hostcfg/resolved"
)

// servers is a compact view of a server list for comparisons.
func servers(l []resolved.Server) []string {
	var out []string
	for _, s := range l {
		out = append(out, fmt.Sprintf("%s:%d@%s:%d", s.Addr, s.Port, s.File, s.Line))
	}
	return out
}

// useDNS is a compact view of the three UseDNS= settings: "v4 v6 ra", each
// VALUE@LINE or "-" when unset.
func useDNS(n Network) string {
	f := func(s hostcfg.Setting) string {
		if s.Value == "" {
			return "-"
		}
		return fmt.Sprintf("%s@%d", s.Value, s.Line)
	}
	return f(n.DHCPv4UseDNS) + " " + f(n.DHCPv6UseDNS) + " " + f(n.IPv6AcceptRAUseDNS)
}

func parse(path string, files ...string) (Network, error) {
	ps := parser{n: Network{File: path}}
	for _, data := range files {
		if err := ps.apply(path, []byte(data)); err != nil {
			return Network{}, err
		}
	}
	return ps.n, nil
}

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		in    []string // the main file, then drop-ins
		match []string
		dns   []string
		use   string
	}{
		{
			// systemd's test/test-network/conf/24-search-domain.network (abridged).
			name:  "systemd test-network 24-search-domain",
			in:    []string{"[Match]\nName=dummy98\n\n[Network]\nAddress=192.168.42.100/24\nDNS=192.168.42.1\nDomains= one two three\n"},
			match: []string{"dummy98"},
			dns:   []string{"192.168.42.1:0@/f:6"},
			use:   "- - -",
		},
		{
			// systemd's test/test-network/conf/25-dhcp-client-ipv4-only.network
			// (abridged): no UseDNS=, so networkd's default.
			name:  "systemd test-network 25-dhcp-client-ipv4-only",
			in:    []string{"# SPDX-License-Identifier: LGPL-2.1-or-later\n[Match]\nName=veth99\n\n[Network]\nDHCP=ipv4\nIPv6AcceptRA=no\n\n[DHCPv4]\nUseDomains=yes\nRoutesToDNS=yes\n# DenyList= will be ignored\nAllowList=192.168.5.0/24\n\n[Route]\nGateway=_dhcp4\n"},
			match: []string{"veth99"},
			use:   "- - -",
		},
		{
			name:  "node-local-dns address handed to resolved",
			in:    []string{"[Match]\nName=eth0\n[Network]\nDHCP=yes\nDNS=169.254.25.10 192.168.2.136\nDNS = 127.0.0.53\n[DHCPv4]\nUseDNS=false\n"},
			match: []string{"eth0"},
			dns:   []string{"169.254.25.10:0@/f:5", "192.168.2.136:0@/f:5", "127.0.0.53:0@/f:6"},
			use:   "no@8 - -",
		},
		{
			name: "every server form resolved takes; port 53 and 853 are no port",
			in:   []string{"[Network]\nDNS=1.2.3.4:9953%eth0#dns.example [2001:db8::1]:53 fe80::1%eth0 9.9.9.9:853#dns.quad9.net 10.0.0.1%2\n"},
			dns: []string{
				"1.2.3.4:9953@/f:2", "2001:db8::1:0@/f:2", "fe80::1%eth0:0@/f:2", "9.9.9.9:0@/f:2", "10.0.0.1:0@/f:2",
			},
			use: "- - -",
		},
		{
			name: "an empty DNS= resets, in a drop-in too",
			in: []string{
				"[Network]\nDNS=169.254.25.10\nDNS=\nDNS=1.1.1.1\n",
				"[Network]\nDNS=\nDNS=8.8.8.8\n",
			},
			dns: []string{"8.8.8.8:0@/f:3"},
			use: "- - -",
		},
		{
			name:  "Match names append; an empty one resets",
			in:    []string{"[Match]\nName=eth* !eth9\nName=\nName=en*\nName=ens3\n"},
			match: []string{"en*", "ens3"},
			use:   "- - -",
		},
		{
			name: "only the sections read count; case matters",
			in:   []string{"DNS=1.1.1.1\n[network]\nDNS=2.2.2.2\n[Resolve]\nDNS=3.3.3.3\n[DHCPServer]\nDNS=4.4.4.4\n[Network]\nDNS=5.5.5.5\nUseDNS=no\n[X-Vendor]\nDNS=nonsense\n[DHCPv4]\nusedns=no\n"},
			dns:  []string{"5.5.5.5:0@/f:9"},
			use:  "- - -",
		},
		{
			name: "UseDNS booleans, last wins, normalised",
			in:   []string{"[DHCPv4]\nUseDNS=yes\nUseDNS=OFF\n[DHCPv6]\nUseDNS=0\n[IPv6AcceptRA]\nUseDNS=no\nUseDNS=True\n"},
			use:  "no@3 no@5 yes@8",
		},
		{
			name: "legacy [DHCP] sets both",
			in:   []string{"[DHCP]\nUseDNS=no\n"},
			use:  "no@2 no@2 -",
		},
		{
			name: "legacy [DHCP] does not override the newer sections, before or after",
			in:   []string{"[DHCPv4]\nUseDNS=yes\n[DHCP]\nUseDNS=no\n", "[DHCP]\nUseDNS=off\n[DHCPv6]\nUseDNS=on\n"},
			use:  "yes@2 yes@4 -",
		},
		{
			name: "comments, blanks, crlf, BOM, lines without '=' and continuation",
			in:   []string{"\ufeff[Network]\r\n# c\r\n; c\r\nnonsense\r\n  DNS=1.1.1.1 \\\r\n# inside\r\n  8.8.8.8\r\n"},
			dns:  []string{"1.1.1.1:0@/f:5", "8.8.8.8:0@/f:5"},
			use:  "- - -",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := parse("/f", tt.in...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(n.Match, tt.match) {
				t.Errorf("Match %q, want %q", n.Match, tt.match)
			}
			if got := servers(n.DNS); !reflect.DeepEqual(got, tt.dns) {
				t.Errorf("DNS %q, want %q", got, tt.dns)
			}
			if got := useDNS(n); got != tt.use {
				t.Errorf("UseDNS %q, want %q", got, tt.use)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		line  int
		words []string
	}{
		{"invalid DNS address", "[Network]\nDNS=1.1.1.1\nDNS=1.1.1.1 nodelocal.dns\n", 3, []string{"DNS=", `"nodelocal.dns"`}},
		{"invalid DNS port", "[Network]\nDNS=1.1.1.1:99999\n", 2, []string{"DNS=", "port"}},
		{"not a boolean", "[DHCPv4]\nUseDNS=maybe\n", 2, []string{"UseDNS=maybe", "boolean"}},
		{"empty boolean", "[IPv6AcceptRA]\nUseDNS=\n", 2, []string{"boolean"}},
		{"unterminated section header", "[Match]\nName=eth0\n[Network\nDNS=1.1.1.1\n", 3, []string{"section"}},
		{"bad characters in a section header", "[Net\"work]\n", 1, []string{"bad characters"}},
		{"NUL byte", "[Network]\nDNS=1.1.1.1\x00\n", 2, []string{"NUL"}},
		{"invalid UTF-8", "[Network]\n# \xc3\x28\n", 2, []string{"UTF-8"}},
		{"binary junk", "\x7fELF\x02\x01\x01\x00", 1, []string{"binary"}},
		{"huge line", "[Network]\nDNS=" + strings.Repeat("1.1.1.1 ", conffile.MaxINILine/8) + "\n", 2, []string{"bytes long"}},
		{"huge file", strings.Repeat("#\n", hostcfg.MaxFileSize/2+1), 0, []string{"more than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse("/etc/systemd/network/10-eth0.network", tt.in)
			parsetest.WantFileError(t, err, "/etc/systemd/network/10-eth0.network", tt.line, tt.words...)
		})
	}
}

// nets is a compact view of the networks: FILE [MATCH] DNS... | USEDNS.
func nets(l []Network) []string {
	var out []string
	for _, n := range l {
		out = append(out, fmt.Sprintf("%s %q %q | %s", n.File, n.Match, servers(n.DNS), useDNS(n)))
	}
	return out
}

func TestLoad(t *testing.T) {
	const eth0 = "[Match]\nName=eth0\n[Network]\nDNS=10.0.0.1\n"
	tests := []struct {
		name  string
		tree  map[string]string
		files []string
		nets  []string
		err   []string // FileError paths:lines expected, joined
	}{
		{
			name: "no networkd",
			tree: map[string]string{"/etc/": ""},
		},
		{
			name: "files by name across folders; the earlier folder masks the same name",
			tree: map[string]string{
				"/usr/lib/systemd/network/80-container.network":   "[Match]\nName=ve-*\n",
				"/etc/systemd/network/10-eth0.network":            eth0,
				"/usr/lib/systemd/network/10-eth0.network":        "[Network]\nDNS=169.254.25.10\n",
				"/run/systemd/network/50-run.network":             "[Network]\nDNS=10.0.0.50\n",
				"/usr/local/lib/systemd/network/50-run.network":   "[Network]\nDNS=10.0.0.99\n",
				"/usr/local/lib/systemd/network/20-local.network": "[Network]\nDNS=10.0.0.20\n",
				"/lib/systemd/network/30-lib.network":             "[Network]\nDNS=10.0.0.30\n",
				"/etc/systemd/network/README":                     "[Network]\nDNS=10.0.0.97\n",
				"/etc/systemd/network/eth1.link":                  "[Match]\n",
				"/etc/systemd/network/dir.network/":               "",
			},
			files: []string{
				"/etc/systemd/network/10-eth0.network",
				"/usr/local/lib/systemd/network/20-local.network",
				"/lib/systemd/network/30-lib.network",
				"/run/systemd/network/50-run.network",
				"/usr/lib/systemd/network/80-container.network",
			},
			nets: []string{
				`/etc/systemd/network/10-eth0.network ["eth0"] ["10.0.0.1:0@/etc/systemd/network/10-eth0.network:4"] | - - -`,
				`/usr/local/lib/systemd/network/20-local.network [] ["10.0.0.20:0@/usr/local/lib/systemd/network/20-local.network:2"] | - - -`,
				`/lib/systemd/network/30-lib.network [] ["10.0.0.30:0@/lib/systemd/network/30-lib.network:2"] | - - -`,
				`/run/systemd/network/50-run.network [] ["10.0.0.50:0@/run/systemd/network/50-run.network:2"] | - - -`,
				`/usr/lib/systemd/network/80-container.network ["ve-*"] [] | - - -`,
			},
		},
		{
			name: "an empty file and a link to /dev/null mask, and are nothing",
			tree: map[string]string{
				"/etc/systemd/network/10-eth0.network":        "",
				"/usr/lib/systemd/network/10-eth0.network":    "[Network]\nDNS=169.254.25.10\n",
				"/etc/systemd/network/20-loop.network":        "-> /dev/null",
				"/run/systemd/network/20-loop.network":        "[Network]\nDNS=127.0.0.53\n",
				"/etc/systemd/network/30-ok.network":          eth0,
				"/etc/systemd/network/30-ok.network.d/a.conf": "",
			},
			files: []string{"/etc/systemd/network/30-ok.network", "/etc/systemd/network/30-ok.network.d/a.conf"},
			nets:  []string{`/etc/systemd/network/30-ok.network ["eth0"] ["10.0.0.1:0@/etc/systemd/network/30-ok.network:4"] | - - -`},
		},
		{
			name: "a dangling link masks the name too",
			tree: map[string]string{
				"/etc/systemd/network/10-eth0.network":     "-> /opt/gone.network",
				"/usr/lib/systemd/network/10-eth0.network": "[Network]\nDNS=169.254.25.10\n",
			},
		},
		{
			name: "a link elsewhere in the root is read, under its own name",
			tree: map[string]string{
				"/etc/systemd/network/10-eth0.network": "-> ../../../opt/k8s/eth0.network",
				"/opt/k8s/eth0.network":                eth0,
			},
			files: []string{"/etc/systemd/network/10-eth0.network"},
			nets:  []string{`/etc/systemd/network/10-eth0.network ["eth0"] ["10.0.0.1:0@/etc/systemd/network/10-eth0.network:4"] | - - -`},
		},
		{
			name: "drop-ins from every folder by name after the main file; same name: the earlier folder wins",
			tree: map[string]string{
				"/usr/lib/systemd/network/10-eth0.network":                  eth0,
				"/usr/lib/systemd/network/10-eth0.network.d/10-a.conf":      "[Network]\nDNS=10.0.0.10\n",
				"/etc/systemd/network/10-eth0.network.d/20-b.conf":          "[Network]\nDNS=10.0.0.20\n[DHCPv4]\nUseDNS=no\n",
				"/run/systemd/network/10-eth0.network.d/20-b.conf":          "[Network]\nDNS=10.0.0.99\n",
				"/run/systemd/network/10-eth0.network.d/30-c.conf":          "[Network]\nDNS=\nDNS=169.254.25.10\n",
				"/usr/local/lib/systemd/network/10-eth0.network.d/15.conf":  "[IPv6AcceptRA]\nUseDNS=no\n",
				"/etc/systemd/network/10-eth0.network.d/40-masked.conf":     "-> /dev/null",
				"/usr/lib/systemd/network/10-eth0.network.d/40-masked.conf": "[Network]\nDNS=10.0.0.40\n",
				"/etc/systemd/network/10-eth0.network.d/notes.txt":          "[Network]\nDNS=10.0.0.97\n",
				"/etc/systemd/network/other.network.d/x.conf":               "[Network]\nDNS=10.0.0.96\n",
			},
			files: []string{
				"/usr/lib/systemd/network/10-eth0.network",
				"/usr/lib/systemd/network/10-eth0.network.d/10-a.conf",
				"/usr/local/lib/systemd/network/10-eth0.network.d/15.conf",
				"/etc/systemd/network/10-eth0.network.d/20-b.conf",
				"/run/systemd/network/10-eth0.network.d/30-c.conf",
			},
			nets: []string{`/usr/lib/systemd/network/10-eth0.network ["eth0"] ["169.254.25.10:0@/run/systemd/network/10-eth0.network.d/30-c.conf:3"] | no@4 - no@2`},
		},
		{
			name: "a bad file leaves its whole network out; the others count",
			tree: map[string]string{
				"/etc/systemd/network/10-bad.network":               "[Network]\n\nDNS=169.254.25.10 x\n",
				"/etc/systemd/network/20-bin.network":               "\x7fELF\x00",
				"/etc/systemd/network/30-dropin.network":            "[Network]\nDNS=169.254.25.10\n",
				"/etc/systemd/network/30-dropin.network.d/x.conf":   "[DHCPv6]\nUseDNS=perhaps\n",
				"/etc/systemd/network/40-ok.network":                eth0,
				"/etc/systemd/network/50-header.network":            "[Match\n",
				"/etc/systemd/network/60-fifo.network.d/":           "",
				"/etc/systemd/network/70-huge.network":              strings.Repeat("#\n", hostcfg.MaxFileSize/2+1),
				"/etc/systemd/network/80-later.network":             "[Network]\nDNS=10.0.0.80\n",
				"/etc/systemd/network/80-later.network.d/dir.conf/": "",
			},
			files: []string{"/etc/systemd/network/40-ok.network", "/etc/systemd/network/80-later.network"},
			nets: []string{
				`/etc/systemd/network/40-ok.network ["eth0"] ["10.0.0.1:0@/etc/systemd/network/40-ok.network:4"] | - - -`,
				`/etc/systemd/network/80-later.network [] ["10.0.0.80:0@/etc/systemd/network/80-later.network:2"] | - - -`,
			},
			err: []string{
				"/etc/systemd/network/10-bad.network:3",
				"/etc/systemd/network/20-bin.network:1",
				"/etc/systemd/network/30-dropin.network.d/x.conf:2",
				"/etc/systemd/network/50-header.network:1",
				"/etc/systemd/network/70-huge.network: file is",
			},
		},
		{
			name: "a drop-in folder that can't be listed is an error; the network is read without it",
			tree: map[string]string{
				"/etc/systemd/network/10-eth0.network":   eth0,
				"/etc/systemd/network/10-eth0.network.d": "-> 10-eth0.network.d",
				"/etc/systemd/network/20-file.network":   "[Network]\nDNS=10.0.0.20\n",
				"/etc/systemd/network/20-file.network.d": "a file: nothing to networkd",
			},
			files: []string{"/etc/systemd/network/10-eth0.network", "/etc/systemd/network/20-file.network"},
			nets: []string{
				`/etc/systemd/network/10-eth0.network ["eth0"] ["10.0.0.1:0@/etc/systemd/network/10-eth0.network:4"] | - - -`,
				`/etc/systemd/network/20-file.network [] ["10.0.0.20:0@/etc/systemd/network/20-file.network:2"] | - - -`,
			},
			err: []string{"/etc/systemd/network/10-eth0.network.d: too many levels of symbolic links"},
		},
		{
			name: "a network folder that is a file",
			tree: map[string]string{
				"/etc/systemd/network":                 "a file, not a folder",
				"/run/systemd/network/10-eth0.network": eth0,
			},
			files: []string{"/run/systemd/network/10-eth0.network"},
			nets:  []string{`/run/systemd/network/10-eth0.network ["eth0"] ["10.0.0.1:0@/run/systemd/network/10-eth0.network:4"] | - - -`},
			err:   []string{"/etc/systemd/network:"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(parsetest.Root(t, tt.tree))
			checkErr(t, err, tt.err)
			if !reflect.DeepEqual(c.Files, tt.files) {
				t.Errorf("files %q, want %q", c.Files, tt.files)
			}
			if got := nets(c.Networks); !reflect.DeepEqual(got, tt.nets) {
				t.Errorf("networks\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.nets, "\n"))
			}
		})
	}
}

// checkErr: err names each of want (and holds FileErrors), or is nil when
// want is empty.
func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 && err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not name %q", err, w)
		}
	}
	if err != nil {
		parsetest.MustBeFileError(t, err)
		if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
			t.Errorf("%d errors, want %d: %v", n, len(want), err)
		}
	}
}

// TestLoadNullDevice: a link to /dev/null written another way, or the device
// node itself, masks as the literal link does (null_or_empty_path stats it).
func TestLoadNullDevice(t *testing.T) {
	r := parsetest.Root(t, map[string]string{
		"/etc/systemd/network/10-eth0.network":     "-> ../../../dev/./null",
		"/usr/lib/systemd/network/10-eth0.network": "[Network]\nDNS=169.254.25.10\n",
		"/etc/systemd/network/20-node.network":     "placeholder",
		"/run/systemd/network/20-node.network":     "[Network]\nDNS=127.0.0.53\n",
		"/etc/systemd/network/30-ok.network":       "[Network]\nDNS=10.0.0.1\n",
	})
	for _, p := range []string{"/dev/null", "/etc/systemd/network/20-node.network"} {
		hp := filepath.Join(r.Dir(), p)
		_ = os.Remove(hp)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(hp, syscall.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Skipf("mknod %s: %v (needs CAP_MKNOD)", p, err)
		}
	}
	c, err := Load(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := nets(c.Networks); len(got) != 1 || !strings.HasPrefix(got[0], "/etc/systemd/network/30-ok.network ") {
		t.Errorf("networks %q, want only 30-ok", got)
	}
}

// TestLoadHostile puts the shared hostile corpus of resolved.conf (the same
// systemd syntax; hostcfg/testdata/hostile) where a .network file goes, its
// [Resolve] header turned into [Network]: never a panic; an input that can't
// be read is a FileError naming the file and the line, and no network.
func TestLoadHostile(t *testing.T) {
	want := map[string]string{ // "" : read; else the error's path:line
		"bad-address":          "/etc/systemd/network/10-x.network:2",
		"binary-junk":          "/etc/systemd/network/10-x.network:1",
		"continuation":         "",
		"no-section":           "",
		"non-utf8":             "/etc/systemd/network/10-x.network:2",
		"unterminated-section": "/etc/systemd/network/10-x.network:1",
	}
	files, err := filepath.Glob(filepath.Join("..", "testdata", "hostile", "resolved.conf", "*"))
	if err != nil || len(files) < len(want) {
		t.Fatalf("hostile corpus: %d files (%v)", len(files), err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		w, ok := want[name]
		if !ok {
			t.Errorf("%s: no expectation", name)
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			data := strings.ReplaceAll(string(data), "[Resolve", "[Network")
			c, err := Load(parsetest.Root(t, map[string]string{"/etc/systemd/network/10-x.network": data}))
			if w == "" {
				if err != nil || len(c.Networks) != 1 {
					t.Fatalf("err %v, networks %d", err, len(c.Networks))
				}
				return
			}
			var fe *hostcfg.FileError
			if !errors.As(err, &fe) || fmt.Sprintf("%s:%d", fe.Path, fe.Line) != w {
				t.Errorf("error %v, want one about %s", err, w)
			}
			if len(c.Networks) != 0 || len(c.Files) != 0 {
				t.Errorf("an unreadable file was kept: %+v", c)
			}
		})
	}
}

func FuzzNetworkFile(f *testing.F) {
	parsetest.AddSeeds(f, filepath.Join("..", "testdata", "hostile", "resolved.conf", "*"),
		"[Match]\nName=eth0\n[Network]\nDNS=169.254.25.10 [::1]:53%lo#x 1.1.1.1:853\nDNS=\n[DHCP]\nUseDNS=no\n",
		"[DHCPv4]\nUseDNS=yes\n[DHCPv6]\nUseDNS=off\n[IPv6AcceptRA]\nUseDNS=1\n",
		"\ufeff[Network]\nDNS=1.1.1.1 \\\n# c\n 8.8.8.8\\\\\\\n",
		"[Network\n",
		"[Network]\r\nDNS=fe80::1%eth0#name\r\n",
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		const p = "/etc/systemd/network/10-x.network"
		ps := parser{n: Network{File: p}}
		if err := ps.apply(p, data); err != nil {
			var fe *hostcfg.FileError
			if !errors.As(err, &fe) || fe.Path != p {
				t.Fatalf("error %v does not name the file", err)
			}
			return
		}
		lines := strings.Count(string(data), "\n") + 1
		for _, s := range ps.n.DNS {
			if !s.Addr.IsValid() || s.File != p || s.Line < 1 || s.Line > lines || s.Port == 53 || s.Port == 853 {
				t.Fatalf("server %+v", s)
			}
		}
		for _, s := range []hostcfg.Setting{ps.n.DHCPv4UseDNS, ps.n.DHCPv6UseDNS, ps.n.IPv6AcceptRAUseDNS} {
			if s.Value != "" && s.Value != "yes" && s.Value != "no" {
				t.Fatalf("UseDNS %+v", s)
			}
		}
		// A drop-in of the same text applies on top without error.
		if err := ps.apply(p+".d/x.conf", data); err != nil {
			t.Fatalf("second apply: %v", err)
		}
	})
}
