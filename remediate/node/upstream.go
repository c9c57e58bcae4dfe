package node

import (
	"fmt"
	"net/netip"

	"github.com/unloop/unloop/remediate/finding"
)

// Candidate is a possible clean upstream and where it was found.
// document.Upstream is how it is printed.
type Candidate struct {
	Addr  netip.Addr
	From  From
	Note  string // "answered", "not asked: offline"
	Error string // why it is not used
}

// From is where a candidate was found: a line of a file when it is one
// (File "" when not: D-Bus, --upstream), and in words (DESIGN.md §4's
// upstreams[]: file, line, message).
type From struct {
	File    string
	Line    int
	Message string
}

// lineOf is the From of a file's line: "WHAT FILE line N".
func lineOf(what, file string, line int) From {
	msg := fmt.Sprintf("%s line %d", file, line)
	if what != "" {
		msg = what + " " + msg
	}
	return From{File: file, Line: line, Message: msg}
}

// Candidates lists the clean upstreams the node knows of, best first:
// --upstream alone when given; else what each source offers, in the table's
// order (systemd-resolved's servers: live, then its uplink file, then its
// config; dhclient's leases; NetworkManager's leases and its configuration
// and keyfiles' dns=; the pod and host files without their looping
// addresses).
func (n *Node) Candidates(opts Options) []Candidate {
	var out []Candidate
	seen := map[netip.Addr]bool{}
	add := func(a netip.Addr, from From) {
		a = a.Unmap()
		if !a.IsValid() || a.Zone() != "" || seen[a] || n.Looping(a) || NotAnUpstream(a) != "" {
			return
		}
		if k, _ := n.classify(a); k == kindLocal {
			return
		}
		seen[a] = true
		out = append(out, Candidate{Addr: a, From: from})
	}
	if len(opts.Upstreams) > 0 {
		for _, a := range opts.Upstreams {
			add(a, From{Message: "--upstream"})
		}
		return out
	}
	for _, s := range n.sources {
		s.Candidates(n, add)
	}
	return out
}

func (n *Node) upstreamFindings(opts Options, found []Finding) []Finding {
	loops := false
	for _, f := range found {
		if f.Severity == finding.SevError && !f.Ignored && f.Code != finding.CodeUnreadable && f.Code != finding.CodeKubeletMisspelled && f.Code != finding.CodeKubeletMissing {
			loops = true
		}
	}
	if !loops || len(n.Candidates(opts)) > 0 {
		return nil
	}
	chain := []string{"every nameserver unloop found on this node loops back to the node",
		"none came from systemd-resolved, dhclient's leases or NetworkManager",
		"give the real upstreams with --upstream IP (or upstream: in the config file)"}
	return []Finding{finding.New(finding.CodeNoUpstream, "", 0, netip.Addr{}, chain)}
}

// NotAnUpstream says why a can never be a DNS server to forward to ("" when
// it can): the unspecified address is the local host, and multicast and
// broadcast addresses are no one server.
func NotAnUpstream(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsUnspecified():
		return "the unspecified address, which the kernel delivers to the local host, not an upstream"
	case a.IsMulticast():
		return "a multicast address, not an upstream"
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address, not an upstream"
	}
	return ""
}
