// Package remediate decides: it reads the node through hostcfg and systemd,
// turns what it finds into findings, and (later) plans and applies the fixes.
package node

import (
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

// Strategy names (DESIGN.md §1): the words findings name their fixes in.
// Each strategy is planned by its entry in remediate's table.
const (
	StrategyKubelet  = "kubelet"
	StrategyStub     = "stub"
	StrategyDhclient = "dhclient"
	StrategyCorefile = "corefile"
	StrategyNetworkd = "networkd"
	// StrategyNetworkManager: the server removed where NetworkManager
	// reads it (its conf.d file, the connection's profile).
	StrategyNetworkManager = "networkmanager"
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

	part loopPart
}

func newFinding(code Code, file string, line int, addr netip.Addr, chain []string, fixes ...string) Finding {
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

func markIgnored(fs []Finding, ignore []Ignore) {
	for i := range fs {
		for _, ig := range ignore {
			if fs[i].Code == ig.Code && (ig.File == "" || ig.File == fs[i].File) {
				fs[i].Ignored = true
			}
		}
	}
}

// Report is what `check` found; CheckDocument is how it is printed.
type Report struct {
	Status     string
	Online     bool
	ResolvConf ResolvReport
	Kubelet    KubeletReport
	// Resolved is systemd-resolved's live state, when it was read (online).
	Resolved *ResolvedReport
	Findings []Finding
	// Loops are the findings grouped by the loop they are parts of.
	Loops []Loop
	// Notes are what unloop could not look at and why (offline, no bus):
	// said, never silently skipped.
	Notes []string
	// Inputs are the node paths the check read or listed, links' targets
	// included (hostcfg.Root.Inputs): unloop watch watches them. Not part
	// of the document.
	Inputs []string `json:"-"`
}

// ResolvReport describes the pod file.
type ResolvReport struct {
	Path        string   `json:"path"`
	Link        string   `json:"link"`
	Generator   string   `json:"generator"`
	Evidence    string   `json:"evidence"`
	Nameservers []string `json:"nameservers"`
}

// ResolvedReport is what systemd-resolved says of itself over D-Bus.
type ResolvedReport struct {
	ResolvConfMode  string   `json:"resolv_conf_mode"`
	DNSStubListener string   `json:"dns_stub_listener"`
	DNS             []string `json:"dns"`
}

// KubeletReport says which file kubelet hands to pods, and why.
type KubeletReport struct {
	Present    bool   `json:"present"`
	Config     string `json:"config"`
	ResolvConf string `json:"resolv_conf"`
	Source     string `json:"source"`
	// The additions below say which program runs kubelet and where its
	// setting was found.
	Distro    string   `json:"distro,omitempty"`    // kubelet, k3s, rke2, microk8s, k8s-snap, k0s
	Unit      string   `json:"unit,omitempty"`      // the unit restarted after a fix
	NodeName  string   `json:"node_name,omitempty"` // --hostname-override, k3s node-name
	Why       string   `json:"why,omitempty"`       // the distribution's rule, in words
	ConfigDir string   `json:"config_dir,omitempty"`
	DropIns   []string `json:"drop_ins,omitempty"`
	Files     []string `json:"files,omitempty"` // k3s config.yaml(.d), a snap's args file, k0s.yaml
	PID       int      `json:"pid,omitempty"`   // the running kubelet's process, found online (hostcfg/kubelet.FindProcess)
}

// HasUnreadable reports whether an input could not be read or parsed, or
// the root is no node (not-a-node); the command then exits 1 ("could not
// decide"), because its other answers may be incomplete.
func (r *Report) HasUnreadable() bool {
	for _, f := range r.Findings {
		if f.Code == CodeUnreadable || f.Code == CodeNotANode {
			return true
		}
	}
	return false
}
