package networkmanager

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// IfcfgDir holds the ifcfg profiles NetworkManager's ifcfg-rh plugin reads
// (RHEL, Rocky, Alma 8 and 9; Debian builds NetworkManager without it).
const IfcfgDir = "/etc/sysconfig/network-scripts"

// ifcfgKey is DNS1, DNS2…: the servers of an ifcfg profile.
func ifcfgKey(key string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(key, "DNS"))
	return n, strings.HasPrefix(key, "DNS") && err == nil && n > 0 && !strings.HasPrefix(key, "DNS0")
}

// ParseIfcfg returns the servers of an ifcfg profile: DNS1, DNS2… in
// order, read as ifcfg-rh reads them, up to the first number missing
// (make_ip4_setting in src/settings/plugins/ifcfg-rh/reader.c, NetworkManager
// 1.0 to 1.4x). A value that is not an address is an error naming the line:
// NetworkManager refuses the profile.
func ParseIfcfg(p string, data []byte) ([]Server, error) {
	lines, err := conffile.Assignments(p, data)
	if err != nil {
		return nil, err
	}
	last := map[int]conffile.Assignment{} // a key set twice: the last one counts, as in the shell
	for _, l := range lines {
		if n, ok := ifcfgKey(l.Key); ok {
			last[n] = l
		}
	}
	var out []Server
	for n := 1; ; n++ {
		l, ok := last[n]
		if !ok {
			break
		}
		a, err := netip.ParseAddr(strings.TrimSpace(l.Value))
		if err != nil {
			return nil, hostcfg.Errorf(p, l.Line, "%s: %q is not an IP address", l.Key, l.Value)
		}
		out = append(out, Server{Addr: a, Key: l.Key, Section: "ifcfg", File: p, Line: l.Line})
	}
	return out, nil
}

// RemoveIfcfgServers returns an ifcfg profile without the DNSn lines whose
// server drop names, and the DNSn after them numbered again from the first
// one removed, so that ifcfg-rh, which stops at the first number missing,
// still reads them; add are written as DNSn lines when none would be left.
// Only those lines' bytes change. The result is parsed again and must name
// exactly the servers kept.
func RemoveIfcfgServers(p string, data []byte, drop func(netip.Addr) bool, add []string) ([]byte, error) {
	servers, err := ParseIfcfg(p, data)
	if err != nil {
		return nil, err
	}
	lines, _ := conffile.Assignments(p, data)
	var kept []string
	removed := map[int]bool{} // by line
	renamed := map[int]string{}
	for _, s := range servers {
		if drop(s.Addr.WithZone("")) {
			removed[s.Line] = true
			continue
		}
		kept = append(kept, s.Addr.String())
		if want := fmt.Sprintf("DNS%d", len(kept)); want != s.Key {
			renamed[s.Line] = want
		}
	}
	var b strings.Builder
	cuts := conffile.Lines(data)
	for i, l := range cuts {
		n := i + 1
		switch {
		case removed[n]:
		case renamed[n] != "":
			j := slices.IndexFunc(lines, func(x conffile.Assignment) bool { return x.Line == n })
			k := lines[j]
			b.Write(data[l.Start:k.Start])
			b.WriteString(renamed[n])
			b.Write(data[k.Start+len(k.Key) : l.Next])
		default:
			b.Write(data[l.Start:l.Next])
		}
	}
	out := []byte(b.String())
	if len(kept) == 0 {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		for i, a := range add {
			out = fmt.Appendf(out, "DNS%d=%s\n", i+1, a)
		}
		kept = add
	}
	again, err := ParseIfcfg(p, out)
	if err != nil {
		return nil, err
	}
	var got []string
	for _, s := range again {
		got = append(got, s.Addr.String())
	}
	if !slices.Equal(got, kept) {
		return nil, hostcfg.Errorf(p, 0, "the edited profile names %q, not %q", got, kept)
	}
	return out, nil
}

// readIfcfg reads the ifcfg profiles' servers.
func (nm *Config) readIfcfg(r *hostcfg.Root) []error {
	files, err := r.Glob(IfcfgDir, "ifcfg-*")
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	slices.Sort(files)
	files = slices.DeleteFunc(files, func(f string) bool { return nmIgnoredName(path.Base(f)) })
	errs = append(errs, hostcfg.ReadEach(r, files, func(p string, data []byte) error {
		servers, err := ParseIfcfg(p, data)
		if err != nil {
			return err
		}
		nm.Files = append(nm.Files, p)
		nm.Servers = append(nm.Servers, servers...)
		return nil
	})...)
	return errs
}
