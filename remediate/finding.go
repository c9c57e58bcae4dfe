// Package remediate decides: it reads the node through hostcfg and systemd,
// turns what it finds into findings, and (later) plans and applies the fixes.
package remediate

import (
	"net/netip"
	"strings"
)

// Severity of a finding.
type Severity string

const (
	SevError   Severity = "error"
	SevWarning Severity = "warning"
	SevInfo    Severity = "info"
)

// Code is a finding's stable code (DESIGN §3): scripts depend on these strings.
type Code string

const (
	CodeResolvedStub          Code = "nameserver-resolved-stub"
	CodeLoopback              Code = "nameserver-loopback"
	CodeNodeLocalDNS          Code = "nameserver-node-local-dns"
	CodeLocalAddress          Code = "nameserver-local-address"
	CodeCorefileForwardLoop   Code = "corefile-forward-loop"
	CodeKubeletMissing        Code = "kubelet-resolvconf-missing"
	CodeKubeletMisspelled     Code = "kubelet-resolvconf-misspelled"
	CodeDhclientInjects       Code = "dhclient-injects-nameserver"
	CodeResolvedUpstreamLoop  Code = "resolved-upstream-loop"
	CodeNetworkManagerInjects Code = "networkmanager-injects-nameserver"
	CodeNoUpstream            Code = "no-upstream"
	CodeNameserverLimit       Code = "nameserver-limit"
	CodeZoneIndex             Code = "nameserver-zone-index"
	CodeSearchLimit           Code = "search-limit"
	CodeUnreadable            Code = "unreadable"
)

// Strategy names (DESIGN §1).
const (
	StrategyKubelet  = "kubelet"
	StrategyStub     = "stub"
	StrategyDhclient = "dhclient"
	StrategyCorefile = "corefile"
)

// AllStrategies is auto's default order of preference.
var AllStrategies = []string{StrategyKubelet, StrategyStub, StrategyDhclient, StrategyCorefile}

// Finding is one problem, with the chain of facts that leads to it.
type Finding struct {
	Code     Code     `json:"code"`
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Address  string   `json:"address"`
	Message  string   `json:"message"`
	Chain    []string `json:"chain"`
	Fixes    []string `json:"fixes"`
}

func newFinding(code Code, sev Severity, file string, line int, addr netip.Addr, chain []string, fixes ...string) Finding {
	f := Finding{Code: code, Severity: sev, File: file, Line: line, Chain: chain, Fixes: fixes}
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
// warning, else "ok".
func Status(fs []Finding) string {
	status := "ok"
	for _, f := range fs {
		switch f.Severity {
		case SevError:
			return "error"
		case SevWarning:
			status = "warning"
		}
	}
	return status
}

// Report is what `check` says, in the JSON of DESIGN §4.
type Report struct {
	Version    int           `json:"version"`
	Status     string        `json:"status"`
	Online     bool          `json:"online"`
	ResolvConf ResolvReport  `json:"resolv_conf"`
	Kubelet    KubeletReport `json:"kubelet"`
	// Resolved is systemd-resolved's live state, when it was read (online).
	Resolved *ResolvedReport `json:"resolved,omitempty"`
	Findings []Finding       `json:"findings"`
	// Notes are what unloop could not look at and why (offline, no bus):
	// said, never silently skipped.
	Notes []string `json:"notes"`
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
}

// HasUnreadable reports whether an input could not be read or parsed; the
// command then exits 1, because its other answers may be incomplete.
func (r *Report) HasUnreadable() bool {
	for _, f := range r.Findings {
		if f.Code == CodeUnreadable {
			return true
		}
	}
	return false
}
