package remediate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/dhclient"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/networkmanager"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/hostcfg/resolved"
	"github.com/unloop/unloop/systemd"
)

// Options is unloop's typed configuration (cmd fills it from flags, env and file).
type Options struct {
	NodeLocalDNS []netip.Addr // node cache addresses
	LocalIPs     []netip.Addr // more addresses of this node
	Upstreams    []netip.Addr // --upstream: used instead of discovery
	Corefiles    []string     // node paths; empty: /etc/coredns/Corefile when present
	Offline      bool
	Strategies   []string // "auto" or names, in order of preference
	NoRestart    bool
	NoVerify     bool
	// KeepRuns is how many runs the journal keeps: a successful apply
	// removes older ones. 0 is DefaultKeepRuns.
	KeepRuns int
}

// DefaultKeepRuns is how many runs the journal keeps unless told otherwise.
const DefaultKeepRuns = 10

// DefaultNodeLocalDNS are Kubespray's and the Kubernetes docs' node cache addresses.
var DefaultNodeLocalDNS = []netip.Addr{netip.MustParseAddr("169.254.25.10"), netip.MustParseAddr("169.254.20.10")}

// Bus is what remediate needs of the system bus; *systemd.Client has it.
type Bus interface {
	Resolved(ctx context.Context) (*systemd.ResolvedState, error)
	UnitActive(ctx context.Context, unit string) (bool, error)
	UnitFiles(ctx context.Context, unit string) ([]string, error)
	RestartUnit(ctx context.Context, unit string) error
}

// Iface is a network interface of the node and its addresses.
type Iface struct {
	Name  string
	Addrs []netip.Addr
}

// Env is the node as unloop sees it: its files, and (online) its bus and
// interfaces. A nil Bus or Interfaces means that part is not looked at.
type Env struct {
	Root       *hostcfg.Root
	Bus        Bus
	Interfaces func() ([]Iface, error)
	Log        *slog.Logger
	// Probe asks an upstream a DNS question; nil: DNSProbe.
	Probe Prober
	// BusNote says why Bus is nil ("offline", "no system bus: ..."); reported.
	BusNote string
}

func (e Env) log() *slog.Logger {
	if e.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Log
}

// SystemInterfaces lists this machine's interfaces (the node's, when unloop runs
// on the node or in a hostNetwork pod).
func SystemInterfaces() ([]Iface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	var out []Iface
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return nil, fmt.Errorf("listing addresses of %s: %w", ifc.Name, err)
		}
		i := Iface{Name: ifc.Name}
		for _, a := range addrs {
			if pn, ok := a.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(pn.IP); ok {
					i.Addrs = append(i.Addrs, ip.Unmap())
				}
			}
		}
		out = append(out, i)
	}
	return out, nil
}

// Node is everything the analysis looks at, gathered once.
type Node struct {
	Kubelet *kubelet.Setup
	// PodFile is the node path kubelet hands to pods; "" when resolvConf is "".
	PodFile   string
	PodExists bool
	Pod       *resolvconf.File // nil when PodFile is "" or missing
	Host      *resolvconf.File // /etc/resolv.conf; nil when missing

	Resolved     *resolved.Config
	ResolvedLive *systemd.ResolvedState // nil offline or when resolved is not running

	Dhclient       []*dhclient.Config
	DhclientLeases []dhclient.Lease
	NM             *networkmanager.Config
	Corefiles      []*corefile.Config
	// Forwarded are the other files Corefiles forward to, by node path.
	Forwarded map[string]*resolvconf.File
	// Uplink is systemd-resolved's /run/systemd/resolve/resolv.conf, when present.
	Uplink *resolvconf.File

	// NodeCache maps each node cache address to why it is one.
	NodeCache map[netip.Addr]string
	// Local maps the node's other addresses to where they were seen.
	Local map[netip.Addr]string

	Online     bool
	Notes      []string
	Unreadable []Finding
}

const busTimeout = 3 * time.Second

// Gather reads the node. Files that exist but can't be read or parsed become
// `unreadable` findings; the rest of the node is still looked at.
func Gather(ctx context.Context, env Env, opts Options) (*Node, error) {
	r := env.Root
	n := &Node{NodeCache: map[netip.Addr]string{}, Local: map[netip.Addr]string{}, Forwarded: map[string]*resolvconf.File{}}
	bad := func(err error) {
		var fe *hostcfg.FileError
		file, line := "", 0
		if errors.As(err, &fe) {
			file, line = fe.Path, fe.Line
		}
		f := newFinding(CodeUnreadable, SevError, file, line, netip.Addr{}, []string{err.Error()})
		// One file can be read in two roles (the pod file that is also
		// resolved's uplink file, or a Corefile's forward target): say it once.
		if !slices.ContainsFunc(n.Unreadable, func(u Finding) bool { return u.Message == f.Message }) {
			n.Unreadable = append(n.Unreadable, f)
		}
	}

	cache := opts.NodeLocalDNS
	if cache == nil {
		cache = DefaultNodeLocalDNS
	}
	for _, a := range cache {
		n.NodeCache[a] = "a configured node-local-dns address"
	}
	for _, a := range opts.LocalIPs {
		n.Local[a] = "given with --local-ip"
	}

	n.Online = !opts.Offline && env.Bus != nil
	if opts.Offline {
		n.Notes = append(n.Notes, "offline: files only; systemd-resolved's live state and the node's interfaces were not read")
	} else if env.Bus == nil && env.BusNote != "" {
		n.Notes = append(n.Notes, env.BusNote+"; systemd-resolved's live state was not read")
	}
	if !opts.Offline && env.Interfaces != nil {
		ifs, err := env.Interfaces()
		if err != nil {
			n.Notes = append(n.Notes, err.Error())
		}
		for _, ifc := range ifs {
			for _, a := range ifc.Addrs {
				switch {
				case ifc.Name == "nodelocaldns":
					n.NodeCache[a] = "node-local-dns's own address (interface nodelocaldns)"
				case a.IsLoopback():
				default:
					if _, ok := n.Local[a]; !ok {
						n.Local[a] = "an address of interface " + ifc.Name
					}
				}
			}
		}
	}
	for a := range n.NodeCache {
		delete(n.Local, a)
	}

	var unitFiles []string
	if n.Online {
		bctx, cancel := context.WithTimeout(ctx, busTimeout)
		st, err := env.Bus.Resolved(bctx)
		switch {
		case err == nil:
			n.ResolvedLive = st
		case errors.Is(err, systemd.ErrNotRunning):
			n.Notes = append(n.Notes, "systemd-resolved is not running")
		default:
			n.Notes = append(n.Notes, fmt.Sprintf("reading systemd-resolved over D-Bus: %v", err))
		}
		if files, err := env.Bus.UnitFiles(bctx, "kubelet.service"); err == nil && len(files) > 0 {
			unitFiles = files
		}
		cancel()
	}

	var err error
	if n.Kubelet, err = kubelet.Discover(r, unitFiles); err != nil {
		bad(err)
	}
	if n.Kubelet == nil {
		n.Kubelet = &kubelet.Setup{ResolvConf: "/etc/resolv.conf", ResolvConfSource: "default"}
	}
	n.PodFile = n.Kubelet.ResolvConf

	if n.Host, err = readResolv(r, "/etc/resolv.conf"); err != nil {
		bad(err)
	}
	if n.PodFile != "" {
		_, err := r.Stat(n.PodFile)
		n.PodExists = !errors.Is(err, fs.ErrNotExist)
		if n.PodFile == "/etc/resolv.conf" {
			n.Pod = n.Host
		} else if n.Pod, err = readResolv(r, n.PodFile); err != nil {
			bad(err)
		}
	}
	n.liveGenerator()
	if n.Resolved, err = resolved.Load(r); err != nil {
		bad(err)
	}
	if n.Dhclient, err = dhclient.LoadConfigs(r); err != nil {
		bad(err)
	}
	if n.DhclientLeases, err = dhclient.LoadLeases(r); err != nil {
		bad(err)
	}
	if n.NM, err = networkmanager.Load(r); err != nil {
		bad(err)
	}
	corefiles := opts.Corefiles
	if len(corefiles) == 0 {
		corefiles = []string{"/etc/coredns/Corefile"}
	}
	for _, p := range corefiles {
		var data []byte
		var err error
		if len(opts.Corefiles) > 0 {
			data, err = r.ReadFile(p) // asked for by name: it must be there
		} else {
			// The default one: missing or a dangling link is absent; a link
			// loop or a folder is unreadable, not absent.
			var ok bool
			if data, ok, err = r.ReadFileIfExists(p); err == nil && !ok {
				continue
			}
		}
		if err != nil {
			bad(err)
			continue
		}
		cf, err := corefile.Parse(p, data)
		if err != nil {
			bad(err)
			continue
		}
		n.Corefiles = append(n.Corefiles, cf)
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				for _, t := range fw.To {
					if _, path, ok := forwardTarget(t.Text); ok && path != "" && n.Forwarded[path] == nil {
						if rf, err := readResolv(r, path); err != nil {
							bad(err)
						} else if rf != nil {
							n.Forwarded[path] = rf
						}
					}
				}
			}
		}
	}
	if n.Uplink, err = readResolv(r, resolvconf.ResolvedUplinkFile); err != nil {
		bad(err)
	}
	return n, nil
}

// readResolv reads a resolv.conf, nil without error when it does not exist.
func readResolv(r *hostcfg.Root, p string) (*resolvconf.File, error) {
	if _, err := r.Lstat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if _, err := r.Stat(p); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // a dangling link: reported as missing where it matters
	} else if err != nil {
		return nil, err // a link loop, a folder that can't be read
	}
	return resolvconf.Read(r, p)
}
