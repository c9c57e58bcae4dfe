// Package resolved reads systemd-resolved's configuration files:
// resolved.conf and its drop-ins, and resolved's server syntax.
package resolved

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// Server is one server of a DNS= list.
type Server struct {
	Addr      netip.Addr // an IPv6 address carries the interface as its zone
	Port      uint16     // 0: the default
	Interface string     // after %: an interface name or index; "" when none
	Name      string     // after #: the server name for DNS-over-TLS; "" when none
	Text      string     // as written: 1.2.3.4:53%eth0#name
	File      string
	Line      int
}

// Config is systemd-resolved's configuration after systemd's drop-in
// precedence: resolved.conf, then resolved.conf.d/*.conf from /etc, /run,
// /usr/local/lib, /usr/lib (same name: the earlier folder wins; sorted by name);
// list settings append, and an empty assignment resets them.
type Config struct {
	Files                []string // read, in the order they apply
	DNS                  []Server
	DNSStubListener      hostcfg.Setting // Value "" when never set (resolved's default: yes)
	DNSStubListenerExtra []hostcfg.Setting
}

// resolvedDirs are systemd's configuration folders, the one that wins first.
var resolvedDirs = []string{"/etc/systemd", "/run/systemd", "/usr/local/lib/systemd", "/usr/lib/systemd"}

// Load reads resolved.conf and its drop-ins under the root: the
// main file is the first of /etc, /run, /usr/local/lib, /usr/lib that exists;
// drop-ins of the same name shadow those of later folders, and a drop-in that
// is a link to /dev/null masks its name. A file that can't be read or parsed is
// left out and its error returned (joined with the others); the config holds
// every other file.
func Load(r *hostcfg.Root) (*Config, error) {
	cfg := &Config{}
	var errs []error
	for _, dir := range resolvedDirs {
		p := dir + "/resolved.conf"
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if ok {
			if err := cfg.Apply(p, data); err != nil {
				errs = append(errs, err)
			}
			break
		}
	}
	dropins, err := conffile.DropIns(r, resolvedDirs, "resolved.conf.d", ".conf")
	if err != nil {
		errs = append(errs, err)
	}
	// A dangling link is skipped, as systemd skips it.
	errs = append(errs, hostcfg.ReadEach(r, dropins, cfg.Apply)...)
	return cfg, errors.Join(errs...)
}

// Apply reads one resolved.conf or drop-in on top of c. Only the [Resolve]
// section counts; lines without '=' are ignored, as resolved ignores them. An
// invalid server address is an error naming path and line, and then c is left
// as it was.
func (c *Config) Apply(path string, data []byte) error {
	if err := conffile.Check(path, data, conffile.MaxINILine); err != nil {
		return err
	}
	n := Config{
		Files:                append(slices.Clip(c.Files), path),
		DNS:                  slices.Clip(c.DNS),
		DNSStubListener:      c.DNSStubListener,
		DNSStubListenerExtra: slices.Clip(c.DNSStubListenerExtra),
	}
	section := ""
	err := conffile.ForEachINILine(data, func(num int, text string) error {
		if strings.HasPrefix(text, "[") {
			if !strings.HasSuffix(text, "]") {
				return hostcfg.Errorf(path, num, "invalid section header %q", text)
			}
			section = text[1 : len(text)-1]
			return nil
		}
		if section != "Resolve" {
			return nil
		}
		key, val, ok := strings.Cut(text, "=")
		if !ok {
			return nil
		}
		key, val = strings.TrimRightFunc(key, conffile.IsSpace), strings.TrimLeftFunc(val, conffile.IsSpace)
		switch key {
		case "DNS":
			if val == "" {
				n.DNS = nil
				return nil
			}
			for _, f := range strings.FieldsFunc(val, conffile.IsSpace) {
				s, err := ParseServer(f)
				if err != nil {
					return hostcfg.Errorf(path, num, "%s=: %w", key, err)
				}
				s.File, s.Line = path, num
				n.DNS = append(n.DNS, s)
			}
		case "DNSStubListener":
			n.DNSStubListener = hostcfg.Setting{Value: val, File: path, Line: num}
		case "DNSStubListenerExtra":
			if val == "" {
				n.DNSStubListenerExtra = nil
				return nil
			}
			n.DNSStubListenerExtra = append(n.DNSStubListenerExtra, hostcfg.Setting{Value: val, File: path, Line: num})
		}
		return nil
	})
	if err != nil {
		return err
	}
	*c = n
	return nil
}

// ParseServer parses one server of resolved's DNS= syntax:
// ADDR, ADDR:PORT (IPv4), [ADDR]:PORT (IPv6), each optionally followed by
// %IFACE and #SERVERNAME, and IPv6 ADDR%IFACE. The interface of an IPv6 address
// becomes its zone.
func ParseServer(s string) (Server, error) {
	srv := Server{Text: s}
	bad := func(why string, args ...any) (Server, error) {
		return Server{}, fmt.Errorf("%q is not a server address: %s", s, fmt.Sprintf(why, args...))
	}
	rest := s
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest, srv.Name = rest[:i], rest[i+1:]
		if !validServerName(srv.Name) {
			return bad("invalid server name %q after '#'", srv.Name)
		}
	}
	var host, port string
	hasIface, hasPort := false, false
	if strings.HasPrefix(rest, "[") {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			return bad("no ']'")
		}
		host, rest = rest[1:j], rest[j+1:]
		if r, iface, ok := strings.Cut(rest, "%"); ok {
			rest, srv.Interface, hasIface = r, iface, true
		}
		if rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return bad("unexpected %q after ']'", rest)
			}
			port, hasPort = p, true
		}
		if h, z, ok := strings.Cut(host, "%"); ok {
			if hasIface {
				return bad("two interfaces")
			}
			host, srv.Interface, hasIface = h, z, true
		}
	} else {
		if h, iface, ok := strings.Cut(rest, "%"); ok {
			rest, srv.Interface, hasIface = h, iface, true
		}
		host = rest
		if strings.Count(rest, ":") == 1 {
			host, port, _ = strings.Cut(rest, ":")
			hasPort = true
		}
	}
	addr, err := netip.ParseAddr(host)
	if err != nil || addr.Zone() != "" {
		return bad("no IP address")
	}
	if strings.HasPrefix(s, "[") && !addr.Is6() {
		return bad("brackets are for IPv6 addresses")
	}
	if hasIface {
		if !validIfaceName(srv.Interface) {
			return bad("invalid interface %q", srv.Interface)
		}
		if addr.Is6() {
			addr = addr.WithZone(srv.Interface)
		}
	}
	if hasPort {
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return bad("invalid port %q", port)
		}
		srv.Port = uint16(p)
	}
	srv.Addr = addr
	return srv, nil
}

// validServerName accepts a DNS name of letters, digits, '-', '_' and dots.
func validServerName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.')
	})
}

// validIfaceName accepts what the kernel accepts as an interface name (at most
// 15 bytes, no '/', ':' or blanks) or an interface index.
func validIfaceName(s string) bool {
	if s == "" || len(s) > 15 || s == "." || s == ".." {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r == '/' || r == ':' || r == '%' || r == '#' || r <= ' ' || r >= 0x7f
	})
}

// Paths are the node paths Load reads: resolved.conf and the drop-in folder
// in each of systemd's configuration folders.
func Paths() []string {
	var out []string
	for _, d := range resolvedDirs {
		out = append(out, d+"/resolved.conf", d+"/resolved.conf.d")
	}
	return out
}
