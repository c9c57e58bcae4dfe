// Package networkd reads systemd-networkd's .network files as far as DNS goes:
// the servers each one hands systemd-resolved (which writes them into
// /run/systemd/resolve/resolv.conf), and whether DHCP and router
// advertisements may add theirs.
//
// The rules mirrored are systemd v252–v256's: network_load and
// network_load_one (src/network/networkd-network.c), config_parse_many and
// config_parse (src/shared/conf-parser.c), config_parse_dns and
// config_parse_dhcp_use_dns, and systemd.network(5).
package networkd

import (
	"errors"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/resolved"
)

// Dirs are the folders networkd reads .network files and their NAME.network.d
// drop-ins from, the one that wins first (NETWORK_DIRS; /lib only on split-usr
// systems, where it is not /usr/lib). Callers must not change it.
var Dirs = []string{
	"/etc/systemd/network",
	"/run/systemd/network",
	"/usr/local/lib/systemd/network",
	"/usr/lib/systemd/network",
	"/lib/systemd/network",
}

// Config is what networkd's files say about DNS.
type Config struct {
	Files    []string  // read, in the order they apply: each .network file, then its drop-ins
	Networks []Network // in the order networkd tries them on a link: by file name
}

// Network is one .network file with its drop-ins applied.
type Network struct {
	File  string            // the .network file
	Match []string          // [Match] Name= values as written, for messages
	DNS   []resolved.Server // [Network] DNS=, each with the file and line it was written on
	// UseDNS= of [DHCPv4], [DHCPv6] and [IPv6AcceptRA]: whether servers
	// learnt there reach resolved. Value is "yes" or "no" (systemd's boolean,
	// normalised), "" when never set: networkd's default is yes. The legacy
	// [DHCP] UseDNS= sets both DHCP ones unless their own section does.
	DHCPv4UseDNS       hostcfg.Setting
	DHCPv6UseDNS       hostcfg.Setting
	IPv6AcceptRAUseDNS hostcfg.Setting
}

// Load reads every .network file under the root with its drop-ins. A name in
// an earlier folder of Dirs masks the same name in later ones; an empty file,
// or a link to /dev/null, masks its name and is itself nothing. Drop-ins
// (NAME.network.d/*.conf in every folder, the same name masked likewise) apply
// after the main file, by name.
//
// A file that can't be read or parsed is an error naming it (and the line),
// and its network is left out, as networkd leaves out a network when one of
// its files fails; the errors are joined, and the config holds every other
// network.
func Load(r *hostcfg.Root) (*Config, error) {
	cfg := &Config{}
	var errs []error
	files, err := conffile.DropIns(r, Dirs, "", ".network")
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range files {
		n, read, err := loadNetwork(r, p)
		if err != nil {
			errs = append(errs, err)
		}
		if n != nil {
			cfg.Files = append(cfg.Files, read...)
			cfg.Networks = append(cfg.Networks, *n)
		}
	}
	return cfg, errors.Join(errs...)
}

// loadNetwork reads the .network file p and its drop-ins: nil when p is masked
// or gone (networkd skips it), or when one of its files fails. A drop-in folder
// that can't be listed is an error, and the network is read without it, as
// networkd does (conf_files_list_strv ignores the folder).
func loadNetwork(r *hostcfg.Root, p string) (*Network, []string, error) {
	if isNull(r, p) {
		return nil, nil, nil
	}
	data, ok, err := r.ReadFileIfExists(p)
	if err != nil || !ok || len(data) == 0 {
		return nil, nil, err
	}
	name := strings.TrimSuffix(path.Base(p), ".network")
	dropins, listErr := conffile.DropIns(r, Dirs, name+".network.d", ".conf")
	listErr = withoutNotDir(listErr)
	ps := parser{n: Network{File: p}}
	if err := ps.apply(p, data); err != nil {
		return nil, nil, err
	}
	read := []string{p}
	for _, d := range dropins {
		if isNull(r, d) {
			continue
		}
		data, ok, err := r.ReadFileIfExists(d)
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			continue // a dangling link, as fopen's ENOENT to config_parse_many
		}
		if err := ps.apply(d, data); err != nil {
			return nil, nil, err
		}
		read = append(read, d)
	}
	return &ps.n, read, listErr
}

// withoutNotDir drops the "not a directory" errors of a drop-in listing: a
// NAME.network.d that is a file is nothing to networkd, and a network folder
// that is a file was reported when the .network files were listed.
func withoutNotDir(err error) error {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	var out []error
	for _, e := range errs {
		if !errors.Is(e, syscall.ENOTDIR) {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// isNull: p leads to the null device (null_or_empty_path), through a link
// written any way, or is that device node itself.
func isNull(r *hostcfg.Root, p string) bool {
	fi, err := r.Stat(p)
	if err != nil || fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == unix.Mkdev(1, 3)
}

// parser applies the files of one network in turn.
type parser struct {
	n            Network
	v4set, v6set bool // [DHCPv4] or [DHCPv6] UseDNS= was read: [DHCP] no longer sets it
}

// apply reads one .network file or drop-in on top of the network. As in
// networkd, lines without '=' and assignments outside a section are ignored;
// a bad section header fails the file. A DNS= server or UseDNS= value
// networkd would ignore with a warning is an error here, as in
// hostcfg/resolved: unloop does not guess past it.
func (ps *parser) apply(p string, data []byte) error {
	if err := conffile.Check(p, data, conffile.MaxINILine); err != nil {
		return err
	}
	section := ""
	return conffile.ForEachINILine(data, func(num int, text string) error {
		if strings.HasPrefix(text, "[") {
			if !strings.HasSuffix(text, "]") {
				return hostcfg.Errorf(p, num, "invalid section header %q", text)
			}
			section = text[1 : len(text)-1]
			if strings.ContainsAny(section, "\"'\\") { // string_is_safe
				return hostcfg.Errorf(p, num, "bad characters in section header %q", text)
			}
			return nil
		}
		key, val, ok := strings.Cut(text, "=")
		if !ok {
			return nil
		}
		key, val = strings.TrimRightFunc(key, conffile.IsSpace), strings.TrimLeftFunc(val, conffile.IsSpace)
		return ps.assign(hostcfg.Setting{Value: val, File: p, Line: num}, section, key)
	})
}

// assign applies one key=value of the sections read here.
func (ps *parser) assign(s hostcfg.Setting, section, key string) error {
	n := &ps.n
	switch section + "." + key {
	case "Match.Name":
		if s.Value == "" {
			n.Match = nil
			return nil
		}
		n.Match = append(n.Match, s.Value)
	case "Network.DNS":
		return ps.dns(s)
	case "DHCPv4.UseDNS", "DHCPv6.UseDNS", "DHCP.UseDNS", "IPv6AcceptRA.UseDNS":
		b, err := parseBoolean(s, key)
		if err != nil {
			return err
		}
		switch section {
		case "DHCPv4":
			n.DHCPv4UseDNS, ps.v4set = b, true
		case "DHCPv6":
			n.DHCPv6UseDNS, ps.v6set = b, true
		case "DHCP": // kept for compatibility; the newer sections win whatever the order
			if !ps.v4set {
				n.DHCPv4UseDNS = b
			}
			if !ps.v6set {
				n.DHCPv6UseDNS = b
			}
		default:
			n.IPv6AcceptRAUseDNS = b
		}
	}
	return nil
}

// dns applies a DNS= line: an empty value resets the list, and port 53 or
// 853 is stored as no port, as config_parse_dns does.
func (ps *parser) dns(s hostcfg.Setting) error {
	if s.Value == "" {
		ps.n.DNS = nil
		return nil
	}
	for _, f := range strings.FieldsFunc(s.Value, conffile.IsSpace) {
		srv, err := resolved.ParseServer(f)
		if err != nil {
			return hostcfg.Errorf(s.File, s.Line, "DNS=: %w", err)
		}
		if srv.Port == 53 || srv.Port == 853 {
			srv.Port = 0
		}
		srv.File, srv.Line = s.File, s.Line
		ps.n.DNS = append(ps.n.DNS, srv)
	}
	return nil
}

// parseBoolean is systemd's parse_boolean, the value normalised to yes or no.
func parseBoolean(s hostcfg.Setting, key string) (hostcfg.Setting, error) {
	switch strings.ToLower(s.Value) {
	case "1", "yes", "y", "true", "t", "on":
		s.Value = "yes"
	case "0", "no", "n", "false", "f", "off":
		s.Value = "no"
	default:
		return hostcfg.Setting{}, hostcfg.Errorf(s.File, s.Line, "%s=%s is not a boolean (networkd would ignore it)", key, s.Value)
	}
	return s, nil
}
