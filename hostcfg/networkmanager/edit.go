package networkmanager

import (
	"bytes"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/resolved"
)

// RemoveServers returns data with the servers drop names taken out of the
// list on line (a keyfile's servers= or dns=, 1-based), and add appended
// when none would be left. Only the list's bytes change: the key, the
// separator it used (';' or ','), a trailing separator (nmcli writes
// "dns=192.0.2.1;"), the comment lines and every other line stay as they
// are. The result is parsed again: the line must hold exactly the servers
// kept, and the rest of the file the same entries as before.
func RemoveServers(path string, data []byte, line int, drop func(netip.Addr) bool, add []string) ([]byte, error) {
	start, end, err := valueAt(path, data, line)
	if err != nil {
		return nil, err
	}
	value := string(data[start:end])
	sep, trailing := listSeparator(value)
	var kept []string
	for _, item := range strings.FieldsFunc(value, func(r rune) bool { return r == ';' || r == ',' || conffile.IsSpace(r) }) {
		if a, ok := itemAddr(item); ok && drop(a) {
			continue
		}
		kept = append(kept, item)
	}
	if len(kept) == 0 {
		kept = add
	}
	list := strings.Join(kept, sep)
	if trailing && list != "" {
		list += sep
	}
	out := slices.Concat(data[:start], []byte(list), data[end:])
	if err := checkEdit(path, data, out, line, kept); err != nil {
		return nil, err
	}
	return out, nil
}

// valueAt is where the value of the key=value on line (1-based) starts
// and ends, without the blanks around it.
func valueAt(path string, data []byte, line int) (int, int, error) {
	lines := conffile.Lines(data)
	if line < 1 || line > len(lines) {
		return 0, 0, hostcfg.Errorf(path, line, "no such line")
	}
	l := lines[line-1]
	eq := bytes.IndexByte(data[l.Start:l.End], '=')
	if eq < 0 {
		return 0, 0, hostcfg.Errorf(path, line, "not a key=value line")
	}
	start, end := l.Start+eq+1, l.End
	for start < l.End && conffile.IsSpace(rune(data[start])) {
		start++
	}
	for end > start && conffile.IsSpace(rune(data[end-1])) {
		end--
	}
	return start, end, nil
}

// SetValue returns data with the value of the key=value on line replaced
// by value (dns=dnsmasq made dns=default): the key, the blanks, a comment
// and every other line stay as they are, and the result is parsed again
// to check that only that value changed.
func SetValue(path string, data []byte, line int, value string) ([]byte, error) {
	start, end, err := valueAt(path, data, line)
	if err != nil {
		return nil, err
	}
	out := slices.Concat(data[:start], []byte(value), data[end:])
	if err := checkEdit(path, data, out, line, []string{value}); err != nil {
		return nil, err
	}
	return out, nil
}

// listSeparator is the separator a list uses (';' where it has none:
// GLib's list separator, what NetworkManager writes) and whether it ends
// with one.
func listSeparator(v string) (string, bool) {
	sep := ";"
	if i := strings.IndexAny(v, ";,"); i >= 0 {
		sep = v[i : i+1]
	}
	return sep, strings.HasSuffix(v, sep)
}

// itemAddr is the address of one list item, as nmServerList reads it.
func itemAddr(item string) (netip.Addr, bool) {
	for _, scheme := range []string{"dns+tls://", "dns+udp://"} {
		item = strings.TrimPrefix(item, scheme)
	}
	srv, err := resolved.ParseServer(item)
	if err != nil {
		return netip.Addr{}, false
	}
	return srv.Addr.WithZone(""), true
}

// checkEdit parses before and after as key files: after must hold the same
// entries as before but for line, whose list must be kept.
func checkEdit(path string, before, after []byte, line int, kept []string) error {
	was, err := parseKeyfile(path, before)
	if err != nil {
		return err
	}
	now, err := parseKeyfile(path, after)
	if err != nil {
		return hostcfg.Errorf(path, line, "the edit would leave a file NetworkManager can't read: %v", err)
	}
	if len(was) != len(now) {
		return hostcfg.Errorf(path, line, "the edit changed more than the list of servers")
	}
	for i := range was {
		w, n := was[i], now[i]
		if w.section != n.section || w.key != n.key || w.line != n.line || (w.line != line && w.value != n.value) {
			return hostcfg.Errorf(path, n.line, "the edit changed more than the list of servers")
		}
		if w.line == line {
			got := strings.FieldsFunc(n.value, func(r rune) bool { return r == ';' || r == ',' || conffile.IsSpace(r) })
			if !slices.Equal(got, kept) {
				return hostcfg.Errorf(path, line, "the edited list is %q, not %q", got, kept)
			}
		}
	}
	return nil
}

// Edit is the looping servers of one list NetworkManager reads: a line of a
// key file, or an ifcfg profile's DNSn (Line 0: numbered again together).
type Edit struct {
	File    string
	Line    int
	Key     string   // "servers", "ipv4.dns", "ipv6.dns", "DNS1"…
	Looping []string // the addresses, without a zone
	All     bool     // every server of the list loops
}

// Edits groups the servers that loop by the list that holds them.
func Edits(servers []Server, loops func(netip.Addr) bool) []*Edit {
	var out []*Edit
	for _, sv := range servers {
		line := sv.Line
		if sv.Section == "ifcfg" {
			line = 0
		}
		i := slices.IndexFunc(out, func(e *Edit) bool { return e.File == sv.File && e.Line == line })
		if i < 0 {
			out = append(out, &Edit{File: sv.File, Line: line, Key: sv.Key, All: true})
			i = len(out) - 1
		}
		if a := sv.Addr.WithZone(""); loops(a) {
			out[i].Looping = append(out[i].Looping, a.String())
		} else {
			out[i].All = false
		}
	}
	return slices.DeleteFunc(out, func(e *Edit) bool { return len(e.Looping) == 0 })
}

// Apply returns data without e's looping servers; upstreams take their place
// when none would be left, those of the list's family (an ipv4.dns list
// takes IPv4 addresses only, ipv6.dns IPv6).
func (e *Edit) Apply(data []byte, upstreams []netip.Addr) ([]byte, error) {
	var add []string
	for _, a := range upstreams {
		if e.Key == "ipv4.dns" && !a.Is4() || e.Key == "ipv6.dns" && !a.Is6() {
			continue
		}
		add = append(add, a.String())
	}
	drop := func(a netip.Addr) bool { return slices.Contains(e.Looping, a.String()) }
	if e.Line == 0 {
		return RemoveIfcfgServers(e.File, data, drop, add)
	}
	return RemoveServers(e.File, data, e.Line, drop, add)
}

// IsConf: NetworkManager reads p at Reload with the CONF flag
// (NetworkManager.conf and the conf.d files).
func IsConf(p string) bool {
	return strings.HasSuffix(path.Dir(p), "NetworkManager/conf.d") || p == nmMainFile || p == nmMainFileOld
}

// IsProfile: p is a connection profile, read at LoadConnections.
func IsProfile(p string) bool {
	return strings.HasSuffix(path.Dir(p), "NetworkManager/system-connections") || path.Dir(p) == IfcfgDir
}
