package netplan

import (
	"net/netip"
	"testing"
)

// rendered is what netplan.io 0.106 generates for eth0 with dhcp4: true and
// nameservers: addresses: [169.254.25.10, 10.0.0.2, "fd00::53"].
const rendered = "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nDNS=169.254.25.10\nDNS=10.0.0.2\nDNS=fd00::53\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\n"

func TestRenderedWithout(t *testing.T) {
	got, err := RenderedWithout("/run/systemd/network/10-netplan-eth0.network", []byte(rendered), loops, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nDNS=10.0.0.2\nDNS=fd00::53\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	all := func(netip.Addr) bool { return true }
	got, err = RenderedWithout("/run/systemd/network/10-netplan-eth0.network", []byte(rendered), all,
		[]netip.Addr{netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.0.9")})
	if err != nil {
		t.Fatal(err)
	}
	want = "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nDNS=10.0.0.9\nDNS=fd00::1\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\n"
	if string(got) != want {
		t.Errorf("all looping: got\n%s\nwant\n%s", got, want)
	}
}

func TestRenderedNoUseDNS(t *testing.T) {
	got, err := RenderedNoUseDNS("/run/systemd/network/10-netplan-eth0.network", []byte(rendered+"UseRoutes=false\nUseNTP=false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := rendered + "UseRoutes=false\nUseDNS=false\nUseNTP=false\n"; string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if _, err := RenderedNoUseDNS("/run/systemd/network/10-netplan-eth0.network", []byte("[Match]\nName=eth0\n")); err == nil {
		t.Error("no [DHCP] section: no error")
	}
}

func TestRenderedAddDNS(t *testing.T) {
	in := "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nDomains=x\n\n[DHCP]\nRouteMetric=100\n"
	got, err := RenderedAddDNS("/run/systemd/network/10-netplan-eth0.network", []byte(in), []netip.Addr{netip.MustParseAddr("fd00::2"), netip.MustParseAddr("10.0.0.2")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\nLinkLocalAddressing=ipv6\nDNS=10.0.0.2\nDNS=fd00::2\nDomains=x\n\n[DHCP]\nRouteMetric=100\n"; string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
