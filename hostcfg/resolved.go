package hostcfg

import (
	"errors"
	"net/netip"
)

// Setting is one assignment in a config file, where it was made.
type Setting struct {
	Value string
	File  string
	Line  int
}

// ResolvedServer is one server of a DNS= or FallbackDNS= list.
type ResolvedServer struct {
	Addr netip.Addr
	Port uint16 // 0: the default
	Text string // as written: 1.2.3.4:53%eth0#name
	File string
	Line int
}

// ResolvedConfig is systemd-resolved's configuration after systemd's drop-in
// precedence: resolved.conf, then resolved.conf.d/*.conf from /etc, /run,
// /usr/local/lib, /usr/lib (same name: the earlier folder wins; sorted by name);
// list settings append, and an empty assignment resets them.
type ResolvedConfig struct {
	Files                []string // read, in the order they apply
	DNS                  []ResolvedServer
	FallbackDNS          []ResolvedServer
	DNSStubListener      Setting // Value "" when never set (resolved's default: yes)
	DNSStubListenerExtra []Setting
}

// LoadResolvedConfig reads resolved.conf and its drop-ins under the root.
func LoadResolvedConfig(r *Root) (*ResolvedConfig, error) {
	return nil, errors.New("not implemented")
}
