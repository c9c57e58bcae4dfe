package networkd

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// The folders of networkd's runtime state: the DHCPv4 lease of each link it
// runs a DHCP client on, and each link's state, both named by ifindex
// (link_save and dhcp_lease_save in systemd v252–v257, src/network/networkd-
// state-file.c and src/libsystemd-network/sd-dhcp-lease.c).
const (
	LeaseDir = "/run/systemd/netif/leases"
	LinkDir  = "/run/systemd/netif/links"
)

// Lease is the DHCPv4 lease networkd holds for a link: the servers it got,
// which it hands resolved unless the link's network says [DHCPv4] UseDNS=no.
type Lease struct {
	File        string // LeaseDir/IFINDEX
	Line        int    // of its DNS= line
	Ifindex     int
	NetworkFile string // the .network file the link is configured by (its state's NETWORK_FILE=)
	DNS         []netip.Addr
}

// LoadLeases reads every lease under LeaseDir that names DNS servers, with
// the network file of its link. No folder is no lease (networkd not run).
// A lease or state file that can't be read, or a DNS= value that is not an
// address, is an error naming the file and line; the other leases are read.
func LoadLeases(r *hostcfg.Root) ([]Lease, error) {
	ents, err := r.ReadDir(LeaseDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Lease
	var errs []error
	for _, e := range ents {
		idx, err := strconv.Atoi(e.Name())
		if err != nil || idx <= 0 {
			continue // not networkd's (it names them by ifindex only)
		}
		l, err := loadLease(r, idx)
		if err != nil {
			errs = append(errs, err)
		} else if l != nil {
			out = append(out, *l)
		}
	}
	return out, errors.Join(errs...)
}

func loadLease(r *hostcfg.Root, idx int) (*Lease, error) {
	l := &Lease{File: path.Join(LeaseDir, strconv.Itoa(idx)), Ifindex: idx}
	data, ok, err := r.ReadFileIfExists(l.File)
	if err != nil || !ok {
		return nil, err
	}
	if err := conffile.Check(l.File, data, conffile.MaxINILine); err != nil {
		return nil, err
	}
	err = forEachKey(data, func(num int, key, val string) error {
		if key != "DNS" {
			return nil
		}
		l.Line, l.DNS = num, nil
		for _, f := range strings.Fields(val) {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return hostcfg.Errorf(l.File, num, "DNS=: %q is not an address", f)
			}
			l.DNS = append(l.DNS, a)
		}
		return nil
	})
	if err != nil || len(l.DNS) == 0 {
		return nil, err
	}
	state := path.Join(LinkDir, strconv.Itoa(idx))
	data, ok, err = r.ReadFileIfExists(state)
	if err != nil || !ok {
		return l, err
	}
	err = forEachKey(data, func(_ int, key, val string) error {
		if key == "NETWORK_FILE" {
			l.NetworkFile = val
		}
		return nil
	})
	return l, err
}

// forEachKey calls f for each KEY=VALUE line of an env-style state file
// (networkd writes them with fputs, no quoting; # lines are comments).
func forEachKey(data []byte, f func(num int, key, val string) error) error {
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok {
			if err := f(i+1, k, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// Leased is a server of a lease that networkd hands resolved: its link's
// network (Networks' element) does not set [DHCPv4] UseDNS=no.
type Leased struct {
	Addr    netip.Addr
	Lease   Lease
	Network *Network
}

// Says is where the server came from, for people.
func (d Leased) Says() string {
	return fmt.Sprintf("systemd-networkd's DHCPv4 lease on link %d (%s line %d; %s does not set [DHCPv4] UseDNS=no)",
		d.Lease.Ifindex, d.Lease.File, d.Lease.Line, d.Network.File)
}

// LeasedServers are the servers of leases that reach resolved: those of a
// link whose network file is one of c's, without UseDNS=no.
func (c *Config) LeasedServers(leases []Lease) []Leased {
	if c == nil {
		return nil
	}
	var out []Leased
	for _, l := range leases {
		i := slices.IndexFunc(c.Networks, func(n Network) bool { return n.File == l.NetworkFile })
		if i < 0 || c.Networks[i].DHCPv4UseDNS.Value == "no" {
			continue // not known to reach resolved
		}
		for _, a := range l.DNS {
			out = append(out, Leased{Addr: a, Lease: l, Network: &c.Networks[i]})
		}
	}
	return out
}

// Set is a server as networkd was told it: a DNS= line, or a lease's.
type Set struct {
	Addr  netip.Addr // without zone
	File  string
	Line  int
	Text  string // the setting: DNS=TEXT, or the lease's server
	First string // the setting as a chain's first link
	Says  string // where it came from, for people
}

// Sets are the servers of c's DNS= lines, then those of the leases that
// reach resolved, in networkd's order.
func (c *Config) Sets(leases []Lease) []Set {
	var out []Set
	if c == nil {
		return nil
	}
	for _, nw := range c.Networks {
		for _, sv := range nw.DNS {
			out = append(out, Set{sv.Addr.WithZone(""), sv.File, sv.Line, "DNS=" + sv.Text,
				fmt.Sprintf("%s line %d: DNS=%s%s", sv.File, sv.Line, sv.Text, matching(nw)),
				fmt.Sprintf("DNS= in %s line %d", sv.File, sv.Line)})
		}
	}
	for _, d := range c.LeasedServers(leases) {
		a := d.Addr.WithZone("")
		out = append(out, Set{a, d.Lease.File, d.Lease.Line, "DHCPv4 lease DNS " + a.String(), d.Says() + ": " + a.String(), d.Says()})
	}
	return out
}

// matching says which links a network is for.
func matching(nw Network) string {
	if len(nw.Match) == 0 {
		return ""
	}
	return " (for links " + strings.Join(nw.Match, " ") + ")"
}
