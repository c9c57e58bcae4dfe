package netplan

import (
	"bytes"
	"net/netip"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// unloop runs no command on the node, so after editing the YAML it writes
// the .network file netplan renders for networkd as `netplan generate`
// would from the edited YAML (netplan.io 0.106 and 1.1, src/networkd.c
// write_network_file): each server a DNS= line of [Network] in the YAML's
// order, and a use-dns: false override as UseDNS=false in [DHCP], after
// RouteMetric=, UseMTU= and UseRoutes=. Only those lines change; the next
// `netplan generate` (netplan apply, or its systemd generator at boot)
// writes the same bytes.

// RenderedWithout returns networkd's rendered file p without the DNS= lines
// of looping servers; where none would be left, fill's servers take the
// first one's place, as netplan renders the list the YAML edit leaves.
func RenderedWithout(p string, data []byte, looping func(netip.Addr) bool, fill []netip.Addr) ([]byte, error) {
	var out bytes.Buffer
	section, kept, first := "", 0, -1
	lines := conffile.Lines(data)
	for _, l := range lines {
		text := strings.TrimSpace(string(data[l.Start:l.End]))
		if strings.HasPrefix(text, "[") {
			section = text
		}
		if v, ok := strings.CutPrefix(text, "DNS="); ok && section == "[Network]" {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, hostcfg.Errorf(p, conffile.LineOfOffset(data, l.Start), "DNS=%s is not what netplan writes: %w", v, ErrHand)
			}
			if looping(a.Unmap()) {
				if first < 0 {
					first = out.Len()
				}
				continue
			}
			kept++
		}
		out.Write(data[l.Start:l.Next])
	}
	if first < 0 {
		return data, nil
	}
	b := out.Bytes()
	if kept == 0 {
		var ins bytes.Buffer
		// netplan writes the IPv4 servers, then the IPv6 ones.
		fill = slices.Clone(fill)
		slices.SortStableFunc(fill, func(a, b netip.Addr) int { return a.BitLen() - b.BitLen() })
		for _, a := range fill {
			ins.WriteString("DNS=" + a.String() + "\n")
		}
		b = slices.Concat(b[:first], ins.Bytes(), b[first:])
	}
	return b, nil
}

// RenderedNoUseDNS returns networkd's rendered file p with UseDNS=false in
// its [DHCP] section, where netplan writes it; unchanged when it is there.
func RenderedNoUseDNS(p string, data []byte) ([]byte, error) {
	section, at := "", -1
	for _, l := range conffile.Lines(data) {
		text := strings.TrimSpace(string(data[l.Start:l.End]))
		switch {
		case strings.HasPrefix(text, "["):
			section = text
		case section != "[DHCP]":
		case text == "UseDNS=false":
			return data, nil
		case strings.HasPrefix(text, "RouteMetric="), strings.HasPrefix(text, "UseMTU="), strings.HasPrefix(text, "UseRoutes="):
			at = l.Next
		}
	}
	if at < 0 {
		return nil, hostcfg.Errorf(p, 0, "no [DHCP] section as netplan writes it: %w", ErrHand)
	}
	return slices.Concat(data[:at], []byte("UseDNS=false\n"), data[at:]), nil
}

// beforeDNS are the [Network] keys netplan writes before DNS= (0.106 and
// 1.1, write_network_file): new DNS= lines go after the last of them.
var beforeDNS = []string{"DHCP", "LinkLocalAddressing", "Address", "IPv6Token", "IPv6AcceptRA", "IPv6PrivacyExtensions", "Gateway", "DNS"}

// RenderedAddDNS returns networkd's rendered file p with DNS= lines for
// addrs where netplan writes them (IPv4 first).
func RenderedAddDNS(p string, data []byte, addrs []netip.Addr) ([]byte, error) {
	if len(addrs) == 0 {
		return data, nil
	}
	section, at := "", -1
	for _, l := range conffile.Lines(data) {
		text := strings.TrimSpace(string(data[l.Start:l.End]))
		if strings.HasPrefix(text, "[") {
			section = text
		}
		if k, _, ok := strings.Cut(text, "="); ok && section == "[Network]" && slices.Contains(beforeDNS, k) {
			at = l.Next
		}
	}
	if at < 0 {
		return nil, hostcfg.Errorf(p, 0, "no [Network] section as netplan writes it: %w", ErrHand)
	}
	addrs = slices.Clone(addrs)
	slices.SortStableFunc(addrs, func(a, b netip.Addr) int { return a.BitLen() - b.BitLen() })
	var ins bytes.Buffer
	for _, a := range addrs {
		ins.WriteString("DNS=" + a.String() + "\n")
	}
	return slices.Concat(data[:at], ins.Bytes(), data[at:]), nil
}
