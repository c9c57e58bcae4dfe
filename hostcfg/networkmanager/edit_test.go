package networkmanager

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
)

var nodeCache = netip.MustParseAddr("169.254.25.10")

func isNodeCache(a netip.Addr) bool { return a == nodeCache }

// RemoveServers changes only the list's bytes: the separator NetworkManager
// or the admin used, a trailing one, comments and the other keys stay.
func TestRemoveServers(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		line     int
		add      []string
		want     string
	}{
		{"conf.d global, commas", "# kubespray\n[global-dns-domain-*]\nservers=169.254.25.10,10.0.0.2\n", 3, nil,
			"# kubespray\n[global-dns-domain-*]\nservers=10.0.0.2\n"},
		{"keyfile as nmcli writes it", "[ipv4]\ndns=169.254.25.10;10.0.0.2;\nmethod=manual\n", 2, nil,
			"[ipv4]\ndns=10.0.0.2;\nmethod=manual\n"},
		{"in the middle, spaces kept around the key", "[ipv4]\ndns = 10.0.0.1;169.254.25.10;10.0.0.2  \n", 2, nil,
			"[ipv4]\ndns = 10.0.0.1;10.0.0.2  \n"},
		{"a DoT URI and a name", "[global-dns-domain-*]\nservers=dns+tls://169.254.25.10#cache,10.0.0.2\n", 2, nil,
			"[global-dns-domain-*]\nservers=10.0.0.2\n"},
		{"none left: the upstreams", "[ipv4]\ndns=169.254.25.10;\n", 2, []string{"192.0.2.53"},
			"[ipv4]\ndns=192.0.2.53;\n"},
		{"no newline at the end, CRLF before", "[ipv4]\r\ndns=169.254.25.10,10.0.0.2", 2, nil,
			"[ipv4]\r\ndns=10.0.0.2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RemoveServers("/f", []byte(tt.in), tt.line, isNodeCache, tt.add)
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

// A line that is no key=value is refused, naming the file and line.
func TestRemoveServersRefuses(t *testing.T) {
	_, err := RemoveServers("/etc/NetworkManager/conf.d/x.conf", []byte("[main]\n# servers\n"), 2, isNodeCache, nil)
	var fe *hostcfg.FileError
	if !errors.As(err, &fe) || fe.Line != 2 || !strings.Contains(err.Error(), "x.conf") {
		t.Fatalf("err %v, want one naming x.conf line 2", err)
	}
}

// ifcfg profiles (parser tests only: Debian's NetworkManager has no ifcfg-rh
// plugin to run them).
func TestParseIfcfg(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
		err      string
	}{
		{"RHEL's profile", "TYPE=Ethernet\nBOOTPROTO=none\nDNS1=169.254.25.10\nDNS2=\"10.0.0.2\"\n", []string{"DNS1 169.254.25.10@/p:3", "DNS2 10.0.0.2@/p:4"}, ""},
		{"stops at the first number missing", "DNS1=10.0.0.1\nDNS3=169.254.25.10\n", []string{"DNS1 10.0.0.1@/p:1"}, ""},
		{"the last assignment counts", "DNS1=10.0.0.1\nDNS1='10.0.0.3'\n", []string{"DNS1 10.0.0.3@/p:2"}, ""},
		{"IPv6 and comments", "# DNS1=10.9.9.9\nDNS1=fd00::53\n", []string{"DNS1 fd00::53@/p:2"}, ""},
		{"not an address", "DNS1=dns.example\n", nil, "/p:1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIfcfg("/p", []byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %s", err, tt.err)
				}
				return
			}
			if err != nil || strings.Join(nmServers(got), ",") != strings.Join(tt.want, ",") {
				t.Errorf("got %q, %v, want %q", nmServers(got), err, tt.want)
			}
		})
	}
}

// Removing DNS1 numbers the ones after it again: ifcfg-rh stops reading at
// the first number missing, and would lose them.
func TestRemoveIfcfgServers(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		add      []string
		want     string
	}{
		{"first of three", "ONBOOT=yes\nDNS1=169.254.25.10\nDNS2=10.0.0.2\n  DNS3=\"10.0.0.3\"\n", nil, "ONBOOT=yes\nDNS1=10.0.0.2\n  DNS2=\"10.0.0.3\"\n"},
		{"last", "DNS1=10.0.0.2\nDNS2=169.254.25.10\nPEERDNS=no\n", nil, "DNS1=10.0.0.2\nPEERDNS=no\n"},
		{"the only one: the upstreams", "DNS1=169.254.25.10", []string{"192.0.2.53"}, "DNS1=192.0.2.53\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RemoveIfcfgServers("/p", []byte(tt.in), isNodeCache, tt.add)
			if err != nil || string(got) != tt.want {
				t.Errorf("got %q, %v\nwant %q", got, err, tt.want)
			}
		})
	}
}

// SetValue changes only the value: dns=dnsmasq becomes dns=default with the
// blanks, comments and the other keys of NetworkManager.conf as they were;
// a line that is not key=value is refused with its file and line.
func TestSetValue(t *testing.T) {
	in := "# Ubuntu\n[main]\nplugins=ifupdown,keyfile\ndns = dnsmasq  \n\n[ifupdown]\nmanaged=false\n"
	got, err := SetValue("/etc/NetworkManager/NetworkManager.conf", []byte(in), 4, "default")
	if want := strings.Replace(in, "dns = dnsmasq  ", "dns = default  ", 1); err != nil || string(got) != want {
		t.Fatalf("SetValue = %q, %v, want %q", got, err, want)
	}
	if _, err := SetValue("/etc/NetworkManager/NetworkManager.conf", []byte(in), 2, "default"); err == nil ||
		!strings.Contains(err.Error(), "NetworkManager.conf:2:") {
		t.Errorf("SetValue on a [section] line: %v, want an error naming the file and line 2", err)
	}
}
