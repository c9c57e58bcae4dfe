package networkmanager

import (
	"bytes"
	"net/netip"
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
	lines := conffile.Lines(data)
	if line < 1 || line > len(lines) {
		return nil, hostcfg.Errorf(path, line, "no such line")
	}
	l := lines[line-1]
	text := data[l.Start:l.End]
	eq := bytes.IndexByte(text, '=')
	if eq < 0 {
		return nil, hostcfg.Errorf(path, line, "not a key=value line")
	}
	start := l.Start + eq + 1
	for start < l.End && conffile.IsSpace(rune(data[start])) {
		start++
	}
	end := l.End
	for end > start && conffile.IsSpace(rune(data[end-1])) {
		end--
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
