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

// ifcfgLine is one KEY=VALUE line of an ifcfg profile.
type ifcfgLine struct {
	key, value string
	line       int
	start      int // offset of the key in the file
}

// parseIfcfg reads an ifcfg profile's KEY=VALUE lines as shell assignments:
// '#' comments, a value in single or double quotes or bare. Lines of any
// other form are skipped, as ifcfg-rh's shvar.c does.
func parseIfcfg(p string, data []byte) ([]ifcfgLine, error) {
	if err := conffile.Check(p, data, conffile.MaxINILine); err != nil {
		return nil, err
	}
	var out []ifcfgLine
	for i, l := range conffile.Lines(data) {
		raw := string(data[l.Start:l.End])
		t := strings.TrimLeftFunc(raw, conffile.IsSpace)
		key, val, ok := strings.Cut(t, "=")
		if !ok || t == "" || t[0] == '#' || strings.ContainsFunc(key, conffile.IsSpace) {
			continue
		}
		val = strings.TrimRightFunc(val, conffile.IsSpace)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		out = append(out, ifcfgLine{key: key, value: val, line: i + 1, start: l.Start + len(raw) - len(t)})
	}
	return out, nil
}

// ParseIfcfg returns the servers of an ifcfg profile: DNS1, DNS2… in
// order, read as ifcfg-rh reads them, up to the first number missing
// (make_ip4_setting in src/settings/plugins/ifcfg-rh/reader.c, NetworkManager
// 1.0 to 1.4x). A value that is not an address is an error naming the line:
// NetworkManager refuses the profile.
func ParseIfcfg(p string, data []byte) ([]Server, error) {
	lines, err := parseIfcfg(p, data)
	if err != nil {
		return nil, err
	}
	last := map[int]ifcfgLine{} // a key set twice: the last one counts, as in the shell
	for _, l := range lines {
		if n, ok := ifcfgKey(l.key); ok {
			last[n] = l
		}
	}
	var out []Server
	for n := 1; ; n++ {
		l, ok := last[n]
		if !ok {
			break
		}
		a, err := netip.ParseAddr(strings.TrimSpace(l.value))
		if err != nil {
			return nil, hostcfg.Errorf(p, l.line, "%s: %q is not an IP address", l.key, l.value)
		}
		out = append(out, Server{Addr: a, Key: l.key, Section: "ifcfg", File: p, Line: l.line})
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
	lines, _ := parseIfcfg(p, data)
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
			j := slices.IndexFunc(lines, func(x ifcfgLine) bool { return x.line == n })
			k := lines[j]
			b.Write(data[l.Start:k.start])
			b.WriteString(renamed[n])
			b.Write(data[k.start+len(k.key) : l.Next])
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
