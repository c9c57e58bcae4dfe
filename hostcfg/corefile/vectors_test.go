package corefile

import (
	"testing"
)

// CoreDNS's own vectors for forward targets (data only; the test code is
// unloop's), from coredns/coredns v1.14.7: plugin/pkg/parse/host_test.go
// (TestHostPortOrFile, TestParseHostPort) and plugin/forward/setup_test.go
// (TestSetup's targets). want is the address CoreDNS sends to, zone left
// out; path a file it reads; "" and "" a target unloop does not judge.
var coreDNSTargetVectors = []struct {
	in      string
	want    string
	path    string
	differs string // why unloop does not see what CoreDNS sees; "" when it does
}{
	// TestHostPortOrFile
	{"8.8.8.8", "8.8.8.8:53", "", ""},
	{"8.8.8.8:153", "8.8.8.8:153", "", ""},
	{"/etc/resolv.conf:53", "", "/etc/resolv.conf:53", ""}, // a file of that name, which CoreDNS fails to open
	{"resolv.conf", "", "", "a relative file depends on CoreDNS's working folder, which unloop can't know: not judged"},
	{"fe80::1", "[fe80::1]:53", "", ""},
	{"fe80::1%ens3", "[fe80::1]:53", "", ""}, // CoreDNS keeps the zone for the dial; the address is the same
	{"[fd01::1]:153", "[fd01::1]:153", "", ""},
	{"[fd01::1%ens3]:153", "[fd01::1]:153", "", ""},
	{"8.9.1043", "", "", ""},               // CoreDNS: not an IP address or file
	{"unix:///var/run/g.sock", "", "", ""}, // a socket: no address to loop through
	{"unix://", "", "", ""},                // CoreDNS: invalid address
	// TestParseHostPort
	{"8.8.8.8:53", "8.8.8.8:53", "", ""},
	{"a.a.a.a:153", "", "", ""},
	{"8.8.8.8", "8.8.8.8:53", "", ""},
	{"8.8.8.8:", "", "", "CoreDNS's HostPort fills in port 53; forward keeps \"8.8.8.8:\" and dials port 0: not judged"},
	{"8.8.8.8::53", "", "", ""},
	{"resolv.conf", "", "", "a relative file: not judged"},
	{"fe80::1%ens3", "[fe80::1]:53", "", ""},
	{"[fd01::1%ens3]:153", "[fd01::1]:153", "", ""},
	// TestSetup's targets
	{"127.0.0.1", "127.0.0.1:53", "", ""},
	{"127.0.0.1:53", "127.0.0.1:53", "", ""},
	{"127.0.0.1:8080", "127.0.0.1:8080", "", ""},
	{"[::1]:53", "[::1]:53", "", ""},
	{"[2003::1]:53", "[2003::1]:53", "", ""},
	{"::1", "[::1]:53", "", ""},
	{"tls://[2400:3200::1%dns.alidns.com]:853", "", "", "DNS over TLS: unloop judges plain DNS targets only"},
	{"https://127.0.0.1", "", "", "DNS over HTTPS: unloop judges plain DNS targets only"},
	{"a27.0.0.1", "", "", ""}, // CoreDNS: failed to resolve
}

func TestVectorsCoreDNSTargets(t *testing.T) {
	for _, v := range coreDNSTargetVectors {
		addr, path, ok := ForwardTarget(v.in)
		got := ""
		if addr.IsValid() {
			got = addr.String()
		}
		if v.differs != "" {
			if ok {
				t.Errorf("%q: unloop judges it as %q %q, want not judged (%s)", v.in, got, path, v.differs)
			}
			continue
		}
		if got != v.want || path != v.path || ok != (v.want != "" || v.path != "") {
			t.Errorf("%q: unloop sees %q %q (ok %v), CoreDNS %q %q", v.in, got, path, ok, v.want, v.path)
		}
		if addr.IsValid() && addr.Addr().Zone() != "" {
			t.Errorf("%q: %v keeps its zone", v.in, addr)
		}
	}
}
