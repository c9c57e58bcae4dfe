package resolved

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/parsetest"
)

func TestParseServer(t *testing.T) {
	tests := []struct {
		in    string
		addr  string
		port  uint16
		iface string
		name  string
	}{
		{"1.2.3.4", "1.2.3.4", 0, "", ""},
		{"1.2.3.4:53", "1.2.3.4", 53, "", ""},
		{"1.2.3.4:9953%eth0#dns.example", "1.2.3.4", 9953, "eth0", "dns.example"},
		{"1.2.3.4%eth0#dns.example", "1.2.3.4", 0, "eth0", "dns.example"},
		{"1.2.3.4#dns.example", "1.2.3.4", 0, "", "dns.example"},
		{"169.254.25.10", "169.254.25.10", 0, "", ""},
		{"::1", "::1", 0, "", ""},
		{"2001:db8::53", "2001:db8::53", 0, "", ""},
		{"[::1]:5353", "::1", 5353, "", ""},
		{"[::1]", "::1", 0, "", ""},
		{"[2001:db8::1]:9953%eth0#dns.example", "2001:db8::1%eth0", 9953, "eth0", "dns.example"},
		{"[fe80::1%eth0]:53", "fe80::1%eth0", 53, "eth0", ""},
		{"[fe80::1]%2", "fe80::1%2", 0, "2", ""},
		{"fe80::1%eth0", "fe80::1%eth0", 0, "eth0", ""},
		{"fe80::1%eth0#name", "fe80::1%eth0", 0, "eth0", "name"},
		{"1.2.3.4:65535", "1.2.3.4", 65535, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			srv, err := ParseServer(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			addr, port := srv.Addr, srv.Port
			if addr != netip.MustParseAddr(tt.addr) || port != tt.port {
				t.Errorf("got %v port %d, want %s port %d", addr, port, tt.addr, tt.port)
			}
			if srv.Interface != tt.iface || srv.Name != tt.name || srv.Text != tt.in {
				t.Errorf("interface %q name %q text %q, want %q %q", srv.Interface, srv.Name, srv.Text, tt.iface, tt.name)
			}
		})
	}
}

func TestParseServerErrors(t *testing.T) {
	for _, in := range []string{
		"", "dns.google", "1.2.3", "1.2.3.4:", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:x",
		"1.2.3.4#", "1.2.3.4##", "1.2.3.4#a b", "1.2.3.4%", "1.2.3.4%eth0:53", "1.2.3.4%a/b", "1.2.3.4%averyveryverylongname",
		"[::1", "[::1]x", "[::1]:", "[1.2.3.4]:53", "[fe80::1%eth0]%eth1", "::1:53:x",
		"[::1]:5353%", "fe80::1%", "1.2.3.4/24", "0x7f.0.0.1", "127.1",
	} {
		t.Run(in, func(t *testing.T) {
			srv, err := ParseServer(in)
			if err == nil {
				t.Fatalf("got %v port %d, want an error", srv.Addr, srv.Port)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("%q", in)) {
				t.Errorf("error %q does not quote the input", err)
			}
		})
	}
}

// servers is a compact view of a server list for comparisons.
func servers(l []Server) []string {
	var out []string
	for _, s := range l {
		out = append(out, fmt.Sprintf("%s@%s:%d", s.Text, s.File, s.Line))
	}
	return out
}

func TestConfigApply(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		dns   []string
		stub  hostcfg.Setting
		extra []hostcfg.Setting
	}{
		{
			name: "debian default file: all commented",
			in:   "[Resolve]\n#DNS=\n#FallbackDNS=\n;DNSStubListener=yes\n",
		},
		{
			name: "lists append across lines",
			in:   "[Resolve]\nDNS=169.254.25.10 1.1.1.1\nDNS = 8.8.8.8:53\nFallbackDNS=9.9.9.9#dns.quad9.net\n",
			dns:  []string{"169.254.25.10@/f:2", "1.1.1.1@/f:2", "8.8.8.8:53@/f:3"},
		},
		{
			// unloop never reads FallbackDNS=: a value resolved would refuse
			// must not make the file unreadable.
			name: "FallbackDNS is not read",
			in:   "[Resolve]\nFallbackDNS=1.1.1.1:99999 not-an-address\nDNS=1.1.1.1\n",
			dns:  []string{"1.1.1.1@/f:3"},
		},
		{
			name: "an empty assignment resets",
			in:   "[Resolve]\nDNS=1.1.1.1\nFallbackDNS=9.9.9.9\nDNS=\nFallbackDNS=\nDNS=8.8.8.8\n",
			dns:  []string{"8.8.8.8@/f:6"},
		},
		{
			name: "only the Resolve section counts",
			in:   "DNS=1.1.1.1\n[Network]\nDNS=2.2.2.2\n[resolve]\nDNS=3.3.3.3\n[Resolve]\nDNS=4.4.4.4\n[Other]\nDNS=not-checked\n",
			dns:  []string{"4.4.4.4@/f:7"},
		},
		{
			name: "stub listener: last wins",
			in:   "[Resolve]\nDNSStubListener=yes\nDNSStubListener = no\n",
			stub: hostcfg.Setting{Value: "no", File: "/f", Line: 3},
		},
		{
			name:  "stub listener extra: list, empty resets",
			in:    "[Resolve]\nDNSStubListenerExtra=169.254.25.10\nDNSStubListenerExtra=\nDNSStubListenerExtra=udp:[::1]:5353\nDNSStubListenerExtra=10.0.0.1\n",
			extra: []hostcfg.Setting{{Value: "udp:[::1]:5353", File: "/f", Line: 4}, {Value: "10.0.0.1", File: "/f", Line: 5}},
		},
		{
			name: "comments, blanks, crlf and a line without '='",
			in:   "# c\r\n; c\r\n\r\n[Resolve]\r\n  DNS=1.1.1.1  \r\nnonsense\r\n",
			dns:  []string{"1.1.1.1@/f:5"},
		},
		{
			name: "continuation lines",
			in:   "[Resolve]\nDNS=1.1.1.1 \\\n# a comment inside\n  8.8.8.8\nDNSStubListener=no\n",
			dns:  []string{"1.1.1.1@/f:2", "8.8.8.8@/f:2"},
			stub: hostcfg.Setting{Value: "no", File: "/f", Line: 5},
		},
		{
			name: "ipv6 servers with zone and port",
			in:   "[Resolve]\nDNS=fe80::1%eth0 [::1]:5353\n",
			dns:  []string{"fe80::1%eth0@/f:2", "[::1]:5353@/f:2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Config
			if err := c.Apply("/f", []byte(tt.in)); err != nil {
				t.Fatal(err)
			}
			if got := servers(c.DNS); !reflect.DeepEqual(got, tt.dns) {
				t.Errorf("DNS %q, want %q", got, tt.dns)
			}
			if c.DNSStubListener != tt.stub {
				t.Errorf("DNSStubListener %+v, want %+v", c.DNSStubListener, tt.stub)
			}
			if !reflect.DeepEqual(c.DNSStubListenerExtra, tt.extra) {
				t.Errorf("DNSStubListenerExtra %+v, want %+v", c.DNSStubListenerExtra, tt.extra)
			}
			if !reflect.DeepEqual(c.Files, []string{"/f"}) {
				t.Errorf("files %q", c.Files)
			}
		})
	}
}

func TestConfigApplyErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		line  int
		words []string
	}{
		{"invalid DNS address", "[Resolve]\nDNS=1.1.1.1\nDNS=1.1.1.1 nodelocal.dns\n", 3, []string{"DNS=", `"nodelocal.dns"`}},
		{"invalid DNS port", "[Resolve]\nDNS=1.1.1.1:99999\n", 2, []string{"DNS=", "port"}},
		{"bad section header", "[Resolve\nDNS=1.1.1.1\n", 1, []string{"section"}},
		{"NUL byte", "[Resolve]\nDNS=1.1.1.1\x00\n", 2, []string{"NUL"}},
		{"invalid UTF-8", "[Resolve]\n# \xc3\x28\n", 2, []string{"UTF-8"}},
		{"huge line", "[Resolve]\nDNS=" + strings.Repeat("1.1.1.1 ", conffile.MaxINILine/8) + "\n", 2, []string{"bytes long"}},
		{"huge file", strings.Repeat("#\n", hostcfg.MaxFileSize/2+1), 0, []string{"more than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{DNS: []Server{{Text: "before"}}, Files: []string{"/a"}}
			err := c.Apply("/etc/systemd/resolved.conf.d/x.conf", []byte(tt.in))
			parsetest.WantFileError(t, err, "/etc/systemd/resolved.conf.d/x.conf", tt.line, tt.words...)
			if len(c.DNS) != 1 || c.DNS[0].Text != "before" || len(c.Files) != 1 {
				t.Errorf("config changed by a failed Apply: %+v", c)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name  string
		tree  map[string]string
		files []string
		dns   []string
		stub  string
		err   []string // FileError paths:lines expected, joined
	}{
		{
			name: "nothing there",
			tree: map[string]string{"/etc/": ""},
		},
		{
			name: "etc main file wins over usr/lib",
			tree: map[string]string{
				"/etc/systemd/resolved.conf":     "[Resolve]\nDNS=1.1.1.1\n",
				"/usr/lib/systemd/resolved.conf": "[Resolve]\nDNS=2.2.2.2\n",
			},
			files: []string{"/etc/systemd/resolved.conf"},
			dns:   []string{"1.1.1.1@/etc/systemd/resolved.conf:2"},
		},
		{
			name: "main file from usr/local/lib when etc and run have none",
			tree: map[string]string{
				"/usr/local/lib/systemd/resolved.conf": "[Resolve]\nDNS=3.3.3.3\n",
				"/usr/lib/systemd/resolved.conf":       "[Resolve]\nDNS=2.2.2.2\n",
			},
			files: []string{"/usr/local/lib/systemd/resolved.conf"},
			dns:   []string{"3.3.3.3@/usr/local/lib/systemd/resolved.conf:2"},
		},
		{
			name: "main file from run",
			tree: map[string]string{
				"/run/systemd/resolved.conf":     "[Resolve]\nDNSStubListener=no\n",
				"/usr/lib/systemd/resolved.conf": "[Resolve]\nDNSStubListener=udp\n",
			},
			files: []string{"/run/systemd/resolved.conf"},
			stub:  "no",
		},
		{
			name: "drop-ins sorted by name across folders, same name shadowed",
			tree: map[string]string{
				"/etc/systemd/resolved.conf":                     "[Resolve]\nDNS=10.0.0.1\n",
				"/usr/lib/systemd/resolved.conf.d/10-a.conf":     "[Resolve]\nDNS=10.0.0.10\n",
				"/etc/systemd/resolved.conf.d/20-b.conf":         "[Resolve]\nDNS=10.0.0.20\n",
				"/run/systemd/resolved.conf.d/20-b.conf":         "[Resolve]\nDNS=10.0.0.99\n",
				"/usr/local/lib/systemd/resolved.conf.d/15.conf": "[Resolve]\nDNS=10.0.0.15\n",
				"/run/systemd/resolved.conf.d/30-c.conf":         "[Resolve]\nDNS=10.0.0.30\n",
				"/usr/lib/systemd/resolved.conf.d/30-c.conf":     "[Resolve]\nDNS=10.0.0.98\n",
				"/etc/systemd/resolved.conf.d/notes.txt":         "[Resolve]\nDNS=10.0.0.97\n",
				"/etc/systemd/resolved.conf.d/dir.conf/":         "",
			},
			files: []string{
				"/etc/systemd/resolved.conf",
				"/usr/lib/systemd/resolved.conf.d/10-a.conf",
				"/usr/local/lib/systemd/resolved.conf.d/15.conf",
				"/etc/systemd/resolved.conf.d/20-b.conf",
				"/run/systemd/resolved.conf.d/30-c.conf",
			},
			dns: []string{
				"10.0.0.1@/etc/systemd/resolved.conf:2",
				"10.0.0.10@/usr/lib/systemd/resolved.conf.d/10-a.conf:2",
				"10.0.0.15@/usr/local/lib/systemd/resolved.conf.d/15.conf:2",
				"10.0.0.20@/etc/systemd/resolved.conf.d/20-b.conf:2",
				"10.0.0.30@/run/systemd/resolved.conf.d/30-c.conf:2",
			},
		},
		{
			name: "a drop-in resets the main file's list (kubespray style)",
			tree: map[string]string{
				"/etc/systemd/resolved.conf":                  "[Resolve]\nDNS=192.168.2.136\n",
				"/etc/systemd/resolved.conf.d/kubespray.conf": "[Resolve]\nDNS=\nDNS=169.254.25.10\nDNSStubListener=no\n",
			},
			files: []string{"/etc/systemd/resolved.conf", "/etc/systemd/resolved.conf.d/kubespray.conf"},
			dns:   []string{"169.254.25.10@/etc/systemd/resolved.conf.d/kubespray.conf:3"},
			stub:  "no",
		},
		{
			name: "a link to /dev/null masks the name in every folder",
			tree: map[string]string{
				"/etc/systemd/resolved.conf.d/50-loop.conf":     "-> /dev/null",
				"/usr/lib/systemd/resolved.conf.d/50-loop.conf": "[Resolve]\nDNS=169.254.25.10\n",
				"/usr/lib/systemd/resolved.conf.d/60-ok.conf":   "[Resolve]\nDNS=1.1.1.1\n",
			},
			files: []string{"/usr/lib/systemd/resolved.conf.d/60-ok.conf"},
			dns:   []string{"1.1.1.1@/usr/lib/systemd/resolved.conf.d/60-ok.conf:2"},
		},
		{
			name: "a drop-in linked elsewhere in the root is read",
			tree: map[string]string{
				"/etc/systemd/resolved.conf.d/k8s.conf":  "-> /opt/k8s/resolved.conf",
				"/opt/k8s/resolved.conf":                 "[Resolve]\nDNS=169.254.20.10\n",
				"/etc/systemd/resolved.conf.d/gone.conf": "-> /opt/none.conf",
			},
			files: []string{"/etc/systemd/resolved.conf.d/k8s.conf"},
			dns:   []string{"169.254.20.10@/etc/systemd/resolved.conf.d/k8s.conf:2"},
		},
		{
			name: "a bad drop-in is an error naming it; the others still count",
			tree: map[string]string{
				"/etc/systemd/resolved.conf":            "[Resolve]\nDNS=1.1.1.1\n",
				"/etc/systemd/resolved.conf.d/bad.conf": "[Resolve]\n\nDNS=169.254.25.10 x\n",
				"/etc/systemd/resolved.conf.d/bin.conf": "\x7fELF\x00",
				"/etc/systemd/resolved.conf.d/ok.conf":  "[Resolve]\nDNS=8.8.8.8\n",
			},
			files: []string{"/etc/systemd/resolved.conf", "/etc/systemd/resolved.conf.d/ok.conf"},
			dns:   []string{"1.1.1.1@/etc/systemd/resolved.conf:2", "8.8.8.8@/etc/systemd/resolved.conf.d/ok.conf:2"},
			err:   []string{"/etc/systemd/resolved.conf.d/bad.conf:3", "/etc/systemd/resolved.conf.d/bin.conf:1"},
		},
		{
			name: "a huge main file is an error",
			tree: map[string]string{
				"/etc/systemd/resolved.conf":     strings.Repeat("#\n", hostcfg.MaxFileSize/2+1),
				"/usr/lib/systemd/resolved.conf": "[Resolve]\nDNS=2.2.2.2\n",
			},
			err: []string{"/etc/systemd/resolved.conf: file is"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parsetest.Root(t, tt.tree)
			c, err := Load(r)
			if len(tt.err) == 0 && err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.err {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v does not name %q", err, w)
				}
			}
			if err != nil {
				var fe *hostcfg.FileError
				if !errors.As(err, &fe) {
					t.Errorf("error %v holds no FileError", err)
				}
			}
			if !reflect.DeepEqual(c.Files, tt.files) {
				t.Errorf("files %q, want %q", c.Files, tt.files)
			}
			if got := servers(c.DNS); !reflect.DeepEqual(got, tt.dns) {
				t.Errorf("DNS %q, want %q", got, tt.dns)
			}
			if c.DNSStubListener.Value != tt.stub {
				t.Errorf("DNSStubListener %+v, want %q", c.DNSStubListener, tt.stub)
			}
		})
	}
}

func TestLoadUnreadableFolder(t *testing.T) {
	r := parsetest.Root(t, map[string]string{"/etc/systemd/resolved.conf.d": "a file, not a folder"})
	_, err := Load(r)
	parsetest.WantFileError(t, err, "/etc/systemd/resolved.conf.d", 0)
	if errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v", err)
	}
}

func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "1.2.3.4:53", "[::1]:5353", "1.2.3.4%eth0#dns.example", "fe80::1%eth0", "[fe80::1%2]:53#x", ":", "[]", "%#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := ParseServer(s)
		if err != nil {
			return
		}
		if !srv.Addr.IsValid() || srv.Text != s {
			t.Fatalf("%q: %+v", s, srv)
		}
		if srv.Addr.Zone() != "" && srv.Addr.Zone() != srv.Interface {
			t.Fatalf("%q: zone %q, interface %q", s, srv.Addr.Zone(), srv.Interface)
		}
		if strings.ContainsAny(srv.Interface, "%#/") || strings.Contains(srv.Name, "#") {
			t.Fatalf("%q: %+v", s, srv)
		}
	})
}

func FuzzResolvedConf(f *testing.F) {
	for _, s := range []string{
		"[Resolve]\nDNS=169.254.25.10 1.1.1.1:53\nFallbackDNS=\nDNSStubListener=no\n",
		"[Resolve]\nDNS=\\\n# c\n 8.8.8.8\nDNSStubListenerExtra=udp:[::1]:53\n",
		"# only a comment\n[Network]\nDNS=x\n",
		"[Resolve\n",
		"[Resolve]\r\nDNS=[fe80::1%eth0]:53#name\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var c Config
		err := c.Apply("/etc/systemd/resolved.conf", data)
		if err != nil {
			var fe *hostcfg.FileError
			if !errors.As(err, &fe) || fe.Path != "/etc/systemd/resolved.conf" {
				t.Fatalf("error %v does not name the file", err)
			}
			if len(c.Files) != 0 || len(c.DNS) != 0 {
				t.Fatalf("failed Apply changed the config")
			}
			return
		}
		for _, s := range c.DNS {
			if !s.Addr.IsValid() || s.Line < 1 || s.File != "/etc/systemd/resolved.conf" {
				t.Fatalf("server %+v", s)
			}
		}
		// Applying the same file twice appends the lists unless they reset.
		if err := c.Apply("/etc/systemd/resolved.conf", data); err != nil {
			t.Fatalf("second Apply: %v", err)
		}
	})
}
