package node

import (
	"context"
	"errors"
	"io/fs"
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
	"github.com/unloop/unloop/remediate/nodeenv"
	"github.com/unloop/unloop/remediate/trace"
)

// What the node is read through (its files, bus, runtime, the API) and
// unloop's options: package nodeenv; the names below keep their node.X
// spelling for the rest of remediate and cmd.
type (
	Options    = nodeenv.Options
	Bus        = nodeenv.Bus
	Iface      = nodeenv.Iface
	Env        = nodeenv.Env
	ConfigMaps = nodeenv.ConfigMaps
	Prober     = nodeenv.Prober
	Runtime    = nodeenv.Runtime
)

// DefaultKeepRuns is how many runs the journal keeps unless told otherwise.
const DefaultKeepRuns = nodeenv.DefaultKeepRuns

// DefaultNodeLocalDNS are Kubespray's and the Kubernetes docs' node cache addresses.
var DefaultNodeLocalDNS = nodeenv.DefaultNodeLocalDNS

// SystemInterfaces lists this machine's interfaces.
func SystemInterfaces() ([]Iface, error) { return nodeenv.SystemInterfaces() }

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
