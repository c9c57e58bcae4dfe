package netplan

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/networkd"
)

// Renders is the link whose rendered file is file (nil when netplan renders
// no such file).
func (c *Config) Renders(file string) *Link {
	if c == nil {
		return nil
	}
	for i, l := range c.Links {
		if r := l.Rendered(); r != "" && r == file {
			return &c.Links[i]
		}
	}
	return nil
}

// Set is a server netplan hands a link's backend: written in the YAML, or
// brought by networkd's lease of a link whose YAML asks DHCP for servers.
type Set struct {
	Link  *Link
	Addr  netip.Addr
	File  string // the YAML file and line: the nameserver, or dhcp4: true
	Line  int
	First string // the setting as a chain's first link
	Lease string // the lease, for people; "" for a nameserver of the YAML
}

// Sets are the servers c's links hand their backend: the YAML's
// nameservers, then what networkd's leases of a link bring where the YAML
// does not say use-dns: false.
func (c *Config) Sets(leases []networkd.Lease) []Set {
	if c == nil {
		return nil
	}
	var out []Set
	for i := range c.Links {
		l := &c.Links[i]
		for _, sv := range l.Nameservers {
			out = append(out, Set{Link: l, Addr: sv.Addr, File: sv.File, Line: sv.Line,
				First: fmt.Sprintf("%s line %d: nameservers: addresses: lists %s (netplan, %s: %s)", sv.File, sv.Line, sv.Text, l.Type, l.ID)})
		}
	}
	for _, ls := range leases {
		l := c.Renders(ls.NetworkFile)
		if l == nil || !l.LeaseDNS(4) {
			continue
		}
		for _, a := range ls.DNS {
			out = append(out, Set{Link: l, Addr: a.WithZone(""), File: l.DHCP4.File, Line: l.DHCP4.Line,
				Lease: fmt.Sprintf("systemd-networkd's DHCPv4 lease on link %d (%s line %d)", ls.Ifindex, ls.File, ls.Line),
				First: fmt.Sprintf("%s line %d: dhcp4: true, and no dhcp4-overrides: use-dns: false (netplan, %s: %s)", l.DHCP4.File, l.DHCP4.Line, l.Type, l.ID)})
		}
	}
	return out
}

// Fix is the edit of one YAML file: its looping nameservers removed, the
// leases' servers of Leases' links turned off. use-dns: false drops a
// lease's clean servers too, so they are written as the link's nameservers
// (Keep; until the next apply: a renew that brings others is not followed),
// as the networkd strategy keeps them as DNS=.
type Fix struct {
	File   string
	Remove bool
	Leases []*Link
	Keep   map[*Link][]netip.Addr
}

// Fixes groups the looping sets by the YAML file that holds them, in order.
func Fixes(sets []Set, looping func(netip.Addr) bool) []*Fix {
	var out []*Fix
	defer func() {
		for _, f := range out {
			f.Keep = map[*Link][]netip.Addr{}
			for _, l := range f.Leases {
				f.Keep[l] = LeaseKeeps(sets, l, looping)
			}
		}
	}()
	for _, st := range sets {
		if !looping(st.Addr) {
			continue
		}
		i := slices.IndexFunc(out, func(f *Fix) bool { return f.File == st.File })
		if i < 0 {
			out = append(out, &Fix{File: st.File})
			i = len(out) - 1
		}
		if st.Lease == "" {
			out[i].Remove = true
		} else if !slices.Contains(out[i].Leases, st.Link) {
			out[i].Leases = append(out[i].Leases, st.Link)
		}
	}
	return out
}

// Apply makes the file's edits to data.
func (f *Fix) Apply(data []byte, looping func(netip.Addr) bool, fill []netip.Addr) ([]byte, error) {
	var err error
	if f.Remove {
		if data, err = Remove(f.File, data, looping, fill); err != nil {
			return nil, err
		}
	}
	for _, l := range f.Leases {
		// networkd takes one [DHCP] UseDNS= for both families: netplan
		// refuses dhcp4 and dhcp6 overrides that differ (combine_dhcp_overrides).
		for _, fam := range []int{4, 6} {
			if fam == 6 && l.DHCP6.Value != "yes" {
				continue
			}
			if data, err = NoLeaseDNS(f.File, data, l.Type, l.ID, fam); err != nil {
				return nil, err
			}
		}
		if data, err = AddNameservers(f.File, data, l.Type, l.ID, f.Keep[l]); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// LeaseKeeps are the clean servers l's leases bring that its YAML does not
// list already: what use-dns: false would drop with the looping ones.
func LeaseKeeps(sets []Set, l *Link, looping func(netip.Addr) bool) []netip.Addr {
	var out []netip.Addr
	for _, st := range sets {
		if st.Link != l || st.Lease == "" || looping(st.Addr) || slices.Contains(out, st.Addr) ||
			slices.ContainsFunc(l.Nameservers, func(s Server) bool { return s.Addr == st.Addr }) {
			continue
		}
		out = append(out, st.Addr)
	}
	return out
}

// NeedsFill: some link lists only looping servers and no lease gives it
// others, so its list needs the upstreams in their place.
func (c *Config) NeedsFill(looping func(netip.Addr) bool) bool {
	for _, l := range c.Links {
		if len(l.Nameservers) == 0 || l.LeaseDNS(4) || l.LeaseDNS(6) {
			continue
		}
		if !slices.ContainsFunc(l.Nameservers, func(s Server) bool { return !looping(s.Addr) }) {
			return true
		}
	}
	return false
}

// FixRendered writes networkd's rendered file p as netplan generates it
// from the edited YAML: without the looping DNS= lines, and with
// UseDNS=false when the link's leases' servers were turned off.
// keep are the lease's clean servers the YAML now lists.
func FixRendered(p string, data []byte, looping func(netip.Addr) bool, fill []netip.Addr, lease bool, keep []netip.Addr) ([]byte, error) {
	b, err := RenderedWithout(p, data, looping, fill)
	if err == nil && lease {
		b, err = RenderedNoUseDNS(p, b)
	}
	if err == nil {
		b, err = RenderedAddDNS(p, b, keep)
	}
	return b, err
}
