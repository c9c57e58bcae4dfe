// Package debresolvconf reads the inputs of Debian's resolvconf package
// (resolvconf 1.91+nmu1 in bookworm; trixie's 1.94 has the same libc script,
// under /usr/lib), from which its /etc/resolvconf/update.d/libc script builds
// /run/resolvconf/resolv.conf at every `resolvconf -u`, `-a` and `-d`:
// resolv.conf.d/head as it is, then the nameservers of the interface records
// (/run/resolvconf/interface/*) and of resolv.conf.d/base, at most three, cut
// after a loopback one, then tail as it is. It also reads dnsmasq's
// /etc/default/dnsmasq, whose DNSMASQ_EXCEPT decides whether dnsmasq registers
// 127.0.0.1 as the record lo.dnsmasq (start_resolvconf in
// /usr/share/dnsmasq/init-system-common: dnsmasq 2.90-4, and 2.91 in trixie,
// which runs it in the background).
package debresolvconf

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// The node paths resolvconf and dnsmasq's registration use.
const (
	ConfDir         = "/etc/resolvconf/resolv.conf.d"
	Head            = ConfDir + "/head"
	Base            = ConfDir + "/base"
	Tail            = ConfDir + "/tail"
	InterfaceDir    = "/run/resolvconf/interface"
	InterfaceOrder  = "/etc/resolvconf/interface-order"
	Defaults        = "/etc/default/resolvconf"
	DnsmasqDefaults = "/etc/default/dnsmasq"
	// DnsmasqRecord is dnsmasq's registration: "nameserver 127.0.0.1"
	// given to `resolvconf -a lo.dnsmasq` when dnsmasq starts.
	DnsmasqRecord = InterfaceDir + "/lo.dnsmasq"
	// DnsmasqExcept is the setting that stops that registration (and
	// dnsmasq's listening on lo): DNSMASQ_EXCEPT="lo".
	DnsmasqExcept = "DNSMASQ_EXCEPT"
)

// Paths are the files and folders read, for watch and unloop.path.
func Paths() []string {
	return []string{ConfDir, InterfaceDir, InterfaceOrder, Defaults, DnsmasqDefaults}
}

// Server is one nameserver an input of resolvconf names.
type Server struct {
	Addr netip.Addr
	File string
	Line int
	// Input is "head", "base", "tail", or the interface record's name
	// ("lo.dnsmasq", "eth0.dhclient").
	Input string
}

// Fixed says whether the server is in a file a person edits (head, base,
// tail): unloop removes its line there.
func (s Server) Fixed() bool { return s.Input == "head" || s.Input == "base" || s.Input == "tail" }

// Dnsmasq says whether it is dnsmasq's registration of itself.
func (s Server) Dnsmasq() bool { return s.File == DnsmasqRecord }

// Config is what resolvconf builds its file from.
type Config struct {
	// Present: resolvconf's configuration folder or its records are there.
	Present bool
	Servers []Server
	// Truncate: the libc script drops the servers after a loopback one
	// (TRUNCATE_NAMESERVER_LIST_AFTER_LOOPBACK_ADDRESS, yes unless
	// /etc/default/resolvconf says otherwise).
	Truncate bool
	// Except is /etc/default/dnsmasq's last DNSMASQ_EXCEPT assignment (Line
	// 0: none); ExceptsLo: it names lo, so dnsmasq registers nothing.
	Except    hostcfg.Setting
	ExceptsLo bool
}

// Load reads the inputs under r. Files that are missing are no error.
func Load(r *hostcfg.Root) (*Config, error) {
	c := &Config{Truncate: true}
	var errs []error
	c.Present = r.Exists(ConfDir) || r.Exists(InterfaceDir)
	if !c.Present {
		return c, nil
	}
	// In the order of the file the libc script writes: head, the
	// records, base, tail. The records are taken by name here, not by
	// interface-order: which one names an address is what is asked.
	errs = append(errs, c.read(r, Head, "head"))
	ents, err := r.ReadDir(InterfaceDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() {
			errs = append(errs, c.read(r, path.Join(InterfaceDir, e.Name()), e.Name()))
		}
	}
	errs = append(errs, c.read(r, Base, "base"), c.read(r, Tail, "tail"))
	if v, ok, err := lastAssignment(r, Defaults, "TRUNCATE_NAMESERVER_LIST_AFTER_LOOPBACK_ADDRESS", "TRUNCATE_NAMESERVER_LIST_AFTER_127"); err != nil {
		errs = append(errs, err)
	} else if ok {
		c.Truncate = slices.Contains([]string{"y", "Y", "yes", "YES", "Yes"}, v.Value)
	}
	v, ok, err := lastAssignment(r, DnsmasqDefaults, DnsmasqExcept)
	errs = append(errs, err)
	if ok {
		c.Except, c.ExceptsLo = v, slices.Contains(strings.Fields(v.Value), "lo")
	}
	return c, errors.Join(errs...)
}

// read adds the nameservers of file: the libc script takes every word after
// "nameserver" (sed 's/^[[:space:]]*nameserver[[:space:]]\+//p', then the
// shell splits them); words that are no address are left out here.
func (c *Config) read(r *hostcfg.Root, file, input string) error {
	data, ok, err := r.ReadFileIfExists(file)
	if err != nil || !ok {
		return err
	}
	for i, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		for _, w := range f[1:] {
			if a, err := netip.ParseAddr(w); err == nil {
				c.Servers = append(c.Servers, Server{Addr: a, File: file, Line: i + 1, Input: input})
			}
		}
	}
	return nil
}

// lastAssignment is the last NAME=value line of a shell defaults file, for
// the first of names assigned there, its quotes taken off.
func lastAssignment(r *hostcfg.Root, file string, names ...string) (hostcfg.Setting, bool, error) {
	data, ok, err := r.ReadFileIfExists(file)
	if err != nil || !ok {
		return hostcfg.Setting{}, false, err
	}
	as, err := conffile.Assignments(file, data)
	if err != nil {
		return hostcfg.Setting{}, false, err
	}
	for _, name := range names {
		var s hostcfg.Setting
		for _, a := range as {
			if a.Key == name {
				s = hostcfg.Setting{Value: a.Value, File: file, Line: a.Line}
			}
		}
		if s.Line != 0 {
			return s, true, nil
		}
	}
	return hostcfg.Setting{}, false, nil
}

// ExceptLo returns /etc/default/dnsmasq's data with lo in DNSMASQ_EXCEPT:
// its last assignment line replaced (the interfaces it named kept), or, when
// there is none, one line appended. Every other byte is kept.
func ExceptLo(data []byte) []byte {
	lines := bytes.SplitAfter(data, []byte("\n"))
	last := -1
	for i, l := range lines {
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte(DnsmasqExcept+"=")) {
			last = i
		}
	}
	if last < 0 {
		out := slices.Clone(data)
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		return append(out, DnsmasqExcept+"=\"lo\"\n"...)
	}
	l := string(lines[last])
	v := strings.Trim(strings.TrimSpace(strings.SplitN(l, "=", 2)[1]), `"'`)
	ifaces := strings.Fields(v)
	if slices.Contains(ifaces, "lo") {
		return data
	}
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	nl := ""
	if strings.HasSuffix(l, "\n") {
		nl = "\n"
	}
	lines[last] = []byte(indent + DnsmasqExcept + "=\"" + strings.Join(append(ifaces, "lo"), " ") + "\"" + nl)
	return bytes.Join(lines, nil)
}

// Next are the servers the libc script lists once those looping are gone:
// the records' and base's, at most 3, cut after a loopback one when
// TRUNCATE_NAMESERVER_LIST_AFTER_LOOPBACK_ADDRESS says so (uniquify_nameserver_list).
func (c *Config) Next(looping func(netip.Addr) bool) []string {
	var out []string
	for _, sv := range c.Servers {
		if sv.Input == "head" || sv.Input == "tail" || looping(sv.Addr) || slices.Contains(out, sv.Addr.String()) {
			continue
		}
		out = append(out, sv.Addr.String())
		if len(out) == 3 || (c.Truncate && sv.Addr.IsLoopback()) {
			break
		}
	}
	return out
}

// Regenerated is resolvconf's file without the nameserver lines of put,
// as the libc script writes it from the edited inputs; when none would be
// left, clean takes the first one's place, where the script writes its list
// (after head, before search). Every other byte is kept.
func Regenerated(file string, data []byte, put, clean []string) ([]byte, error) {
	conf, err := resolvconf.Parse(file, data)
	if err != nil {
		return nil, err
	}
	drop := map[int]bool{}
	for _, ns := range conf.Nameservers {
		if slices.Contains(put, ns.Addr.WithZone("").String()) {
			drop[ns.Line] = true
		}
	}
	all := len(drop) == len(conf.Nameservers)
	var out []byte
	for i, l := range bytes.SplitAfter(data, []byte("\n")) {
		if !drop[i+1] {
			out = append(out, l...)
			continue
		}
		if all {
			for _, c := range clean {
				out = append(out, "nameserver "+c+"\n"...)
			}
			all = false
		}
	}
	return out, nil
}

// Find is the input that names a, first in the order of the file resolvconf
// writes; ok false when none does.
func (c *Config) Find(a netip.Addr) (Server, bool) {
	if c == nil {
		return Server{}, false
	}
	i := slices.IndexFunc(c.Servers, func(sv Server) bool { return sv.Addr == a })
	if i < 0 {
		return Server{}, false
	}
	return c.Servers[i], true
}

// AtSource: unloop fixes the server where resolvconf reads it (a line of
// head, base or tail; dnsmasq's registration). Another record is its
// writer's (dhclient's resolvconf hook, ifupdown).
func (s Server) AtSource() bool { return s.Fixed() || s.Dnsmasq() }

// Says is how the server came into resolvconf's file, for people.
func (s Server) Says() string {
	switch {
	case s.Dnsmasq():
		return fmt.Sprintf("dnsmasq registered itself with resolvconf (resolvconf -a lo.dnsmasq: %s line %d), as it does at every start unless %s says %s=\"lo\"",
			s.File, s.Line, DnsmasqDefaults, DnsmasqExcept)
	case s.Fixed():
		return fmt.Sprintf("Debian's resolvconf put it there from its %s (%s line %d)", s.Input, s.File, s.Line)
	}
	return fmt.Sprintf("Debian's resolvconf put it there from the interface record %s (%s line %d)", s.Input, s.File, s.Line)
}
