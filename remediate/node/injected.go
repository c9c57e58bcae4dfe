package node

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
)

// injection is a server an input of a resolvconf (Debian's, openresolv)
// names, and what that resolvconf does with it.
type injection struct {
	Addr   netip.Addr
	File   string
	Line   int
	Says   string   // how it came into the file (the input's words)
	Writes string   // how the program writes it into the pod file
	Input  string   // which input, for the loop's part ("resolvconf's head")
	Fixes  []string // the strategies that fix it, least invasive first
}

// injectsFinding is the resolvconf-injects-nameserver finding of in, when
// the pod file names its server and that server loops.
func (n *Node) injectsFinding(in injection) (Finding, bool) {
	named := slices.ContainsFunc(n.Pod.Conf.Nameservers, func(ns resolvconf.Nameserver) bool { return ns.Addr == in.Addr })
	if !named || !n.Looping(in.Addr) {
		return Finding{}, false
	}
	_, why := n.classify(in.Addr)
	chain := []string{fmt.Sprintf("%s line %d: nameserver %s", in.File, in.Line, in.Addr), in.Says, why, in.Writes,
		n.kubeletStep(), "the DNS server in the pod forwards to itself"}
	f := finding.New(finding.CodeResolvconfInjects, in.File, in.Line, in.Addr, chain, n.applicable(in.Fixes)...)
	f.Part = finding.Part{Role: finding.RoleSource, Text: "nameserver " + in.Addr.String() + " (" + in.Input + ")", Why: why}
	return f, true
}
