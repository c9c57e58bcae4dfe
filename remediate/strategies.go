package remediate

import (
	"context"
	"slices"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// Strategy is one way of fixing findings (DESIGN.md §1), each in its own
// file (strategy_NAME.go). Every list of strategies reads Strategies: auto's
// order, --strategy's values, help and completion, the man page, the codes'
// fixes and the README's table (held to it by a test).
type Strategy struct {
	Name string
	// Help is one line: what the strategy changes.
	Help string
	// Fixes are the finding codes it can fix, where the node allows it (a
	// finding lists the strategies that apply to it).
	Fixes []finding.Code
	// Applies says whether this node allows the strategy for a finding of
	// the pod file; nil: always.
	Applies func(n *node.Node) bool
	// When says what Applies asks, for the -v trace: "a kubelet is found".
	When string
	// readsFile: the strategy fixes a finding of the pod file by changing
	// what reads the file, so it is offered wherever it applies, beside the
	// fixes the finding's source names.
	readsFile bool
	// podsOnly: it changes only which file pods get, not the file: no fix
	// for a reader on the host.
	podsOnly bool
	plan     func(ctx context.Context, p *planner, fs []node.Finding) error
	// reloads says whether the strategy's unit reads path at reload, so a
	// rollback reloads it (reload) after restoring the file.
	reloads func(path string) bool
	unit    string
	// reload is given the paths of the run (the journal's at rollback):
	// NetworkManager reloads its configuration or its profiles by them.
	reload func(ctx context.Context, bus node.Bus, paths []string) error
}

// Strategies, in auto's default order of planning.
var Strategies = []Strategy{kubeletStrategy, stubStrategy, netplanStrategy, networkdStrategy, networkManagerStrategy, resolvconfStrategy, openresolvStrategy, dhclientStrategy, corefileStrategy}

// StrategyNames are the strategies' names in the table's order.
func StrategyNames() []string {
	var out []string
	for _, s := range Strategies {
		out = append(out, s.Name)
	}
	return out
}

// reloadedBy are the strategies whose unit reads one of paths at reload.
func reloadedBy(paths []string) []Strategy {
	var out []Strategy
	for _, s := range Strategies {
		if s.reloads != nil && slices.ContainsFunc(paths, s.reloads) {
			out = append(out, s)
		}
	}
	return out
}

// fixers are the strategies as the analysis asks them.
func fixers() []node.Fixer {
	var out []node.Fixer
	for _, s := range Strategies {
		out = append(out, node.Fixer{Name: s.Name, Applies: s.Applies, When: s.When, ReadsFile: s.readsFile, PodsOnly: s.podsOnly})
	}
	return out
}

// CodeInfo is a finding code's entry in the registry (remediate/node's
// Codes) with the strategies that can fix it, in the table's order.
type CodeInfo struct {
	finding.CodeInfo
	Fixes []string
}

// Codes is every finding code with its fixes: what the metrics, the man
// page, completion and the README's table say.
var Codes = codesWithFixes()

func codesWithFixes() []CodeInfo {
	var out []CodeInfo
	for _, c := range finding.Codes {
		ci := CodeInfo{CodeInfo: c}
		for _, s := range Strategies {
			if slices.Contains(s.Fixes, c.Code) {
				ci.Fixes = append(ci.Fixes, s.Name)
			}
		}
		out = append(out, ci)
	}
	return out
}
