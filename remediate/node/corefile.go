package node

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/finding"
)

// ListensOn reports whether a server block of a Corefile answers at addr:port:
// on its bind addresses, else on every address of the node.
func (n *Node) ListensOn(sb corefile.ServerBlock, ap netip.AddrPort) (string, bool) {
	port, err := strconv.Atoi(sb.Port)
	if err != nil || uint16(port) != ap.Port() {
		return "", false
	}
	a := ap.Addr().Unmap()
	if len(sb.Binds) == 0 {
		if a.IsLoopback() || a.IsUnspecified() {
			return fmt.Sprintf("the server block at line %d has no bind, so it listens on every address of the node, %s among them", sb.Line, a), true
		}
		if _, ok := n.NodeCache[a]; ok {
			return fmt.Sprintf("the server block at line %d has no bind, so it listens on every address of the node, %s among them", sb.Line, a), true
		}
		if _, ok := n.Local[a]; ok {
			return fmt.Sprintf("the server block at line %d has no bind, so it listens on every address of the node, %s among them", sb.Line, a), true
		}
		return "", false
	}
	for _, b := range sb.Binds {
		if ba, err := netip.ParseAddr(b.Text); err == nil && ba.WithZone("") == a {
			return fmt.Sprintf("the server block at line %d listens there (bind %s, line %d)", sb.Line, b.Text, b.Line), true
		}
	}
	return "", false
}

func (n *Node) corefileFindings() []Finding {
	var out []Finding
	for _, cf := range n.Corefiles {
		for _, sb := range cf.Servers {
			for _, fw := range sb.Forwards {
				for _, t := range fw.To {
					ap, path, ok := corefile.ForwardTarget(t.Text)
					if !ok {
						continue
					}
					head := fmt.Sprintf("%s line %d: forward %s %s", cf.Named(), fw.Line, fw.From, t.Text)
					if path == "" {
						if why, loops := n.ListensOn(sb, ap); loops {
							chain := []string{head, why, "CoreDNS forwards to itself: plugin/loop exits, or without it the server spins"}
							if a := ap.Addr(); a.IsUnspecified() {
								chain = slices.Insert(chain, 1, fmt.Sprintf("%s is the unspecified address, which the kernel delivers to the local host", a))
							}
							fixes := []string{StrategyCorefile}
							if cf.Source != nil && !cf.Source.API {
								fixes = nil
								chain = append(chain, cf.HandFix(fw.Line, fmt.Sprintf("forward %s %s", fw.From, t.Text),
									fmt.Sprintf("forward %s ADDRESS", fw.From)+" (an address it does not bind; the node-local-dns addon uses __PILLAR__CLUSTER__DNS__, the kube-dns-upstream service)"))
							}
							f := finding.New(finding.CodeCorefileForwardLoop, cf.Path, fw.Line, ap.Addr(), chain, fixes...)
							if cf.Source != nil {
								f.Pod = cf.Source.PodName
							}
							f.Part = finding.Part{Role: finding.RoleSource, Text: fmt.Sprintf("forward %s %s", fw.From, t.Text), Why: why}
							out = append(out, f)
						}
						continue
					}
					if cf.Source != nil {
						continue // a pod's /etc/resolv.conf is the pod file: its readers are told there
					}
					rf := n.ResolvFileAt(path)
					if rf == nil {
						continue
					}
					for _, ns := range rf.Conf.Nameservers {
						why, loops := n.ListensOn(sb, netip.AddrPortFrom(ns.Addr.WithZone(""), 53))
						if !loops {
							continue
						}
						chain := []string{head, fmt.Sprintf("%s line %d names %s", path, ns.Line, ns.Addr), why,
							"CoreDNS forwards to itself: plugin/loop exits, or without it the server spins"}
						fixes := []string{StrategyCorefile}
						if n.isHostFile(rf) {
							// Cleaning the file at its source fixes this too.
							kind, _ := n.classify(ns.Addr)
							o, _ := n.origin(rf, ns.Addr, kind)
							fixes = append(fixes, n.fixesAtSource(o)...)
						}
						f := finding.New(finding.CodeCorefileForwardLoop, cf.Path, fw.Line, ns.Addr.WithZone(""), chain, fixes...)
						f.Part = finding.Part{Role: finding.RoleReader, Text: fmt.Sprintf("forward %s %s", fw.From, t.Text), Why: why,
							Produced: finding.At(rf.Path, ns.Line, "nameserver "+ns.Text), Links: []string{finding.Place(rf.Path, ns.Line)}}
						out = append(out, f)
					}
				}
			}
		}
	}
	return out
}

// ResolvFileAt returns the parsed file a Corefile forwards to, if unloop read it.
func (n *Node) ResolvFileAt(p string) *resolvconf.File {
	for _, rf := range []*resolvconf.File{n.Host, n.Pod} {
		if rf != nil && (rf.Path == p || rf.Target == p) {
			return rf
		}
	}
	if rf, ok := n.Forwarded[p]; ok {
		return rf
	}
	return nil
}
