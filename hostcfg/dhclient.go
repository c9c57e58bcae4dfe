package hostcfg

import (
	"errors"
	"net/netip"
)

// dhclientLeaseDirs hold dhclient's leases: Debian's and RHEL's.
var dhclientLeaseDirs = []string{"/var/lib/dhcp", "/var/lib/dhclient"}

// DhclientStatement is a `prepend|supersede|append|default domain-name-servers`
// statement of a dhclient.conf.
type DhclientStatement struct {
	Verb   string // prepend, supersede, append, default
	Option string // domain-name-servers
	Addrs  []netip.Addr
	Line   int
	Start  int // byte offset of the statement's first byte in the file
	End    int // byte offset just past its ';'
}

// DhclientConf is one dhclient.conf (global, or dhclient-IFACE.conf).
type DhclientConf struct {
	Path       string
	Interface  string // "" for the global file
	Statements []DhclientStatement
}

// ParseDhclientConf parses the domain-name-servers statements of a dhclient.conf;
// comments (#) are not statements. Other statements are skipped, not judged.
func ParseDhclientConf(path string, data []byte) (*DhclientConf, error) {
	return nil, errors.New("not implemented")
}

// LoadDhclientConfs reads every dhclient.conf on the node: /etc/dhcp/dhclient.conf,
// /etc/dhclient.conf and the per-interface dhclient-IFACE.conf beside them.
func LoadDhclientConfs(r *Root) ([]*DhclientConf, error) {
	return nil, errors.New("not implemented")
}

// DhclientLease is the newest lease of one interface.
type DhclientLease struct {
	Path      string
	Interface string
	DNS       []netip.Addr // option domain-name-servers as the server sent it
	Line      int
}

// LoadDhclientLeases reads the newest lease per interface from /var/lib/dhcp and
// /var/lib/dhclient.
func LoadDhclientLeases(r *Root) ([]DhclientLease, error) {
	return nil, errors.New("not implemented")
}

// DhclientHooks lists the hook files present (enter, exit, RHEL dhclient.d).
func DhclientHooks(r *Root) ([]string, error) {
	return nil, errors.New("not implemented")
}
