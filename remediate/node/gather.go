package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/osrelease"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/dnspods"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/trace"
	"github.com/unloop/unloop/systemd"
)

// Options is unloop's typed configuration (cmd fills it from flags, env and file).
type Options struct {
	NodeLocalDNS []netip.Addr // node cache addresses
	LocalIPs     []netip.Addr // more addresses of this node
	Upstreams    []netip.Addr // --upstream: used instead of discovery
	// DNSUpstreams (the dns-upstreams setting) are where the site's DNS
	// servers forward, instead of the pod file (Kubespray's upstream_dns_servers).
	DNSUpstreams []netip.Addr
	Corefiles    []string // node paths; empty: /etc/coredns/Corefile when present
	Offline      bool
	Strategies   []string // "auto" or names, in order of preference
	NoRestart    bool
	NoVerify     bool
	// KeepRuns is how many runs the journal keeps: a successful apply
	// removes older ones. 0 is DefaultKeepRuns.
	KeepRuns int
	// Ignore are the findings the site lives with: shown, never counted in
	// the status, never acted on.
	Ignore []Ignore
	// RuntimeEndpoint (--runtime-endpoint) is the container runtime's CRI
	// socket instead of kubelet's own containerRuntimeEndpoint.
	RuntimeEndpoint string
	// NoRecreatePods leaves the pods that hold an old copy of the pod file
	// alone: apply lists them and does not remove their sandboxes.
	NoRecreatePods bool
	// DNSServerPods says which pods are DNS servers: only their inputs and
	// the node's own are read (DESIGN.md §2b). Nil lists are the defaults.
	DNSServerPods dnspods.Selector
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
	// ResetFailed clears a unit's failed state and start-limit counter
	// (systemctl reset-failed), before a rollback's restart.
	ResetFailed(ctx context.Context, unit string) error
	// Reload is systemctl daemon-reload: after a unit file or drop-in
	// changed, before the unit is restarted.
	Reload(ctx context.Context) error
	// ReloadNetworkd is networkctl reload, over the bus: networkd reads
	// its .network files and drop-ins again.
	ReloadNetworkd(ctx context.Context) error
	// ReloadNetworkManager has NetworkManager re-read its configuration
	// (conf: Reload with CONF|DNS_RC) and the profiles connections
	// (LoadConnections, then Reapply on their devices), over the bus.
	ReloadNetworkManager(ctx context.Context, conf bool, connections []string) error
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
	// Probe asks an upstream a DNS question; nil: probe.DNS.
	Probe Prober
	// BusNote says why Bus is nil ("offline", "no system bus: ..."); reported.
	BusNote string
	// Healthz asks a restarted daemon's health endpoint at addr whether it
	// is ok; nil: probe.HTTPHealthz.
	Healthz func(ctx context.Context, addr string) error
	// Runtime connects to the container runtime's CRI endpoint under the
	// root; nil: no runtime is asked. Called online only; an error wrapping
	// fs.ErrNotExist means no socket is there.
	Runtime func(ctx context.Context, endpoint string) (Runtime, error)
	// ConfigMaps reads the cluster's ConfigMaps through the Kubernetes API;
	// nil: no credentials (DESIGN.md §2c). Asked online only.
	ConfigMaps ConfigMaps
}

// ConfigMaps is what unloop asks of the Kubernetes API; *kubeapi.Client
// has it.
type ConfigMaps interface {
	// ConfigMap reads namespace/name: nil and no error when it does not exist.
	ConfigMap(ctx context.Context, namespace, name string) (*kubeapi.ConfigMap, error)
	// Explicit: the user named the credentials (--kubeconfig, KUBECONFIG).
	Explicit() bool
}

func (e Env) Logger() *slog.Logger {
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

	// OS is what /etc/os-release says; empty when it is missing.
	OS        osrelease.Release
	Corefiles []*corefile.Config
	// ConfigMaps are the ConfigMaps read through the API, by the path of
	// their Corefile (APICorefilePath).
	ConfigMaps map[string]*kubeapi.ConfigMap
	// Forwarded are the other files Corefiles forward to, by node path.
	Forwarded map[string]*resolvconf.File
	// PodCopies are the running DNS-server pods' copies of the pod file.
	PodCopies []PodCopy
	// Inputs are the DNS servers' inputs found on the node and whose each
	// is; another pod's are listed as skipped, never read (dnspods.go).
	Inputs []dnspods.Input
	// Runtime is the container runtime asked about the pods (online, when
	// its socket is there); RuntimeNote says why it is nil.
	Runtime     Runtime
	RuntimeNote string
	// RuntimeFailed: the runtime was there but failed or answered over the
	// bounds (hostcfg/cri), as opposed to no runtime to ask.
	RuntimeFailed bool

	// NodeCache maps each node cache address to why it is one.
	NodeCache map[netip.Addr]string
	// Local maps the node's other addresses to where they were seen.
	Local map[netip.Addr]string

	Online     bool
	Notes      []string
	Unreadable []Finding

	// sources are what decides and writes what pods get, each with what it
	// read (sources.go).
	sources []Source
	pods    *dnspods.Census // dnsPods
	// fixers are the strategies the analysis offers (remediate's table).
	fixers []Fixer
	tr     trace.Log // -v (tracing.go)
}

// Gathering is what a source reads the node through.
type Gathering struct {
	Env  Env
	Opts Options
	Node *Node
}

const busTimeout = 3 * time.Second

// Gather reads the node. Files that exist but can't be read or parsed become
// `unreadable` findings, and what can't be asked becomes a note: the rest of
// the node is still looked at, so nothing here fails.
func Gather(ctx context.Context, env Env, opts Options) *Node {
	n := &Node{NodeCache: map[netip.Addr]string{}, Local: map[netip.Addr]string{}, Forwarded: map[string]*resolvconf.File{},
		tr: trace.New(env.Logger()), sources: newSources()}
	n.Online = !opts.Offline && env.Bus != nil
	n.addresses(env, opts)
	n.busNotes(env, opts)
	r := env.Root
	n.OS = load(n, func() (osrelease.Release, error) {
		data, _, err := r.ReadFileIfExists(osrelease.Path)
		return osrelease.Parse(data), err
	})
	g := &Gathering{Env: env, Opts: opts, Node: n}
	for _, s := range n.sources {
		s.Read(ctx, g)
	}
	n.readSandboxes(r, n.dnsPods(ctx, g))
	n.tr.Reads(r)
	n.tracePodFile()
	return n
}

// dnsPods are the node's pods and which are DNS servers, read once, when a
// source or the sandboxes first need them.
func (n *Node) dnsPods(ctx context.Context, g *Gathering) *dnspods.Census {
	if n.pods == nil {
		n.pods = n.readPods(ctx, g.Env, g.Opts)
	}
	return n.pods
}

// load calls read and keeps what it could read; each error (a loader joins
// one per file) becomes an `unreadable` finding.
func load[T any](n *Node, read func() (T, error)) T {
	v, err := read()
	if err != nil {
		n.unreadable(err)
	}
	return v
}

func (n *Node) unreadable(err error) {
	if errs := joined(err); errs != nil {
		for _, e := range errs {
			n.unreadable(e)
		}
		return
	}
	var fe *hostcfg.FileError
	file, line := "", 0
	if errors.As(err, &fe) {
		file, line = fe.Path, fe.Line
	}
	f := finding.New(finding.CodeUnreadable, file, line, netip.Addr{}, []string{err.Error()})
	// One file can be read in two roles (the pod file that is also
	// resolved's uplink file, or a Corefile's forward target): say it once.
	if !slices.ContainsFunc(n.Unreadable, func(u Finding) bool { return u.Message == f.Message }) {
		n.Unreadable = append(n.Unreadable, f)
	}
}

// podUnreadable is unreadable for a DNS server pod's input: a warning of its
// own code, which never stops the node's own fix (DESIGN.md §2b).
func (n *Node) podUnreadable(err error, pod string) {
	k := len(n.Unreadable)
	n.unreadable(err)
	for i := k; i < len(n.Unreadable); i++ {
		n.Unreadable[i].Code, n.Unreadable[i].Severity, n.Unreadable[i].Pod = finding.CodeDNSPodUnreadable, finding.SevWarning, pod
	}
}

// joined returns the errors errors.Join joined into err (one per file a
// loader could not read), nil for any other error: an error wrapping two
// (fmt's "%w: %w") is one error with its context.
func joined(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return nil
	}
	errs := j.Unwrap()
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	if strings.Join(msgs, "\n") != err.Error() {
		return nil
	}
	return errs
}

// addresses records the node cache and local addresses: configured, and
// (online) those of the node's interfaces.
func (n *Node) addresses(env Env, opts Options) {
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
}

// busNotes says what is not asked over the bus, and why.
func (n *Node) busNotes(env Env, opts Options) {
	if opts.Offline {
		why := "offline: "
		if env.BusNote != "" {
			why += env.BusNote + "; " // unloop turned offline itself: why
		}
		n.Notes = append(n.Notes, why+"files only; systemd-resolved's live state and the node's interfaces were not read")
	} else if env.Bus == nil && env.BusNote != "" {
		n.Notes = append(n.Notes, env.BusNote+"; systemd-resolved's live state was not read")
	}
}

// readCorefiles reads the Corefiles and the files they forward to.
func (n *Node) readCorefiles(r *hostcfg.Root, opts Options) {
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
			n.unreadable(err)
			continue
		}
		if corefile.IsManifest(data) {
			// A ConfigMap given as a Corefile: what it holds is read.
			if cfs := load(n, func() ([]*corefile.Config, error) { return corefile.ParseManifest(p, data) }); cfs != nil {
				n.addCorefiles(r, cfs...)
			}
			continue
		}
		cf := load(n, func() (*corefile.Config, error) { return corefile.Parse(p, data) })
		if cf == nil {
			continue
		}
		if err := cf.Check(); err != nil {
			n.unreadable(err)
			continue
		}
		n.addCorefiles(r, cf)
	}
}

// readForwarded reads the files a Corefile of the host forwards to.
func (n *Node) readForwarded(r *hostcfg.Root, cf *corefile.Config) {
	{
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				for _, t := range fw.To {
					if _, path, ok := corefile.ForwardTarget(t.Text); ok && path != "" && n.Forwarded[path] == nil {
						if rf := load(n, func() (*resolvconf.File, error) { return readResolv(r, path) }); rf != nil {
							n.Forwarded[path] = rf
						}
					}
				}
			}
		}
	}
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
