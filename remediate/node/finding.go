// Package remediate decides: it reads the node through hostcfg and systemd,
// turns what it finds into findings, and (later) plans and applies the fixes.
package node

import "github.com/unloop/unloop/remediate/finding"

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
	// StrategyResolvconf: the line removed from Debian's resolvconf's
	// head, base or tail, or dnsmasq kept from registering 127.0.0.1.
	StrategyResolvconf = "resolvconf"
	// StrategyNetplan: the address removed from netplan's YAML (or a
	// lease's servers turned off there), and the file it renders written again.
	StrategyNetplan = "netplan"
	// StrategyOpenresolv: the address removed from openresolv's
	// /etc/resolvconf.conf (name_servers and kin).
	StrategyOpenresolv = "openresolv"
)

// Report is what `check` found; document.Check is how it is printed.
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
	// NoFile: kubelet's resolvConf is "", so pods get no file (Path is
	// ""); Nameservers are what kubelet hands them instead.
	NoFile bool `json:"no_file,omitempty"`
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
		if f.Code == finding.CodeUnreadable || f.Code == finding.CodeNotANode {
			return true
		}
	}
	return false
}
