// Package netplan reads netplan's YAML as far as DNS goes: the nameservers
// each interface definition lists, whether its DHCP may add servers, and the
// backend (systemd-networkd or NetworkManager) netplan renders it to, with the
// file that backend then reads.
//
// The rules mirrored are netplan.io's (0.106 in Debian bookworm, 1.1 in
// trixie, the same in upstream 1.2): netplan_parser_load_yaml_hierarchy and
// _netplan_find_yaml_glob (src/util.c), handle_nameservers_addresses,
// handle_generic_bool and get_default_backend_for_type (src/parse.c), and
// netplan_netdef_get_output_filename (src/util.c).
package netplan

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/yamltext"
)

// Dirs are the folders netplan reads *.yaml from, the one that wins first: a
// file in /run/netplan shadows the same name in /etc/netplan, which shadows
// /lib/netplan. Callers must not change it.
var Dirs = []string{"/run/netplan", "/etc/netplan", "/lib/netplan"}

// The backends netplan renders to, as its renderer: key names them.
const (
	Networkd       = "networkd"
	NetworkManager = "NetworkManager"
)

// Types are the sections of network: that hold interface definitions.
var Types = []string{"ethernets", "bonds", "bridges", "vlans", "wifis", "modems", "tunnels", "vrfs", "dummy-devices", "virtual-ethernets", "nm-devices"}

// Config is what netplan's files say about DNS.
type Config struct {
	Files []string // read, in the order netplan merges them: by base name
	Links []Link   // each interface definition, in the order first defined
}

// Link is one interface definition (netdef) after every file is merged.
type Link struct {
	ID       string // its key under its type: an interface name or an id
	Type     string // ethernets, bonds, ...
	Renderer string // Networkd or NetworkManager: the backend it is rendered to
	// Nameservers are nameservers: addresses:, each once (netplan drops a
	// repeat), with the file and line it was written on.
	Nameservers []Server
	// DHCP4 and DHCP6 say whether the link asks DHCP for an address, and
	// UseDNS4 and UseDNS6 (dhcpN-overrides: use-dns:) whether the servers a
	// lease brings reach the resolver: "yes", "no" or "" (unset: yes).
	DHCP4, DHCP6     hostcfg.Setting
	UseDNS4, UseDNS6 hostcfg.Setting
	File             string // the file that defined it last: where an override goes
}

// Server is one nameserver address, where it was written.
type Server struct {
	Addr netip.Addr
	Text string // as written
	File string
	Line int
}

// Rendered is the file netplan generates for the link: networkd's
// /run/systemd/network/10-netplan-ID.network, or NetworkManager's
// /run/NetworkManager/system-connections/netplan-ID.nmconnection (the id
// escaped as g_uri_escape_string does). A wifi's NetworkManager files carry
// the SSID too: "" for those.
func (l Link) Rendered() string {
	id := escape(l.ID)
	switch {
	case l.Renderer == NetworkManager && l.Type != "wifis":
		return "/run/NetworkManager/system-connections/netplan-" + id + ".nmconnection"
	case l.Renderer == Networkd:
		return "/run/systemd/network/10-netplan-" + id + ".network"
	}
	return ""
}

// escape is g_uri_escape_string(id, NULL, TRUE): all but the unreserved
// characters percent-encoded, in upper case.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// Files lists the YAML files netplan reads, in the order it merges them.
func Files(r *hostcfg.Root) ([]string, error) {
	return conffile.DropIns(r, Dirs, "", ".yaml")
}

// Load reads every netplan file under the root and merges them as netplan
// does. A file that can't be read or parsed is an error naming it and the
// line: netplan generate stops at it, so nothing is returned.
func Load(r *hostcfg.Root) (*Config, error) {
	files, err := Files(r)
	if err != nil {
		return nil, err
	}
	m := merger{cfg: &Config{}, byID: map[string]int{}}
	for _, p := range files {
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if err := m.file(p, data); err != nil {
			return nil, err
		}
		m.cfg.Files = append(m.cfg.Files, p)
	}
	m.finish()
	return m.cfg, nil
}

// Parse reads one file's text as netplan would alone, for tests and for the
// check after an edit.
func Parse(p string, data []byte) (*Config, error) {
	m := merger{cfg: &Config{Files: []string{p}}, byID: map[string]int{}}
	if err := m.file(p, data); err != nil {
		return nil, err
	}
	m.finish()
	return m.cfg, nil
}

// merger adds the files in turn to one config.
type merger struct {
	cfg      *Config
	byID     map[string]int // type/id: index in cfg.Links
	global   string         // network: renderer:
	typeRend map[int]string // a type section's renderer:, by link index
	ownRend  map[int]string // a definition's own renderer:, by link index
}

// Doc parses one netplan file: its top mapping, nil when the file holds
// nothing. Bad YAML is an error naming the file and line.
func Doc(p string, data []byte) (top *yaml.Node, err error) {
	defer func() {
		// yaml.v3 is a port of libyaml: a panic on hostile input is an error about the file.
		if x := recover(); x != nil {
			top, err = nil, hostcfg.Errorf(p, 0, "YAML parser failed: %v", x)
		}
	}()
	if err := conffile.CheckParsedSize(p, data); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if err.Error() == "EOF" {
			return nil, nil
		}
		return nil, yamltext.Error(p, err)
	}
	if yamltext.EmptyDoc(&doc) {
		return nil, nil
	}
	top = doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, hostcfg.Errorf(p, top.Line, "not a netplan file: the document is %s, not a mapping", yamltext.KindWords(top))
	}
	return top, nil
}

// each calls fn with each key and value of mapping n (after aliases).
func each(n *yaml.Node, fn func(k, v *yaml.Node) error) error {
	n = yamltext.Deref(n)
	for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if err := fn(yamltext.Deref(n.Content[i]), yamltext.Deref(n.Content[i+1])); err != nil {
			return err
		}
	}
	return nil
}

// mapping checks that v, the value of key, is a mapping, as netplan's
// assert_type does.
func mapping(p, key string, v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return hostcfg.Errorf(p, v.Line, "%s: is %s; netplan wants a mapping", key, yamltext.KindWords(v))
	}
	return nil
}

// file merges one file.
func (m *merger) file(p string, data []byte) error {
	top, err := Doc(p, data)
	if top == nil || err != nil {
		return err
	}
	return each(top, func(k, v *yaml.Node) error {
		if k.Value != "network" {
			return nil
		}
		if err := mapping(p, "network", v); err != nil {
			return err
		}
		return each(v, func(k, v *yaml.Node) error {
			switch {
			case k.Value == "renderer":
				r, err := renderer(p, v)
				m.global = r
				return err
			case isType(k.Value):
				if err := mapping(p, k.Value, v); err != nil {
					return err
				}
				return m.section(p, k.Value, v)
			}
			return nil
		})
	})
}

func isType(s string) bool {
	for _, t := range Types {
		if t == s {
			return true
		}
	}
	return false
}

// renderer reads a renderer: value (handle_netdef_renderer's two backends
// that render files).
func renderer(p string, v *yaml.Node) (string, error) {
	switch v.Value {
	case Networkd, NetworkManager:
		return v.Value, nil
	}
	return "", hostcfg.Errorf(p, v.Line, "renderer: unknown value %q (netplan knows networkd and NetworkManager)", v.Value)
}

// section merges one type's definitions.
func (m *merger) section(p, typ string, sec *yaml.Node) error {
	var rend string
	var ids []int
	err := each(sec, func(k, v *yaml.Node) error {
		if k.Value == "renderer" {
			r, err := renderer(p, v)
			rend = r
			return err
		}
		if err := mapping(p, typ+": "+k.Value, v); err != nil {
			return err
		}
		i := m.link(typ, k.Value)
		ids = append(ids, i)
		m.cfg.Links[i].File = p
		return m.def(p, i, v)
	})
	if rend != "" {
		if m.typeRend == nil {
			m.typeRend = map[int]string{}
		}
		for _, i := range ids {
			m.typeRend[i] = rend
		}
	}
	return err
}

// link is the index of the definition typ/id, added when new.
func (m *merger) link(typ, id string) int {
	if i, ok := m.byID[typ+"/"+id]; ok {
		return i
	}
	m.cfg.Links = append(m.cfg.Links, Link{ID: id, Type: typ})
	m.byID[typ+"/"+id] = len(m.cfg.Links) - 1
	return len(m.cfg.Links) - 1
}

// def merges one definition's keys that matter for DNS.
func (m *merger) def(p string, i int, d *yaml.Node) error {
	l := &m.cfg.Links[i]
	return each(d, func(k, v *yaml.Node) error {
		var err error
		switch k.Value {
		case "renderer":
			var r string
			if r, err = renderer(p, v); err == nil {
				if m.ownRend == nil {
					m.ownRend = map[int]string{}
				}
				m.ownRend[i] = r
			}
		case "dhcp4":
			l.DHCP4, err = boolean(p, k.Value, v)
		case "dhcp6":
			l.DHCP6, err = boolean(p, k.Value, v)
		case "dhcp4-overrides", "dhcp6-overrides":
			if err = mapping(p, k.Value, v); err != nil {
				return err
			}
			err = each(v, func(ok, ov *yaml.Node) error {
				if ok.Value != "use-dns" {
					return nil
				}
				b, err := boolean(p, k.Value+": use-dns", ov)
				if k.Value == "dhcp4-overrides" {
					l.UseDNS4 = b
				} else {
					l.UseDNS6 = b
				}
				return err
			})
		case "nameservers":
			if err = mapping(p, k.Value, v); err != nil {
				return err
			}
			err = each(v, func(nk, nv *yaml.Node) error {
				if nk.Value != "addresses" {
					return nil
				}
				return l.addresses(p, nv)
			})
		}
		return err
	})
}

// addresses appends the servers of a nameservers: addresses: list, each
// once, as handle_nameservers_addresses does; a value that is no IPv4 or
// IPv6 address fails the file.
func (l *Link) addresses(p string, v *yaml.Node) error {
	if v.Kind != yaml.SequenceNode {
		return hostcfg.Errorf(p, v.Line, "nameservers: addresses: is %s; netplan wants a list", yamltext.KindWords(v))
	}
	for _, e := range v.Content {
		e = yamltext.Deref(e)
		if e.Kind != yaml.ScalarNode {
			return hostcfg.Errorf(p, e.Line, "nameservers: addresses: an entry is %s; netplan wants an address", yamltext.KindWords(e))
		}
		a, err := netip.ParseAddr(e.Value)
		if err != nil || a.Zone() != "" {
			return hostcfg.Errorf(p, e.Line, "malformed address '%s', must be X.X.X.X or X:X:X:X:X:X:X:X (netplan refuses it)", e.Value)
		}
		if a.Is4In6() {
			a = a.Unmap()
		}
		dup := false
		for _, s := range l.Nameservers {
			dup = dup || s.Text == e.Value // is_string_in_array: the text, not the address
		}
		if !dup {
			l.Nameservers = append(l.Nameservers, Server{Addr: a, Text: e.Value, File: p, Line: e.Line})
		}
	}
	return nil
}

// boolean is handle_generic_bool: true, on, yes, y or their negations, in
// any case, normalised to "yes" or "no".
func boolean(p, key string, v *yaml.Node) (hostcfg.Setting, error) {
	s := hostcfg.Setting{File: p, Line: v.Line}
	switch strings.ToLower(v.Value) {
	case "true", "on", "yes", "y":
		s.Value = "yes"
	case "false", "off", "no", "n":
		s.Value = "no"
	default:
		return s, hostcfg.Errorf(p, v.Line, "%s: invalid boolean value '%s' (netplan refuses it)", key, v.Value)
	}
	return s, nil
}

// finish decides each link's backend: its own renderer:, else its type
// section's, else network: renderer:, else networkd
// (get_default_backend_for_type).
func (m *merger) finish() {
	for i := range m.cfg.Links {
		r := m.ownRend[i]
		if r == "" {
			r = m.typeRend[i]
		}
		if r == "" {
			r = m.global
		}
		if r == "" {
			r = Networkd
		}
		m.cfg.Links[i].Renderer = r
	}
}

// LeaseDNS says whether DHCP may bring the link servers for the family (4 or
// 6): it asks DHCP and use-dns is not no.
func (l Link) LeaseDNS(family int) bool {
	if family == 6 {
		return l.DHCP6.Value == "yes" && l.UseDNS6.Value != "no"
	}
	return l.DHCP4.Value == "yes" && l.UseDNS4.Value != "no"
}
