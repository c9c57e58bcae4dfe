// Package finding is what a check finds: the finding codes and their
// registry, one finding with the chain of facts behind it, and the grouping of
// findings into the forwarding loops they are parts of. It is a leaf: the
// sources that make findings (remediate/node) and everything that prints or
// acts on them import it; it imports nothing of unloop's.
package finding

import (
	"fmt"
	"net/netip"
	"strings"
)

// Severity of a finding.
type Severity string

const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
)

// Code is a finding's stable code (see Codes): scripts depend on these strings.
type Code string

const (
	CodeResolvedStub          Code = "nameserver-resolved-stub"
	CodeLoopback              Code = "nameserver-loopback"
	CodeNodeLocalDNS          Code = "nameserver-node-local-dns"
	CodeClusterDNS            Code = "nameserver-cluster-dns"
	CodeNameserverInvalid     Code = "nameserver-invalid"
	CodeLocalAddress          Code = "nameserver-local-address"
	CodeCorefileForwardLoop   Code = "corefile-forward-loop"
	CodeKubeletMissing        Code = "kubelet-resolvconf-missing"
	CodeKubeletMisspelled     Code = "kubelet-resolvconf-misspelled"
	CodeDhclientInjects       Code = "dhclient-injects-nameserver"
	CodeResolvedUpstreamLoop  Code = "resolved-upstream-loop"
	CodeNetworkManagerInjects Code = "networkmanager-injects-nameserver"
	CodeNetworkdInjects       Code = "networkd-injects-nameserver"
	CodeResolvconfInjects     Code = "resolvconf-injects-nameserver"
	CodeNetplanInjects        Code = "netplan-injects-nameserver"
	CodeNoUpstream            Code = "no-upstream"
	CodeNameserverLimit       Code = "nameserver-limit"
	CodeZoneIndex             Code = "nameserver-zone-index"
	CodeSearchLimit           Code = "search-limit"
	CodeUnreadable            Code = "unreadable"
	CodeDNSPodUnreadable      Code = "dns-pod-unreadable"
	CodeNameserverNone        Code = "nameserver-none"
	CodePodResolvStale        Code = "pod-resolv-conf-stale"
	CodeNotANode              Code = "not-a-node"
)

// Finding is one problem, with the chain of facts that leads to it.
type Finding struct {
	Code     Code
	Severity Severity
	File     string
	Line     int
	Address  string
	Message  string
	Chain    []string
	Fixes    []string
	// Loop numbers the forwarding loop the finding is a part of (1, 2, ...
	// in the order of the report); 0 for a finding that is no part of a loop.
	Loop int
	// Ignored: the site lives with it (the ignore setting). It is shown, never
	// counted in the status, never acted on.
	Ignored bool
	// Readers are the DNS servers that read the pod file, for a finding of it.
	Readers []Reader
	// Pod names the DNS server pod ("namespace/name") whose input the
	// finding is in: its stale copy, its Corefile, its unreadable file. Such
	// a finding never stops the node's own fix (DESIGN.md §2b).
	Pod string

	// Part is what grouping the finding into its loop needs (loops.go),
	// set where the finding is made; not part of any document.
	Part Part `json:"-"`
}

// New makes a finding of code at file:line, its message the chain joined.
func New(code Code, file string, line int, addr netip.Addr, chain []string, fixes ...string) Finding {
	f := Finding{Code: code, Severity: code.Severity(), File: file, Line: line, Chain: chain, Fixes: fixes}
	if addr.IsValid() {
		f.Address = addr.String()
	}
	f.Message = strings.Join(chain, " → ")
	if f.Fixes == nil {
		f.Fixes = []string{}
	}
	return f
}

// Status is "error" if any finding is an error, else "warning" if any is a
// warning, else "ok". Ignored findings do not count.
func Status(fs []Finding) string {
	status := "ok"
	for _, f := range fs {
		if f.Ignored {
			continue
		}
		switch f.Severity {
		case SevError:
			return "error"
		case SevWarning:
			status = "warning"
		}
	}
	return status
}

// Ignore is a finding the site has decided to live with: every finding of
// Code, or with File only those in that file (a node path).
type Ignore struct {
	Code Code
	File string
}

// MarkIgnored sets Ignored on each finding an ignore rule matches.
func MarkIgnored(fs []Finding, ignore []Ignore) {
	for i := range fs {
		for _, ig := range ignore {
			if fs[i].Code == ig.Code && (ig.File == "" || ig.File == fs[i].File) {
				fs[i].Ignored = true
			}
		}
	}
}

// Reader is a DNS server that reads the pod file: a forward of its Corefile
// names the file. Assumed: the node holds no Corefile for it, and the
// default (`forward . /etc/resolv.conf`, as kubeadm, the node-local-dns addon
// and Kubespray ship it) is assumed.
type Reader struct {
	Server    string `json:"server"` // "CoreDNS" or "node-local-dns"
	Corefile  string `json:"corefile,omitempty"`
	Line      int    `json:"line,omitempty"`
	ConfigMap string `json:"configmap,omitempty"`
	Forward   string `json:"forward"`
	Assumed   bool   `json:"assumed,omitempty"`
	// More: the forward names an address too, so CoreDNS starts when the
	// file names none (plugin/pkg/parse HostPortOrFile, v1.14, skips an
	// empty file; forward exits only when no address is left at all).
	More bool `json:"-"`
}

func (rd Reader) String() string {
	if rd.Assumed {
		return fmt.Sprintf("%s, assumed to %s (no Corefile of it on this node)", rd.Server, rd.Forward)
	}
	return fmt.Sprintf("%s: %s line %d: %s", rd.Server, rd.Corefile, rd.Line, rd.Forward)
}
