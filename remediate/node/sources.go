package node

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// Source is something that decides, writes or reads what pods get: kubelet
// (each distribution, in hostcfg/kubelet), systemd-resolved, dhclient,
// netplan, NetworkManager, systemd-networkd, a writer known by the file alone
// (Docker, Kubespray, netconfig), Debian's resolvconf, the Corefiles' holders. Each lives in its
// own file, source_NAME.go, and is registered in sources below. The analysis
// asks them through this interface and names none of them (DESIGN.md §8).
type Source interface {
	// Name is the source's name in traces and messages.
	Name() string
	// Paths are the node paths it reads whatever the node holds (files and
	// folders): unloop watch watches them, with every file the last check
	// read.
	Paths() []string
	// Read gathers its inputs from the node. What exists but can't be read
	// or parsed becomes an unreadable finding (n.unreadable); nothing fails.
	Read(ctx context.Context, g *Gathering)
	// Wrote says whether it wrote the file rf, as the file tells (its link,
	// header or content: rf.Generator, with rf.Evidence saying how).
	Wrote(rf *resolvconf.File) bool
	// Put says how a looping address a in the file rf (the pod file, or a
	// file a Corefile forwards to) got there, when this source put it there
	// (ok).
	Put(n *Node, rf *resolvconf.File, a netip.Addr, kind addrKind) (o Origin, ok bool)
	// Findings are its own findings: settings of it that carry a looping
	// address into the pod file (only while rds, the DNS servers that read
	// the pod file, are some), or a loop of its own (a Corefile's forward).
	Findings(n *Node, rds []Reader) []Finding
	// Candidates offers the clean upstreams it knows, best first.
	Candidates(n *Node, add func(a netip.Addr, from From))
}

// none gives a source the methods it has nothing for: a source embeds it
// and writes only what it knows.
type none struct{}

func (none) Read(context.Context, *Gathering)                                 {}
func (none) Wrote(*resolvconf.File) bool                                      { return false }
func (none) Put(*Node, *resolvconf.File, netip.Addr, addrKind) (Origin, bool) { return Origin{}, false }
func (none) Findings(*Node, []Reader) []Finding                               { return nil }
func (none) Candidates(*Node, func(netip.Addr, From))                         {}

// Origin is what put a looping address into a resolv.conf.
type Origin struct {
	// Says is the chain's link, for people.
	Says string
	// At is the place of the setting ("file:line"; "systemd-resolved over
	// D-Bus:ADDR"); "" when it is no line of a file.
	At string
	// Fixes are the strategies that fix it there, least invasive first.
	Fixes []string
	// Live: known from the running service (D-Bus), not a line of a file.
	Live bool
	// Writer: the source is known only as the writer of the file (its
	// header, link or content), not by a setting.
	Writer bool
}

// rank orders origins: a setting in a file beats what a running service
// says, which beats the file's writer.
func (o Origin) rank() int {
	switch {
	case o.Writer:
		return 2
	case o.Live:
		return 1
	}
	return 0
}

// reporter is a source that adds what it read to the check's report.
type reporter interface{ report(rep *Report) }

// vetoer is a source that rules out a strategy on this node (NetworkManager
// handling DHCP rules out dhclient's hook): it says why, "" when it does not.
type vetoer interface {
	vetoes(n *Node, strategy string) string
}

// upstreamsKeeper is a source that keeps a file of its clean upstreams on
// the node (systemd-resolved's uplink file), which pods can be given
// instead of the pod file.
type upstreamsKeeper interface {
	upstreamsFile(n *Node) (rf *resolvconf.File, runs bool)
}

// UpstreamsFile is the file of upstreams a resolver of the node keeps
// (systemd-resolved's uplink file), nil when none; runs says whether that
// resolver runs (offline: its file is there).
func (n *Node) UpstreamsFile() (rf *resolvconf.File, runs bool) {
	for _, s := range n.sources {
		if k, ok := s.(upstreamsKeeper); ok {
			if rf, runs := k.upstreamsFile(n); rf != nil || runs {
				return rf, runs
			}
		}
	}
	return nil, false
}

// fileKeeper is a source that keeps a file of its servers for other
// programs (NetworkManager's no-stub-resolv.conf): kubelet's next choice
// when the upstreams file is not clean.
type fileKeeper interface{ keptFile() *resolvconf.File }

// KeptFiles are those files that exist, in the sources' order.
func (n *Node) KeptFiles() []*resolvconf.File {
	var out []*resolvconf.File
	for _, s := range n.sources {
		if k, ok := s.(fileKeeper); ok && k.keptFile() != nil {
			out = append(out, k.keptFile())
		}
	}
	return out
}

// Clean reports whether rf names servers and none of them loops.
func (n *Node) Clean(rf *resolvconf.File) bool {
	if rf == nil || len(rf.Conf.Nameservers) == 0 {
		return false
	}
	for _, ns := range rf.Conf.Nameservers {
		if n.Looping(ns.Addr) {
			return false
		}
	}
	return true
}

// writtenBy is the origin of an address in a file whose writer is known by
// the file alone, fixed by pointing kubelet elsewhere.
func writtenBy(rf *resolvconf.File) Origin {
	return Origin{Says: fmt.Sprintf("written by %s (%s)", rf.Generator, rf.Evidence), Fixes: []string{StrategyKubelet}, Writer: true}
}

// generator is a source that generates files other sources read (netplan
// renders networkd's .network files and NetworkManager's keyfiles): a
// setting in such a file is the generator's to fix, in its own input.
type generator interface {
	generates(n *Node, file string) bool
}

// Generated says whether a source generates file from its own input: the
// source that reads file leaves its settings to that source's finding and
// strategy, as fixing them there would be undone at the next generation.
func (n *Node) Generated(file string) bool {
	for _, s := range n.sources {
		if g, ok := s.(generator); ok && g.generates(n, file) {
			return true
		}
	}
	return false
}

// decider is a source that decides which file pods get (kubelet): its
// findings come before the pod file's.
type decider interface{ decidesPodFile() }

// sources are every source, in the order they are asked: a setting that
// put an address into the file is looked for in this order, then the
// file's writer. Add a source here (DESIGN.md "How to add a source").
var sources = []func() Source{
	newKubelet,
	newResolved,
	newDhclient,
	newNetplan,
	newNetworkManager,
	newNetworkd,
	newResolvconf,
	newOpenresolv,
	newFileWriters,
	newCorefile,
}

// newSources makes the sources for one look at the node.
func newSources() []Source {
	out := make([]Source, 0, len(sources))
	for _, s := range sources {
		out = append(out, s())
	}
	return out
}

// WatchPaths are the node paths every source reads whatever the node holds,
// sorted: unloop watch's list (with the files the last check read), and
// configs/unloop.path's (a test holds it to this).
func WatchPaths() []string {
	var out []string
	for _, s := range newSources() {
		out = append(out, s.Paths()...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// writerOf is the source that wrote rf, nil when none says so.
func (n *Node) writerOf(rf *resolvconf.File) Source {
	for _, s := range n.sources {
		if s.Wrote(rf) {
			return s
		}
	}
	return nil
}

// SourceOf returns the node's source of type S (nil when there is none):
// a strategy reads what its source gathered.
func SourceOf[S Source](n *Node) S {
	for _, s := range n.sources {
		if v, ok := s.(S); ok {
			return v
		}
	}
	var zero S
	return zero
}
