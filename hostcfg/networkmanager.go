package hostcfg

import (
	"errors"
	"net/netip"
)

// NMServer is a DNS server NetworkManager is told to use.
type NMServer struct {
	Addr netip.Addr
	Key  string // "servers" (global-dns-domain), "ipv4.dns", "ipv6.dns"
	File string
	Line int
}

// NetworkManager is NetworkManager's DNS configuration.
type NetworkManager struct {
	Present   bool     // NetworkManager.conf or conf.d exists
	Files     []string // read, in order
	DNSMode   Setting  // [main] dns=
	RCManager Setting  // [main] rc-manager=
	Servers   []NMServer
}

// LoadNetworkManager reads /etc/NetworkManager/NetworkManager.conf, conf.d/*.conf
// (and /usr/lib, /run conf.d) and system-connections/*.nmconnection keyfiles.
func LoadNetworkManager(r *Root) (*NetworkManager, error) {
	return nil, errors.New("not implemented")
}
