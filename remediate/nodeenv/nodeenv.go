// Package nodeenv is what unloop reads a node through (Env: its files, its
// bus, its container runtime, the Kubernetes API) and the options a run is
// given: the leaf every stage of remediate shares.
package nodeenv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/dnspods"
	"github.com/unloop/unloop/remediate/finding"
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
	Ignore []finding.Ignore
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

// Prober asks addr one DNS question; nil when it answers (probe.DNS).
type Prober func(ctx context.Context, addr netip.Addr) error

// Runtime is what remediate needs of the node's container runtime.
type Runtime = dnspods.Runtime
