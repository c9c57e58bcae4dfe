package node

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/hostcfg/resolved"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/systemd"
)

// Resolved is systemd-resolved: its configuration, its live state (online)
// and its uplink file, which it writes from its upstreams.
type Resolved struct {
	Config *resolved.Config
	// Live is nil offline or when resolved is not running.
	Live *systemd.ResolvedState
	// Uplink is /run/systemd/resolve/resolv.conf, when present.
	Uplink *resolvconf.File
}

func newResolved() Source { return &Resolved{} }

func (*Resolved) Name() string { return "systemd-resolved" }

func (*Resolved) Paths() []string {
	return append(resolved.Paths(), resolvconf.ResolvedStubFile, resolvconf.ResolvedUplinkFile)
}

func (s *Resolved) Read(ctx context.Context, g *Gathering) {
	n, r := g.Node, g.Env.Root
	if n.Online {
		bctx, cancel := context.WithTimeout(ctx, busTimeout)
		st, err := g.Env.Bus.Resolved(bctx)
		cancel()
		switch {
		case err == nil:
			s.Live = st
			n.trace("systemd-resolved over D-Bus", "ResolvConfMode", st.ResolvConfMode, "DNSStubListener", st.DNSStubListener)
		case errors.Is(err, systemd.ErrNotRunning):
			n.Notes = append(n.Notes, "systemd-resolved is not running")
		default:
			n.Notes = append(n.Notes, fmt.Sprintf("reading systemd-resolved over D-Bus: %v", err))
		}
	}
	s.liveGenerator(n)
	s.Config = load(n, func() (*resolved.Config, error) { return resolved.Load(r) })
	s.Uplink = load(n, func() (*resolvconf.File, error) { return readResolv(r, resolvconf.ResolvedUplinkFile) })
}

// Wrote: the file is one of resolved's (by its link, header, or
// ResolvConfMode over D-Bus).
func (*Resolved) Wrote(rf *resolvconf.File) bool {
	switch rf.Generator {
	case resolvconf.GenResolvedStub, resolvconf.GenResolvedUplink, resolvconf.GenResolvedStatic:
		return true
	}
	return false
}

// report adds resolved's live state to the check's report.
func (s *Resolved) report(rep *Report) {
	if st := s.Live; st != nil {
		rep.Resolved = &ResolvedReport{ResolvConfMode: st.ResolvConfMode, DNSStubListener: st.DNSStubListener, DNS: []string{}}
		for _, sv := range st.DNS {
			rep.Resolved.DNS = append(rep.Resolved.DNS, sv.Addr.String())
		}
	}
}

// Put: a DNS= of resolved's config or one of its live servers, where pods
// get its file; or the stub file itself, or its other files as the writer.
func (s *Resolved) Put(_ *Node, rf *resolvconf.File, a netip.Addr, kind addrKind) (Origin, bool) {
	if isResolvedFile(rf) && kind != kindStub {
		if says, at, ok := s.setting(a); ok {
			return Origin{Says: "systemd-resolved lists it as an upstream: " + says, At: at, Fixes: []string{StrategyKubelet},
				Live: at == liveResolved(a)}, true
		}
	}
	switch {
	case rf.Generator == resolvconf.GenResolvedStub:
		return Origin{Says: "systemd-resolved wrote it: the file is its stub file", Fixes: []string{StrategyKubelet, StrategyStub}, Writer: true}, true
	case s.Wrote(rf):
		return writtenBy(rf), true
	}
	return Origin{}, false
}

// Candidates: its live servers, its uplink file, its configuration.
func (s *Resolved) Candidates(_ *Node, add func(netip.Addr, From)) {
	if st := s.Live; st != nil {
		if st.CurrentDNSServer != nil {
			add(st.CurrentDNSServer.Addr, From{Message: "systemd-resolved's current server (D-Bus)"})
		}
		for _, sv := range st.DNS {
			add(sv.Addr, From{Message: "systemd-resolved's servers (D-Bus)"})
		}
	}
	if rf := s.Uplink; rf != nil {
		for _, ns := range rf.Conf.Nameservers {
			add(ns.Addr, lineOf("", rf.Path, ns.Line))
		}
	}
	if s.Config != nil {
		for _, sv := range s.Config.DNS {
			add(sv.Addr, lineOf("DNS= in", sv.File, sv.Line))
		}
	}
}

// liveGenerator lets systemd-resolved say who wrote /etc/resolv.conf when it
// runs: its ResolvConfMode is what it thinks of the link. Content evidence
// (dhclient overwriting the stub's file, a Kubespray block) still wins: that
// content is what pods get.
func (s *Resolved) liveGenerator(n *Node) {
	st := s.Live
	if st == nil || n.Host == nil || n.Pod == nil || n.Pod.Target != n.Host.Target {
		return
	}
	gen := map[string]resolvconf.Generator{"stub": resolvconf.GenResolvedStub, "uplink": resolvconf.GenResolvedUplink, "static": resolvconf.GenResolvedStatic}[st.ResolvConfMode]
	switch n.Pod.Generator {
	case resolvconf.GenResolvedStub, resolvconf.GenResolvedUplink, resolvconf.GenResolvedStatic, resolvconf.GenUnknown, "":
		if gen != "" {
			n.Pod.Generator = gen
			n.Pod.Evidence = "systemd-resolved's ResolvConfMode is " + st.ResolvConfMode + " (D-Bus)"
		}
	default:
		n.Pod.Evidence += "; systemd-resolved's ResolvConfMode is " + st.ResolvConfMode
	}
}

// setting finds a looping address among resolved's configured or
// live upstreams, and the place of the setting.
func (s *Resolved) setting(a netip.Addr) (string, string, bool) {
	if s.Config != nil {
		for _, sv := range s.Config.DNS {
			if sv.Addr.WithZone("") == a {
				return fmt.Sprintf("DNS= in %s line %d", sv.File, sv.Line), finding.Place(sv.File, sv.Line), true
			}
		}
	}
	if s.Live != nil {
		for _, sv := range s.Live.DNS {
			if sv.Addr.WithZone("") == a {
				return "its live DNS servers (read over D-Bus)" + linkOf(sv.Ifindex), liveResolved(a), true
			}
		}
	}
	return "", "", false
}

// liveResolved is the place of an upstream resolved reports over D-Bus.
func liveResolved(a netip.Addr) string { return "systemd-resolved over D-Bus:" + a.String() }

func linkOf(ifindex int) string {
	if ifindex == 0 {
		return ""
	}
	return fmt.Sprintf(", on link %d", ifindex)
}

// Findings: each looping upstream of resolved's, where pods get its uplink
// file (the stub file's 127.0.0.53 is the pod file's own finding) and a DNS
// server reads it.
func (s *Resolved) Findings(n *Node, rds []Reader) []Finding {
	if len(rds) == 0 || !n.podFileIs(resolvconf.ResolvedUplinkFile) {
		return nil
	}
	var out []Finding
	seen := map[netip.Addr]bool{}
	// add is one looping upstream, told once whether a file or the bus named it.
	add := func(a netip.Addr, file string, line int, first string, part finding.Part) {
		if !n.Looping(a) || seen[a] {
			return
		}
		seen[a] = true
		kind, why := n.classify(a)
		chain := []string{first, why, "systemd-resolved writes its upstreams into " + resolvconf.ResolvedUplinkFile,
			n.kubeletStep(), "the DNS server in the pod forwards to itself"}
		fixes := []string{StrategyKubelet}
		// A live upstream another source's file set (networkd's DNS=) is
		// fixed where that file is, as the uplink file's line is.
		if file == "" && n.Pod != nil {
			if o, by := n.origin(n.Pod, a, kind); by != s.Name() && o.At != "" && !o.Live && !o.Writer {
				chain = slices.Insert(chain, 1, o.Says)
				fixes = o.Fixes
			}
		}
		f := finding.New(finding.CodeResolvedUpstreamLoop, file, line, a, chain, n.applicable(fixes)...)
		part.Role, part.Why = finding.RoleSource, why
		f.Part = part
		out = append(out, f)
	}
	if s.Config != nil {
		for _, sv := range s.Config.DNS {
			add(sv.Addr.WithZone(""), sv.File, sv.Line, fmt.Sprintf("%s line %d: DNS=%s", sv.File, sv.Line, sv.Text),
				finding.Part{Text: "DNS=" + sv.Text})
		}
	}
	if s.Live != nil {
		for _, sv := range s.Live.DNS {
			a := sv.Addr.WithZone("")
			add(a, "", 0, "systemd-resolved uses "+a.String()+" as an upstream (read over D-Bus"+linkOf(sv.Ifindex)+")",
				finding.Part{Text: "systemd-resolved's live upstream " + a.String() + " (D-Bus" + linkOf(sv.Ifindex) + ")",
					Links: []string{liveResolved(a)}})
		}
	}
	return out
}

// upstreamsFile: resolved keeps its upstreams in its uplink file. It runs
// when it answered on the bus; offline, when its uplink file exists.
func (s *Resolved) upstreamsFile(n *Node) (*resolvconf.File, bool) {
	if n.Online {
		return s.Uplink, s.Live != nil
	}
	return s.Uplink, s.Uplink != nil
}
