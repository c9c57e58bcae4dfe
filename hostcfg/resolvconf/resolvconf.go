// Package resolvconf reads resolv.conf files: their lines, name servers and
// search domains, and who wrote them.
package resolvconf

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/dhclient"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/networkmanager"
)

// MaxLineLength bounds a line of resolv.conf. glibc reads lines into a buffer
// of its own and treats longer ones as junk; no real file comes near it.
const MaxLineLength = 4096

// LineKind says what a resolv.conf line is.
type LineKind int

const (
	LineBlank LineKind = iota
	LineComment
	LineNameserver
	LineSearch
	LineDomain
	LineOptions
	LineUnknown  // kept as is; glibc ignores unknown keywords
	LineSortlist // glibc's sortlist: known, not used by unloop
)

func (k LineKind) String() string {
	switch k {
	case LineBlank:
		return "blank"
	case LineComment:
		return "comment"
	case LineNameserver:
		return "nameserver"
	case LineSearch:
		return "search"
	case LineDomain:
		return "domain"
	case LineOptions:
		return "options"
	case LineUnknown:
		return "unknown"
	case LineSortlist:
		return "sortlist"
	}
	return fmt.Sprintf("LineKind(%d)", int(k))
}

// Line is one line of a resolv.conf, as written.
type Line struct {
	Num  int // 1-based
	Text string
	Kind LineKind
	// Start and End are the line's byte offsets in the file; data[Start:End]
	// holds its terminator ("\n" or "\r\n") too, so editors can splice.
	Start, End int
}

// Nameserver is one `nameserver` line.
type Nameserver struct {
	Addr netip.Addr // with its zone when written fe80::1%eth0
	Line int
	Text string // the value as written
	// Order is the line's place among the file's nameserver lines that
	// have a value, valid or not (0-based): kubelet counts them all against
	// its limit of 3, glibc only the valid ones.
	Order int
}

// Invalid is a `nameserver` line whose value is no IP address
// (`192.0.2.2:5353`, `dns.google`, `999.999.999.999`). Its readers part
// ways there: glibc's res_init skips the line (resolv/res_init.c, glibc
// 2.41), kubelet copies the value into pods' files as it is and counts it
// against its limit (pkg/kubelet/network/dns/dns.go parseResolvConf,
// v1.34), miekg/dns passes it on (clientconfig.go, v1.1.72), and CoreDNS's
// forward adds port 53 (plugin/pkg/parse tryFile, v1.14): "[192.0.2.2:5353]:53"
// never answers, a name is looked up through the file's other servers. It is
// no loop of its own, and the file is still read.
type Invalid struct {
	Line  int
	Text  string
	Order int // as Nameserver.Order
}

// Addrs are the addresses of f's nameserver lines, without a zone; nil
// when there is no file.
func (f *File) Addrs() []netip.Addr {
	if f == nil {
		return nil
	}
	out := []netip.Addr{}
	for _, ns := range f.Conf.Nameservers {
		out = append(out, ns.Addr.WithZone(""))
	}
	return out
}

// Config is a parsed resolv.conf. Every line is kept, so editors can splice.
type Config struct {
	Path        string // the node's path that was parsed
	Lines       []Line
	Nameservers []Nameserver
	Invalid     []Invalid // nameserver lines with a value that is no IP address
	Search      []string  // the last search/domain line wins, as in glibc
	SearchLine  int
	Options     []string

	// AnsibleBegin and AnsibleEnd are the lines of Kubespray's
	// "# Ansible entries BEGIN/END" markers (0 when absent): the lines between
	// them are Kubespray's, and come back at its next run.
	AnsibleBegin, AnsibleEnd int
}

// Limit tells the nameserver lines that readers with a limit of max (kubelet
// and glibc: 3) use: kubelet the first max lines with a value, valid or
// not (formDNSNameserversFitsLimits, kubernetes v1.34), glibc the first max
// valid ones (MAXNS in resolv/res_init.c); dropped is the first line kubelet
// drops (0 when none is).
func (c *Config) Limit(max int) (kubelet, glibc []int, dropped int) {
	lines := make([]int, len(c.Nameservers)+len(c.Invalid))
	for _, ns := range c.Nameservers {
		lines[ns.Order] = ns.Line
		if len(glibc) < max {
			glibc = append(glibc, ns.Line)
		}
	}
	for _, bad := range c.Invalid {
		lines[bad.Order] = bad.Line
	}
	if len(lines) > max {
		return lines[:max], glibc, lines[max]
	}
	return lines, glibc, 0
}

// Marker lines of Kubespray's blockinfile in resolv.conf and dhclient.conf.
const (
	AnsibleBlockBegin = "# Ansible entries BEGIN"
	AnsibleBlockEnd   = "# Ansible entries END"
)

// Parse parses data read from path. Binary junk, a nameserver line
// without a value (kubelet refuses the file: "nameserver list is empty"), or
// an over-long line is an error naming path and line. A value that is no IP
// address is kept in Invalid, as its readers go on past it.
//
// Keywords are read like kubelet and Go resolvers read them (fields split on
// blanks, leading blanks allowed, a '#' or ';' anywhere starts a comment), which
// is a superset of glibc: a loop that any of the file's readers would follow is
// seen.
func Parse(path string, data []byte) (*Config, error) {
	if err := conffile.Check(path, data, MaxLineLength); err != nil {
		return nil, err
	}
	rc := &Config{Path: path}
	for i, s := range conffile.Lines(data) {
		num := i + 1
		text := string(data[s.Start:s.End])
		l := Line{Num: num, Text: text, Start: s.Start, End: s.Next}
		trimmed := strings.TrimLeftFunc(text, conffile.IsSpace)
		switch {
		case strings.TrimRightFunc(trimmed, conffile.IsSpace) == "":
			l.Kind = LineBlank
		case trimmed[0] == '#' || trimmed[0] == ';':
			l.Kind = LineComment
			marker := strings.TrimRightFunc(trimmed, conffile.IsSpace)
			if marker == AnsibleBlockBegin && rc.AnsibleBegin == 0 {
				rc.AnsibleBegin = num
			} else if marker == AnsibleBlockEnd && rc.AnsibleBegin != 0 && rc.AnsibleEnd == 0 {
				rc.AnsibleEnd = num
			}
		default:
			body := trimmed
			if j := strings.IndexAny(body, "#;"); j >= 0 {
				body = body[:j]
			}
			f := strings.FieldsFunc(body, conffile.IsSpace)
			if len(f) == 0 {
				l.Kind = LineUnknown
				break
			}
			switch f[0] {
			case "nameserver":
				l.Kind = LineNameserver
				if len(f) < 2 {
					return nil, hostcfg.Errorf(path, num, "nameserver without an address")
				}
				order := len(rc.Nameservers) + len(rc.Invalid)
				addr, err := netip.ParseAddr(f[1])
				if err != nil {
					rc.Invalid = append(rc.Invalid, Invalid{Line: num, Text: f[1], Order: order})
					break
				}
				rc.Nameservers = append(rc.Nameservers, Nameserver{Addr: addr, Line: num, Text: f[1], Order: order})
			case "search":
				l.Kind = LineSearch
				rc.Search = append([]string(nil), f[1:]...)
				rc.SearchLine = num
			case "domain":
				// glibc: the domain's first word becomes the only search domain.
				l.Kind = LineDomain
				rc.Search = append([]string(nil), f[1:min(2, len(f))]...)
				rc.SearchLine = num
			case "options":
				l.Kind = LineOptions
				rc.Options = append(rc.Options, f[1:]...)
			case "sortlist":
				l.Kind = LineSortlist
			default:
				l.Kind = LineUnknown
			}
		}
		rc.Lines = append(rc.Lines, l)
	}
	if rc.AnsibleEnd == 0 {
		rc.AnsibleBegin = 0
	}
	return rc, nil
}

// RemoveLines returns data without the lines numbered in lines (1-based); every
// other byte is kept. Numbers that name no line are ignored.
func RemoveLines(data []byte, lines []int) []byte {
	drop := make(map[int]bool, len(lines))
	for _, n := range lines {
		drop[n] = true
	}
	out := make([]byte, 0, len(data))
	for i, s := range conffile.Lines(data) {
		if !drop[i+1] {
			out = append(out, data[s.Start:s.Next]...)
		}
	}
	return out
}

// Generator says who wrote /etc/resolv.conf (DESIGN.md §2).
type Generator string

const (
	GenResolvedStub   Generator = "systemd-resolved-stub"
	GenResolvedUplink Generator = "systemd-resolved-uplink"
	GenResolvedStatic Generator = "systemd-resolved-static"
	GenDhclient       Generator = "dhclient"
	GenNetworkManager Generator = "networkmanager"
	GenResolvconf     Generator = "resolvconf"
	GenNetconfig      Generator = "netconfig"
	GenDocker         Generator = "docker" // Docker Engine 25 and later (kind and minikube nodes)
	GenKubespray      Generator = "kubespray"
	GenUnloop         Generator = "unloop"
	GenUnknown        Generator = "unknown"
)

// UnloopMarker starts the first line of every resolv.conf unloop writes, so the
// next run knows the file is its own.
const UnloopMarker = "# Managed by unloop"

// The files of systemd-resolved and the other managers, as node paths.
const (
	ResolvedStubFile   = "/run/systemd/resolve/stub-resolv.conf"
	ResolvedUplinkFile = "/run/systemd/resolve/resolv.conf"
	ResolvedStaticFile = "/usr/lib/systemd/resolv.conf"
	ResolvconfFile     = "/run/resolvconf/resolv.conf"
	NetconfigFile      = "/run/netconfig/resolv.conf"
)

// ResolvedStubAddr is what the stub file names (127.0.0.54 is resolved's other
// stub, never written in a file).
var ResolvedStubAddr = netip.AddrFrom4([4]byte{127, 0, 0, 53})

// File is a resolv.conf as found on the node: where it is, what it links
// to, its content and who wrote it.
type File struct {
	Path      string // the path asked for, e.g. /etc/resolv.conf
	Link      string // the link target as written ("" when not a link)
	Target    string // the node's path of the file read after links
	Missing   bool   // Path is a link whose target does not exist (an image whose /run is empty)
	Data      []byte
	Conf      *Config
	Generator Generator
	Evidence  string // why we think so, in words ("link to ../run/systemd/resolve/stub-resolv.conf")
}

// Read reads path (links followed inside the root), parses it and
// detects its generator from the link target, header lines, content and the
// node's other files.
//
// A link whose target is missing is not an error: the File says Missing,
// has an empty Conf, and the generator comes from the link. Anything else that
// can't be read or parsed is an error naming the file.
func Read(r *hostcfg.Root, p string) (*File, error) {
	p = conffile.Clean(p)
	fi, err := r.Lstat(p)
	if err != nil {
		return nil, err
	}
	rf := &File{Path: p}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if rf.Link, err = r.Readlink(p); err != nil {
			return nil, err
		}
	}
	if rf.Target, err = r.Resolve(p); err != nil {
		return nil, err
	}
	data, err := r.ReadFile(p)
	switch {
	case err == nil:
		rf.Data = data
		if rf.Conf, err = Parse(p, data); err != nil {
			return nil, err
		}
	case rf.Link != "" && errors.Is(err, fs.ErrNotExist):
		rf.Missing = true
		rf.Conf = &Config{Path: p}
	default:
		return nil, err
	}
	rf.Generator, rf.Evidence = detectGenerator(rf, evidence{
		dhclient: func() string { return dhclient.Evidence(r) },
		stubFile: func() string {
			p, err := r.Resolve(ResolvedStubFile)
			if err != nil {
				return ""
			}
			return p
		},
		dnsmasq: func() (hostcfg.Setting, bool) {
			// Errors are the node's unreadable files, reported where
			// NetworkManager's configuration is read for itself.
			nm, _ := networkmanager.Load(r)
			return nm.Dnsmasq()
		},
	})
	return rf, nil
}

// evidence asks the node's other files, only when the file itself does not say.
type evidence struct {
	// dhclient says why dhclient runs here ("" when it does not).
	dhclient func() string
	// dnsmasq: NetworkManager runs its own dnsmasq (dns=dnsmasq).
	dnsmasq func() (hostcfg.Setting, bool)
	// stubFile is where resolved's stub file is on this node, its links
	// followed ("" when that can't be told).
	stubFile func() string
}

// detectGenerator decides who wrote rf from its header lines, then its link,
// then the node (dhclient, which writes no header on Debian; NetworkManager's
// dnsmasq, whose address resolvconf writes on Ubuntu). The node is asked only
// when needed.
func detectGenerator(rf *File, ev evidence) (Generator, string) {
	g, words := generatorFromHeaders(rf.Conf)
	if g == GenUnloop || g == GenKubespray {
		return g, words
	}
	if g, words := nmDnsmasq(rf, ev); g != "" {
		return g, words
	}
	if g == GenResolvedStub && rf.Target != ResolvedStubFile && (ev.stubFile == nil || rf.Target != ev.stubFile()) {
		// resolved rewrites only its own file: a copy of it (an image's
		// /etc/resolv.conf, a cp) stays as it is, and relinking is no fix.
		// Where /run/systemd/resolve is itself a link, its file is still
		// resolved's: the same file, reached by another name.
		return GenUnknown, "a copy of systemd-resolved's stub file (" + words + "), not " + ResolvedStubFile + " nor a link to it"
	}
	if g != "" {
		return g, words
	}
	return detectFromLink(rf, ev.dhclient)
}

// nmDnsmasq: the file names the address of NetworkManager's own dnsmasq.
// Upstream NetworkManager starts it with --listen-address=127.0.0.1
// (src/core/dns/nm-dns-dnsmasq.c); Ubuntu's package, up to 16.04, with
// 127.0.1.1, which it hands to resolvconf: the file's header is then
// resolvconf's, but NetworkManager put the address there.
func nmDnsmasq(rf *File, ev evidence) (Generator, string) {
	if ev.dnsmasq == nil || rf.Conf == nil {
		return "", ""
	}
	var named *Nameserver
	for i, ns := range rf.Conf.Nameservers {
		if ns.Addr == DnsmasqUbuntuAddr || ns.Addr == DnsmasqAddr {
			named = &rf.Conf.Nameservers[i]
			break
		}
	}
	if named == nil {
		return "", ""
	}
	d, ok := ev.dnsmasq()
	if !ok {
		return "", ""
	}
	return GenNetworkManager, fmt.Sprintf("line %d names %s, where NetworkManager's dnsmasq listens (dns=dnsmasq in %s line %d)",
		named.Line, named.Addr, d.File, d.Line)
}

// The addresses NetworkManager's dnsmasq listens on: upstream's, and Ubuntu's.
var (
	DnsmasqAddr       = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	DnsmasqUbuntuAddr = netip.AddrFrom4([4]byte{127, 0, 1, 1})
)

// detectFromLink decides from the link and the node when no header says.
func detectFromLink(rf *File, dhclient func() string) (Generator, string) {
	hasStub := false
	for _, ns := range rf.Conf.Nameservers {
		if ns.Addr == ResolvedStubAddr {
			hasStub = true
		}
	}
	linkWords := ""
	if rf.Link != "" {
		linkWords = "link to " + rf.Link
		if rf.Target != "" && rf.Target != linkTargetPath(rf.Path, rf.Link) {
			linkWords += " (" + rf.Target + ")"
		}
		if rf.Missing {
			linkWords += ", which is missing"
		}
		g := generatorFromTarget(rf.Target)
		if g == "" {
			g = generatorFromTarget(linkTargetPath(rf.Path, rf.Link))
		}
		switch g {
		case "":
		case GenResolvedStub, GenResolvedUplink, GenResolvedStatic:
			// No resolved header here: the content is not resolved's. Debian's
			// dhclient-script follows the link and writes through it.
			overwritten := !rf.Missing && (g != GenResolvedStub || !hasStub)
			if !overwritten {
				return g, linkWords
			}
			if ev := dhclient(); ev != "" {
				return GenDhclient, linkWords + ", but the content is not systemd-resolved's (no header" +
					stubWords(g) + ") and " + ev + ": dhclient-script wrote through the link"
			}
			if g == GenResolvedStub {
				return GenUnknown, linkWords + ", but the content is not systemd-resolved's (no header, no nameserver 127.0.0.53)"
			}
			return g, linkWords + " (no systemd-resolved header)"
		default:
			return g, linkWords
		}
	}
	if ev := dhclient(); ev != "" && !rf.Missing {
		what := "a file with no header"
		if rf.Link != "" {
			what = linkWords + " with no header"
		}
		return GenDhclient, what + " and " + ev + " (Debian's dhclient-script writes no header)"
	}
	if rf.Link != "" {
		return GenUnknown, linkWords + ", a file no known manager writes"
	}
	return GenUnknown, "no known header, not a link"
}

func stubWords(g Generator) string {
	if g == GenResolvedStub {
		return ", no nameserver 127.0.0.53"
	}
	return ""
}

// linkTargetPath is the node path a link at p written as target names (one hop).
func linkTargetPath(p, target string) string {
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)
	}
	return path.Join(path.Dir(p), target)
}

// generatorFromTarget knows the files the managers write; "" for others.
func generatorFromTarget(t string) Generator {
	switch t {
	case ResolvedStubFile:
		return GenResolvedStub
	case ResolvedUplinkFile:
		return GenResolvedUplink
	case ResolvedStaticFile, "/lib/systemd/resolv.conf":
		return GenResolvedStatic
	case ResolvconfFile, "/etc/resolvconf/run/resolv.conf":
		return GenResolvconf
	case NetconfigFile:
		return GenNetconfig
	case "/run/NetworkManager/resolv.conf", "/run/NetworkManager/no-stub-resolv.conf":
		return GenNetworkManager
	}
	return ""
}

// generatorFromHeaders reads the comment lines managers write. unloop's marker
// and Kubespray's block beat the rest: both are written into files another
// manager made. Otherwise the first recognised header wins.
func generatorFromHeaders(rc *Config) (Generator, string) {
	if rc == nil {
		return "", ""
	}
	header := func(l Line) string {
		return fmt.Sprintf("header %q (line %d)", strings.TrimSpace(l.Text), l.Num)
	}
	var comments []Line
	for _, l := range rc.Lines {
		if l.Kind == LineComment {
			comments = append(comments, l)
		}
	}
	for _, l := range comments {
		if strings.HasPrefix(strings.TrimSpace(l.Text), UnloopMarker) {
			return GenUnloop, header(l)
		}
	}
	if rc.AnsibleBegin != 0 {
		return GenKubespray, fmt.Sprintf("Kubespray's %q block (lines %d-%d)", AnsibleBlockBegin, rc.AnsibleBegin, rc.AnsibleEnd)
	}
	for _, l := range comments {
		t := strings.TrimSpace(l.Text)
		lower := strings.ToLower(t)
		switch {
		case strings.Contains(lower, "managed by man:systemd-resolved"),
			strings.Contains(lower, "managed by systemd-resolved"),
			strings.Contains(lower, "static resolv.conf file for connecting local clients"):
			return resolvedFlavour(rc, comments), header(l)
		case strings.Contains(lower, "dhclient-script"):
			return GenDhclient, header(l)
		case strings.Contains(lower, "generated by networkmanager"):
			return GenNetworkManager, header(l)
		case strings.Contains(lower, "generated by docker engine"):
			return GenDocker, header(l)
		case strings.Contains(lower, "by resolvconf"):
			return GenResolvconf, header(l)
		case strings.Contains(lower, "by netconfig"), strings.Contains(lower, NetconfigFile):
			return GenNetconfig, header(l)
		}
	}
	return "", ""
}

// resolvedFlavour tells resolved's three files apart by their comments: since
// systemd 246 the first line names the file ("# This is
// /run/systemd/resolve/stub-resolv.conf managed by ..."); older ones say
// "This file is managed by" and describe the file below.
func resolvedFlavour(rc *Config, comments []Line) Generator {
	for _, l := range comments {
		t := strings.ToLower(l.Text)
		switch {
		case strings.Contains(t, "stub-resolv.conf managed by"),
			strings.Contains(t, "internal dns stub resolver"),
			strings.Contains(t, "127.0.0.53 is the systemd-resolved stub resolver"):
			return GenResolvedStub
		case strings.Contains(t, "/usr/lib/systemd/resolv.conf managed by"),
			strings.Contains(t, "/lib/systemd/resolv.conf managed by"),
			strings.Contains(t, "static resolv.conf file"):
			return GenResolvedStatic
		case strings.Contains(t, "/run/systemd/resolve/resolv.conf managed by"),
			strings.Contains(t, "local clients directly to"),
			strings.Contains(t, "all known uplink dns servers"):
			return GenResolvedUplink
		}
	}
	for _, ns := range rc.Nameservers {
		if ns.Addr == ResolvedStubAddr {
			return GenResolvedStub
		}
	}
	return GenResolvedUplink
}
