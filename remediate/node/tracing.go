package node

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/trace"
)

// trace logs, at debug level (-v), a fact detection used: tailscale's
// dnsMode leaves the same trail.
func (n *Node) trace(msg string, args ...any) { n.tr.Fact(msg, args...) }

// tracePodFile says (-v) which file pods get, and each source's verdict on
// who wrote it and how that is known: the first that claims it is the
// writer.
func (n *Node) tracePodFile() {
	if !n.tr.On() {
		return
	}
	if n.Pod == nil {
		n.trace("pod file", "path", n.PodFile, "exists", n.PodExists)
		return
	}
	writer := "no source knows"
	for _, s := range n.sources {
		wrote := s.Wrote(n.Pod)
		n.trace("writer", "file", n.Pod.Path, "source", s.Name(), "wrote it", wrote)
		if wrote && writer == "no source knows" {
			writer = s.Name()
		}
	}
	n.trace("pod file", "path", n.Pod.Path, "link", n.Pod.Link, "written by", writer, "generator", n.Pod.Generator, "evidence", n.Pod.Evidence)
}

// traceNameserver says (-v) what the analysis made of one nameserver line
// of the pod file, and by which rule: a loop's finding, a warning, or none.
func (n *Node) traceNameserver(file string, ns resolvconf.Nameserver, kind addrKind, verdict, rule string) {
	if !n.tr.On() {
		return
	}
	n.trace("nameserver", "file", file, "line", ns.Line, "addr", ns.Addr, "kind", kindNames[kind], "finding", verdict, "rule", rule)
}

var kindNames = map[addrKind]string{kindClean: "clean", kindStub: "resolved-stub", kindLoopback: "loopback",
	kindNodeCache: "node-cache", kindLocal: "node-address", kindClusterDNS: "cluster-dns"}

// pastLimitRule is the rule that drops a looping address below kubelet's
// limit: the user sees why a loop is not called one.
func pastLimitRule(order int) string {
	return trace.Ordinal(order+1) + " nameserver, beyond kubelet's limit of " + strconv.Itoa(kubelet.MaxNameservers) + ": pods never get it (nameserver-limit), not a loop"
}

// traceOrigins says (-v) each source's verdict on a looping address in rf:
// whether it put it there, and what it says.
func (n *Node) traceOrigin(rf *resolvconf.File, a netip.Addr, s Source, o Origin, ok bool) {
	if !n.tr.On() {
		return
	}
	if !ok {
		n.trace("source", "addr", a, "file", rf.Path, "source", s.Name(), "put it there", false)
		return
	}
	n.trace("source", "addr", a, "file", rf.Path, "source", s.Name(), "put it there", true, "says", o.Says, "fixes", trace.List(o.Fixes))
}

// sourceFindings are a source's own findings, each source's verdict traced
// (-v): which codes it found, or that it found none.
func (n *Node) sourceFindings(s Source, rds []Reader) []Finding {
	fs := s.Findings(n, rds)
	if n.tr.On() {
		codes := make([]string, 0, len(fs))
		for _, f := range fs {
			codes = append(codes, string(f.Code)+" "+f.File)
		}
		n.trace("source findings", "source", s.Name(), "findings", trace.List(codes))
	}
	return fs
}

// traceReaders says (-v) which DNS servers read the pod file: the pod
// file's findings exist only while some do.
func (n *Node) traceReaders(rds []Reader) {
	if !n.tr.On() {
		return
	}
	if len(rds) == 0 {
		n.trace("readers", "file", n.PodFile, "readers", "none", "rule", "no DNS server reads the pod file: its looping addresses are no loop")
	}
	for _, rd := range rds {
		n.trace("readers", "file", n.PodFile, "server", rd.Server, "forward", rd.Forward, "in", rd.Corefile, "line", rd.Line, "assumed", rd.Assumed)
	}
}

// traceStrategies says (-v) which strategies this node allows, and why
// each other is ruled out.
func (n *Node) traceStrategies() {
	if !n.tr.On() {
		return
	}
	for _, f := range n.fixers {
		if why := n.refusal(f.Name); why != "" {
			n.trace("strategy allowed", "strategy", f.Name, "allowed", false, "why", why)
		} else {
			n.trace("strategy allowed", "strategy", f.Name, "allowed", true, "why", "nothing on this node rules it out; a finding offers it where its source or reader names it")
		}
	}
}

// traceSourceChosen says (-v) which source sourceOf settled on for a in
// rf, and by which rule.
func (n *Node) traceSourceChosen(rf *resolvconf.File, a netip.Addr, by string, o Origin) {
	switch {
	case !n.tr.On():
	case by != "":
		n.trace("source chosen", "addr", a, "file", rf.Path, "source", by, "says", o.Says, "rule", "a setting in a file beats what a running service says, which beats the file's writer")
	default:
		n.trace("source chosen", "addr", a, "file", rf.Path, "source", "none found", "rule", "no source claims it: the fixes that need no source")
	}
}

// traceFindings says (-v) each finding made, with its place, and whether an
// ignore rule took it out of the status and of every fix.
func (n *Node) traceFindings(fs []Finding, ignore []Ignore) {
	if !n.tr.On() {
		return
	}
	for _, f := range fs {
		rule := "none"
		for _, ig := range ignore {
			if f.Code == ig.Code && (ig.File == "" || ig.File == f.File) {
				rule = strings.TrimSpace("ignore: " + string(ig.Code) + " " + ig.File)
			}
		}
		n.trace("finding", "code", f.Code, "severity", f.Severity, "file", f.File, "line", f.Line, "addr", f.Address, "loop", f.Loop, "fixes", trace.List(f.Fixes), "ignored by", rule, "message", f.Message)
	}
}
