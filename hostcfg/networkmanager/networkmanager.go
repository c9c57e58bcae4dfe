// Package networkmanager reads NetworkManager's DNS configuration: its
// configuration files and keyfile connections.
package networkmanager

import (
	"errors"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/dhclient"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/resolved"
)

// Server is a DNS server NetworkManager is told to use.
type Server struct {
	Addr    netip.Addr
	Key     string // "servers" (global-dns-domain), "ipv4.dns", "ipv6.dns"
	Section string // "global-dns-domain-*", "ipv4", "ipv6"
	File    string
	Line    int
}

// Config is NetworkManager's DNS configuration.
type Config struct {
	Present   bool            // NetworkManager.conf or conf.d exists
	Files     []string        // read, in order
	DNSMode   hostcfg.Setting // [main] dns=
	RCManager hostcfg.Setting // [main] rc-manager=
	Servers   []Server
	// Leases are the DNS servers of NetworkManager's own DHCP leases.
	Leases []Lease
}

// Lease is the DNS servers one of NetworkManager's DHCP lease files holds.
type Lease struct {
	Path string
	Line int
	DNS  []netip.Addr
}

// NoStubResolvConf is the resolv.conf NetworkManager writes with the servers
// it has, not its dnsmasq's or resolved's local address, at every DNS
// update whatever its dns= (update_resolv_conf_no_stub in update_dns,
// src/core/dns/nm-dns-manager.c, NetworkManager 1.42.4 in bookworm, 1.52 in
// trixie).
const NoStubResolvConf = "/run/NetworkManager/no-stub-resolv.conf"

const (
	nmMainFile    = "/etc/NetworkManager/NetworkManager.conf"
	nmMainFileOld = "/etc/NetworkManager/nm-system-settings.conf" // preferred by NetworkManager when present
	nmGlobalDNS   = "global-dns-domain-"
)

// nmConfDirs are NetworkManager's conf.d folders, the one that wins first.
var nmConfDirs = []string{"/etc/NetworkManager", "/run/NetworkManager", "/usr/lib/NetworkManager"}

// Load reads /etc/NetworkManager/NetworkManager.conf, conf.d/*.conf
// (and /usr/lib, /run conf.d), system-connections/*.nmconnection keyfiles
// and /etc/sysconfig/network-scripts/ifcfg-* profiles.
//
// The order is NetworkManager's: /usr/lib's conf.d, then /run's, then
// NetworkManager.conf, then /etc's conf.d, each sorted by name, a name in /etc
// shadowing /run and /usr/lib, /run shadowing /usr/lib; a later file's key
// replaces an earlier one's. A conf.d file with [.config] enable=false is
// skipped. Global servers count only with a [global-dns-domain-*] section, as in
// NetworkManager. Files that can't be read or parsed are left out, a list with
// an invalid address is left out, and their errors are returned, joined.
func Load(r *hostcfg.Root) (*Config, error) {
	nm := &Config{}
	merged, errs := nm.readConf(r)
	nm.DNSMode = merged[[2]string{"main", "dns"}]
	nm.RCManager = merged[[2]string{"main", "rc-manager"}]
	global, gerrs := globalServers(merged)
	errs = append(errs, gerrs...)
	nm.Servers = append(nm.Servers, global...)
	errs = append(errs, nm.readConnections(r)...)
	errs = append(errs, nm.readIfcfg(r)...)
	leases, err := LoadLeases(r)
	if err != nil {
		errs = append(errs, err)
	}
	nm.Leases = leases

	nm.Present = len(nm.Files) > 0
	for _, p := range []string{nmMainFile, nmMainFileOld, "/usr/sbin/NetworkManager", "/sbin/NetworkManager", "/usr/bin/NetworkManager"} {
		if r.Exists(p) {
			nm.Present = true
		}
	}
	return nm, errors.Join(errs...)
}

// Dnsmasq returns the dns=dnsmasq setting when NetworkManager runs its own
// dnsmasq and names it in resolv.conf.
func (nm *Config) Dnsmasq() (hostcfg.Setting, bool) {
	if nm == nil || nm.DNSMode.Value != "dnsmasq" {
		return hostcfg.Setting{}, false
	}
	return nm.DNSMode, true
}

// HandsResolved: NetworkManager hands its servers to systemd-resolved:
// dns=systemd-resolved, or no dns= while /etc/resolv.conf links to one of
// resolved's files (linked) (init_resolv_conf_mode and
// _resolvconf_resolved_managed, src/core/dns/nm-dns-manager.c,
// NetworkManager 1.42.4 and 1.52).
func (nm *Config) HandsResolved(linked bool) bool {
	return nm != nil && (nm.DNSMode.Value == "systemd-resolved" || nm.DNSMode.Value == "" && linked)
}

// Unlooped are the servers NetworkManager writes once dns=dnsmasq is
// dns=default: those of its no-stub-resolv.conf (noStub), else its leases'
// and its configuration's; and stay, those of them that loop and that no
// edit of its configuration takes out (a lease's).
func (nm *Config) Unlooped(noStub []netip.Addr, loops func(netip.Addr) bool) (ups, stay []netip.Addr) {
	ups = noStub
	if ups == nil {
		for _, l := range nm.Leases {
			ups = append(ups, l.DNS...)
		}
		for _, sv := range nm.Servers {
			ups = append(ups, sv.Addr)
		}
	}
	for _, a := range ups {
		a = a.WithZone("")
		if loops(a) && !slices.ContainsFunc(nm.Servers, func(sv Server) bool { return sv.Addr.WithZone("") == a }) {
			stay = append(stay, a)
		}
	}
	return ups, stay
}

// readConf reads the configuration files in order and merges their keys by
// section and name, a later file's key replacing an earlier one's.
func (nm *Config) readConf(r *hostcfg.Root) (map[[2]string]hostcfg.Setting, []error) {
	var errs []error
	confs, err := nmConfFiles(r)
	if err != nil {
		errs = append(errs, err)
	}
	merged := map[[2]string]hostcfg.Setting{}
	errs = append(errs, hostcfg.ReadEach(r, confs, func(p string, data []byte) error {
		entries, err := parseKeyfile(p, data)
		if err != nil {
			return err
		}
		if p != nmMainFile && p != nmMainFileOld && nmDisabled(entries) {
			return nil
		}
		nm.Files = append(nm.Files, p)
		for _, e := range entries {
			// key+= and key-= extend lists NetworkManager knows as lists; none of
			// the keys read here is one, and NetworkManager drops them.
			if strings.HasSuffix(e.key, "+") || strings.HasSuffix(e.key, "-") {
				continue
			}
			merged[[2]string{e.section, e.key}] = hostcfg.Setting{Value: e.value, File: p, Line: e.line}
		}
		return nil
	})...)
	return merged, errs
}

// globalServers are the servers of the [global-dns-domain-*] sections, by
// section name; none unless the default domain "*" has servers, as
// NetworkManager uses the global configuration only then.
func globalServers(merged map[[2]string]hostcfg.Setting) ([]Server, []error) {
	var errs []error
	var global []Server
	hasDefault := false
	var sections []string
	for k := range merged {
		if k[1] == "servers" && strings.HasPrefix(k[0], nmGlobalDNS) && len(k[0]) > len(nmGlobalDNS) {
			sections = append(sections, k[0])
		}
	}
	slices.Sort(sections)
	for _, sec := range sections {
		s := merged[[2]string{sec, "servers"}]
		servers, err := nmServerList(s, "servers", sec)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if sec == nmGlobalDNS+"*" && len(servers) > 0 {
			hasDefault = true
		}
		global = append(global, servers...)
	}
	if !hasDefault {
		return nil, errs
	}
	return global, errs
}

// readConnections reads the keyfile connections' servers.
func (nm *Config) readConnections(r *hostcfg.Root) []error {
	var errs []error
	conns, err := nmConnectionFiles(r)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range conns {
		data, err := r.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		servers, err := ParseConnection(p, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		nm.Files = append(nm.Files, p)
		nm.Servers = append(nm.Servers, servers...)
	}
	return errs
}

// nmConfFiles lists the configuration files in NetworkManager's reading order.
func nmConfFiles(r *hostcfg.Root) ([]string, error) {
	winners, err := conffile.DropIns(r, nmConfDirs, "conf.d", ".conf")
	var before, after []string
	for _, p := range winners {
		if strings.HasPrefix(p, "/etc/") {
			after = append(after, p)
		} else {
			before = append(before, p)
		}
	}
	// /usr/lib's first, then /run's; conffile.DropIns sorted each by name already.
	slices.SortStableFunc(before, func(a, b string) int {
		return boolInt(strings.HasPrefix(a, "/run/")) - boolInt(strings.HasPrefix(b, "/run/"))
	})
	main := nmMainFile
	if r.Exists(nmMainFileOld) {
		main = nmMainFileOld
	}
	out := append(before, main)
	return append(out, after...), err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nmConnectionFiles lists the keyfile connections: *.nmconnection in /etc, /run
// and /usr/lib, and in /etc also the extension-less files older NetworkManager
// wrote ("Wired connection 1"), as its keyfile plugin still reads them.
func nmConnectionFiles(r *hostcfg.Root) ([]string, error) {
	var out []string
	var errs []error
	for _, dir := range nmConfDirs {
		d := dir + "/system-connections"
		ents, err := r.ReadDir(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, ".nmconnection") && (dir != "/etc/NetworkManager" || nmIgnoredName(name)) {
				continue
			}
			p := path.Join(d, name)
			// Missing or dangling is absent, and a folder is skipped, as
			// NetworkManager's keyfile plugin does; anything else that is
			// not a file (a link loop, a FIFO) is unreadable (ReadFile says
			// why).
			fi, err := r.Stat(p)
			if errors.Is(err, fs.ErrNotExist) || err == nil && fi.IsDir() {
				continue
			}
			out = append(out, p)
		}
	}
	return out, errors.Join(errs...)
}

// nmIgnoredName: backup, editor and package-manager files in the keyfile folder.
func nmIgnoredName(name string) bool {
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~") {
		return true
	}
	for _, s := range []string{".swp", ".swpx", ".bak", ".orig", ".rej", ".tmp", ".rpmnew", ".rpmsave", ".rpmorig", ".dpkg-old", ".dpkg-new", ".dpkg-dist", ".dpkg-tmp", ".ucf-old", ".ucf-new", ".ucf-dist"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return strings.Contains(name, ".dpkg-") || strings.Contains(name, ".ucf-")
}

// ParseConnection returns the servers of a NetworkManager keyfile connection:
// [ipv4] dns= and [ipv6] dns=, lists separated by ';' (',' is taken too).
func ParseConnection(path string, data []byte) ([]Server, error) {
	entries, err := parseKeyfile(path, data)
	if err != nil {
		return nil, err
	}
	last := map[string]hostcfg.Setting{} // a key set twice: the last one counts, as in GKeyFile
	for _, e := range entries {
		if e.key == "dns" && (e.section == "ipv4" || e.section == "ipv6") {
			last[e.section] = hostcfg.Setting{Value: e.value, File: path, Line: e.line}
		}
	}
	var out []Server
	for _, sec := range []string{"ipv4", "ipv6"} {
		s, ok := last[sec]
		if !ok {
			continue
		}
		servers, err := nmServerList(s, sec+".dns", sec)
		if err != nil {
			return nil, err
		}
		out = append(out, servers...)
	}
	return out, nil
}

// nmServerList reads a list of server addresses; NetworkManager 1.48 also takes
// dns+tls:// URIs and ADDR#NAME.
func nmServerList(s hostcfg.Setting, key, section string) ([]Server, error) {
	var out []Server
	for _, f := range strings.FieldsFunc(s.Value, func(r rune) bool { return r == ';' || r == ',' || conffile.IsSpace(r) }) {
		v := f
		for _, scheme := range []string{"dns+tls://", "dns+udp://"} {
			v = strings.TrimPrefix(v, scheme)
		}
		srv, err := resolved.ParseServer(v)
		if err != nil {
			return nil, hostcfg.Errorf(s.File, s.Line, "[%s] %s: %q is not an IP address", section, strings.TrimPrefix(key, section+"."), f)
		}
		out = append(out, Server{Addr: srv.Addr, Key: key, Section: section, File: s.File, Line: s.Line})
	}
	return out, nil
}

// nmDisabled: [.config] enable=false (or no, off, 0) keeps a conf.d file from
// being read. Version and environment predicates are taken as enabled.
func nmDisabled(entries []keyfileEntry) bool {
	disabled := false
	for _, e := range entries {
		if e.section == ".config" && e.key == "enable" {
			switch strings.ToLower(e.value) {
			case "false", "no", "off", "0":
				disabled = true
			default:
				disabled = false
			}
		}
	}
	return disabled
}

// keyfileEntry is one key=value of a GLib key file.
type keyfileEntry struct {
	section, key, value string
	line                int
}

// parseKeyfile reads a GLib key file as NetworkManager does: [section] lines,
// key=value, '#' comments. Any other line, or a key before the first section,
// is an error: GLib refuses the whole file. Localised keys (key[de]=) are
// translations and left out.
func parseKeyfile(path string, data []byte) ([]keyfileEntry, error) {
	if err := conffile.Check(path, data, conffile.MaxINILine); err != nil {
		return nil, err
	}
	var out []keyfileEntry
	section := ""
	for i, s := range conffile.Lines(data) {
		num := i + 1
		t := strings.TrimFunc(string(data[s.Start:s.End]), conffile.IsSpace)
		if t == "" || t[0] == '#' {
			continue
		}
		if t[0] == '[' {
			if !strings.HasSuffix(t, "]") || len(t) < 3 || strings.ContainsAny(t[1:len(t)-1], "[]") {
				return nil, hostcfg.Errorf(path, num, "invalid section header %q", t)
			}
			section = t[1 : len(t)-1]
			continue
		}
		key, val, ok := strings.Cut(t, "=")
		if !ok {
			return nil, hostcfg.Errorf(path, num, "%q is not a key=value pair, a [section] or a comment", t)
		}
		if section == "" {
			return nil, hostcfg.Errorf(path, num, "key %q before the first [section]", strings.TrimSpace(key))
		}
		key = strings.TrimRightFunc(key, conffile.IsSpace)
		if key == "" {
			return nil, hostcfg.Errorf(path, num, "empty key")
		}
		if strings.HasSuffix(key, "]") && strings.Contains(key, "[") {
			continue
		}
		out = append(out, keyfileEntry{section: section, key: key, value: strings.TrimLeftFunc(val, conffile.IsSpace), line: num})
	}
	return out, nil
}

// nmLeaseDirs hold NetworkManager's lease files: NMSTATEDIR, and NMRUNDIR
// in the initrd (nm_dhcp_utils_get_leasefile_path, src/core/dhcp/nm-dhcp-utils.c).
var nmLeaseDirs = []string{"/var/lib/NetworkManager", "/run/NetworkManager"}

// LoadLeases reads the DNS servers of NetworkManager's lease files,
// PLUGIN[6]-UUID-IFACE.lease: dhclient's own format for dhcp=dhclient (Ubuntu
// 16.04's default), KEY=VALUE lines for its internal clients. Files that can't
// be read or parsed are left out, and their errors returned, joined.
func LoadLeases(r *hostcfg.Root) ([]Lease, error) {
	var errs []error
	var out []Lease
	for _, dir := range nmLeaseDirs {
		files, err := r.Glob(dir, "*.lease")
		if err != nil {
			errs = append(errs, err)
		}
		slices.Sort(files)
		errs = append(errs, hostcfg.ReadEach(r, files, func(p string, data []byte) error {
			l, err := ParseLease(p, data)
			if err == nil && len(l.DNS) > 0 {
				out = append(out, l)
			}
			return err
		})...)
	}
	return out, errors.Join(errs...)
}

// ParseLease reads the DNS servers of one NetworkManager lease file. A
// dhclient-*.lease file is dhclient's format, and its last lease counts. Any
// other is the internal client's: systemd's sd-dhcp-lease format, "DNS=" with
// addresses separated by blanks (dhcp_lease_save, the internal client up to
// NetworkManager 1.19 and dhcp=systemd up to 1.38); the nettools client of 1.20
// and later saves ADDRESS= alone (lease_save in nm-dhcp-nettools.c), so it names
// no server.
func ParseLease(p string, data []byte) (Lease, error) {
	if strings.HasPrefix(path.Base(p), "dhclient") {
		leases, err := dhclient.ParseLeases(p, data)
		if err != nil || len(leases) == 0 {
			return Lease{Path: p}, err
		}
		last := leases[len(leases)-1]
		return Lease{Path: p, Line: last.Line, DNS: last.DNS}, nil
	}
	if err := conffile.Check(p, data, conffile.MaxINILine); err != nil {
		return Lease{}, err
	}
	l := Lease{Path: p}
	for i, s := range conffile.Lines(data) {
		t := strings.TrimFunc(string(data[s.Start:s.End]), conffile.IsSpace)
		key, val, ok := strings.Cut(t, "=")
		if !ok || strings.TrimSpace(key) != "DNS" {
			continue
		}
		l.DNS, l.Line = nil, i+1
		for _, f := range strings.FieldsFunc(val, conffile.IsSpace) {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return Lease{}, hostcfg.Errorf(p, i+1, "DNS=: %q is not an IP address", f)
			}
			l.DNS = append(l.DNS, a)
		}
	}
	return l, nil
}

// Paths are the node paths Load reads: the main files and the conf.d and
// system-connections folders.
func Paths() []string {
	out := []string{nmMainFile, nmMainFileOld}
	for _, d := range nmConfDirs {
		out = append(out, d+"/conf.d", d+"/system-connections")
	}
	return append(out, IfcfgDir, NoStubResolvConf)
}
