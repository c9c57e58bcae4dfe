package document

import (
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
)

// The JSON documents unloop prints: a contract of their own, built from the
// internals, so that a change inside unloop never changes them by accident.
// A version's fields keep their names and meaning; a new field is an
// addition, and a removal or a new meaning is a new version (DESIGN.md §4
// has version 2's table of what changed from 1). Every list is [] when
// empty, never null; a count is named *_count; prose is in a message field
// beside the structured ones.

// Version is the "version" of every document.
const Version = 2

// Check is `unloop check --output json`.
type Check struct {
	Version    int                `json:"version"`
	Status     string             `json:"status"`
	Online     bool               `json:"online"`
	ResolvConf node.ResolvReport  `json:"resolv_conf"`
	Kubelet    node.KubeletReport `json:"kubelet"`
	// Resolved is systemd-resolved's live state, when it was read (online).
	Resolved *node.ResolvedReport `json:"resolved,omitempty"`
	Findings []Finding            `json:"findings"`
	Notes    []string             `json:"notes"`
	// Loops are the findings grouped by loop (addition).
	Loops []Loop `json:"loops"`
}

// Finding is one finding.
type Finding struct {
	Code     finding.Code     `json:"code"`
	Severity finding.Severity `json:"severity"`
	File     string           `json:"file"`
	Line     int              `json:"line"`
	Address  string           `json:"address"`
	Message  string           `json:"message"`
	Chain    []string         `json:"chain"`
	Fixes    []string         `json:"fixes"`
	// Loop is the "loop" of the entry of loops this finding is a part of
	// (1, 2, ...); 0 when it is no part of a loop (addition).
	Loop int `json:"loop"`
	// Ignored: the ignore setting names it; it is not counted (addition).
	Ignored bool `json:"ignored,omitempty"`
	// Readers are the DNS servers that read the pod file (addition).
	Readers []node.Reader `json:"readers,omitempty"`
	// Pod is the pod to recreate, for pod-resolv-conf-stale (addition).
	Pod string `json:"pod,omitempty"`
}

// Loop is one loop, told once: what writes the looping address,
// the lines it produced, what reads them, and the strategies that fix
// every finding of it (empty when no one strategy does).
type Loop struct {
	Loop      int      `json:"loop"`
	Addresses []string `json:"addresses"`
	Why       []string `json:"why"`
	// Source, Lines and ReadBy: what writes the address, the lines it
	// produced, what reads them (version 1's "FILE:LINE  text" strings).
	Source []Entry  `json:"source"`
	Lines  []Entry  `json:"lines"`
	ReadBy []Entry  `json:"read_by"`
	Fixes  []string `json:"fixes"`
	// FindingsCount is how many findings are parts of the loop (version
	// 1's "findings", a count beside the top level's list).
	FindingsCount int  `json:"findings_count"`
	Ignored       bool `json:"ignored,omitempty"`
}

// Entry is a part of a loop: a line of a file and what it says
// there (Text), or, when it is no line of a file (kubelet handing pods a
// file, systemd-resolved over D-Bus, a generator), Message alone with File
// "" and Line 0.
type Entry struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Text    string `json:"text"`
	Message string `json:"message"`
}

func Entries(es []finding.Entry) []Entry {
	out := []Entry{}
	for _, e := range es {
		out = append(out, Entry{File: e.File, Line: e.Line, Text: e.Text, Message: e.Message})
	}
	return out
}

// Plan is `unloop plan --output json`: the check, then the plan.
type Plan struct {
	Check
	Strategies []string   `json:"strategies"`
	Changed    bool       `json:"changed"`
	Changes    []Change   `json:"changes"`
	Upstreams  []Upstream `json:"upstreams"`
	Unfixed    []Finding  `json:"unfixed"`
	// Error is why planning failed after the check, if it did.
	Error string `json:"error,omitempty"`
}

// Change is one change of a plan. Message says why it is made
// (version 1's "reason"); Skipped, when it will not be carried out, says
// why as a code and in words.
type Change struct {
	Kind     string   `json:"kind"`
	Path     string   `json:"path,omitempty"`
	Unit     string   `json:"unit,omitempty"`
	Action   string   `json:"action"`
	Strategy string   `json:"strategy"`
	Message  string   `json:"message"`
	Diff     string   `json:"diff,omitempty"`
	Skipped  *Skip    `json:"skipped,omitempty"`
	Pods     []string `json:"pods,omitempty"`
	// Selector is the label selector of the pods to recreate when none was
	// seen: Pods holds seen pods only (addition).
	Selector string `json:"selector,omitempty"`
	Target   string `json:"target,omitempty"`
	// Node is the node's name as kubelet registers it, for a pods change
	// (addition); "" when it is the host's name.
	Node string `json:"node,omitempty"`
	// ConfigMap ("namespace/name"), Key and Command are a configmap
	// change's (addition): the ConfigMap, its data key, and the kubectl
	// command that makes the change.
	ConfigMap string `json:"configmap,omitempty"`
	Key       string `json:"key,omitempty"`
	Command   string `json:"command,omitempty"`
}

// Skip is why a change is skipped: Reason one of remediate's Skip*
// words (offline, no_restart, left_to_user, ...), Message in words.
type Skip struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// Upstream is an upstream the plan found, and whether it is used.
// File and Line are where it was found ("" and 0 when it is no line of a
// file: D-Bus, --upstream), Message says so in words (version 1's "from").
type Upstream struct {
	Address string `json:"address"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
	Note    string `json:"note,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Apply is `unloop apply --output json`: the plan, then the run.
type Apply struct {
	Plan
	Run        string `json:"run"`
	Verified   bool   `json:"verified"`
	RolledBack bool   `json:"rolled_back"`
	// PodsRecreated are the pods apply recreated through the container
	// runtime; PodsStale those not back within 60 s, or left because the
	// runtime failed, which still hold the old file: apply exits 3
	// (additions).
	PodsRecreated []string `json:"pods_recreated"`
	PodsStale     []string `json:"pods_stale"`
	// Outcome is how far a run that did not fail got, with its exit code:
	// done 0, pods-stale 3, not-in-effect 4, loops-left 5; "" when apply
	// failed or refused. Next is the step left to the user, Left what the
	// run left to the user, each with its fix (additions).
	Outcome string    `json:"outcome"`
	Next    string    `json:"next,omitempty"`
	Left    []Finding `json:"left"`
}

// Rollback is `unloop rollback --output json`.
type Rollback struct {
	Version int    `json:"version"`
	Run     string `json:"run"`
	State   string `json:"state"`
	// PathsCount is how many paths the run journaled (runs lists them).
	PathsCount     int      `json:"paths_count"`
	UnitsRestarted []string `json:"units_restarted"`
	// RestoredCount and RefusedCount count the paths put back and those
	// kept for their newer content (state conflict); Results says each
	// path's.
	RestoredCount int                  `json:"restored_count"`
	RefusedCount  int                  `json:"refused_count"`
	Results       []journal.PathResult `json:"results"`
}

// NewCheck is the document of rep.
func NewCheck(rep *node.Report) Check {
	d := Check{
		Version:    Version,
		Status:     rep.Status,
		Online:     rep.Online,
		ResolvConf: rep.ResolvConf,
		Kubelet:    rep.Kubelet,
		Resolved:   rep.Resolved,
		Findings:   Findings(rep.Findings),
		Notes:      node.OrEmpty(rep.Notes),
		Loops:      []Loop{},
	}
	d.ResolvConf.Nameservers = node.OrEmpty(d.ResolvConf.Nameservers)
	if d.Resolved != nil {
		r := *d.Resolved
		r.DNS = node.OrEmpty(r.DNS)
		d.Resolved = &r
	}
	for _, l := range rep.Loops {
		d.Loops = append(d.Loops, Loop{
			Loop: l.ID, Addresses: node.OrEmpty(l.Addresses), Why: node.OrEmpty(l.Why), Source: Entries(l.Source),
			Lines: Entries(l.Lines), ReadBy: Entries(l.ReadBy), Fixes: node.OrEmpty(l.Fixes), FindingsCount: l.Findings, Ignored: l.Ignored,
		})
	}
	return d
}

func Findings(fs []node.Finding) []Finding {
	out := []Finding{}
	for _, f := range fs {
		out = append(out, Finding{
			Code: f.Code, Severity: f.Severity, File: f.File, Line: f.Line, Address: f.Address, Message: f.Message,
			Chain: node.OrEmpty(f.Chain), Fixes: node.OrEmpty(f.Fixes), Loop: f.Loop, Ignored: f.Ignored,
			Readers: f.Readers, Pod: f.Pod,
		})
	}
	return out
}
