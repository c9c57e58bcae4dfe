package hostcfg

import (
	"errors"
	"net/netip"
)

// LineKind says what a resolv.conf line is.
type LineKind int

const (
	LineBlank LineKind = iota
	LineComment
	LineNameserver
	LineSearch
	LineDomain
	LineOptions
	LineUnknown // kept as is; glibc ignores unknown keywords
)

// ResolvLine is one line of a resolv.conf, as written.
type ResolvLine struct {
	Num  int // 1-based
	Text string
	Kind LineKind
}

// Nameserver is one `nameserver` line.
type Nameserver struct {
	Addr netip.Addr // with its zone when written fe80::1%eth0
	Line int
	Text string // the value as written
}

// ResolvConf is a parsed resolv.conf. Every line is kept, so editors can splice.
type ResolvConf struct {
	Path        string // the node's path that was parsed
	Lines       []ResolvLine
	Nameservers []Nameserver
	Search      []string // the last search/domain line wins, as in glibc
	SearchLine  int
	Options     []string
}

// ParseResolvConf parses data read from path. Binary junk, a nameserver that is
// not an IP address, or an over-long line is an error naming path and line.
func ParseResolvConf(path string, data []byte) (*ResolvConf, error) {
	return nil, errors.New("not implemented")
}

// RemoveLines returns data without the lines numbered in lines (1-based); every
// other byte is kept.
func RemoveLines(data []byte, lines []int) []byte {
	return data
}

// Generator says who wrote /etc/resolv.conf (DESIGN §2).
type Generator string

const (
	GenResolvedStub   Generator = "systemd-resolved-stub"
	GenResolvedUplink Generator = "systemd-resolved-uplink"
	GenResolvedStatic Generator = "systemd-resolved-static"
	GenDhclient       Generator = "dhclient"
	GenNetworkManager Generator = "networkmanager"
	GenResolvconf     Generator = "resolvconf"
	GenNetconfig      Generator = "netconfig"
	GenKubespray      Generator = "kubespray"
	GenUnloop         Generator = "unloop"
	GenUnknown        Generator = "unknown"
)

// ResolvFile is a resolv.conf as found on the node: where it is, what it links
// to, its content and who wrote it.
type ResolvFile struct {
	Path      string // the path asked for, e.g. /etc/resolv.conf
	Link      string // the link target as written ("" when not a link)
	Target    string // the node's path of the file read after links
	Data      []byte
	Conf      *ResolvConf
	Generator Generator
	Evidence  string // why we think so, in words ("link to ../run/systemd/resolve/stub-resolv.conf")
}

// ReadResolvFile reads path (links followed inside the root), parses it and
// detects its generator from the link target, header lines, content and the
// node's other files.
func ReadResolvFile(r *Root, path string) (*ResolvFile, error) {
	return nil, errors.New("not implemented")
}
