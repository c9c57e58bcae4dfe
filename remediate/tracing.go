package remediate

import (
	"fmt"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/trace"
)

// at is a finding's place for the trace: "FILE:LINE", or FILE.
func at(f finding.Finding) string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	return f.File
}

// asked names the strategies the user allowed, as the trace says them.
func asked(order []string) string {
	if len(order) == 0 {
		return "auto"
	}
	return trace.List(order)
}

// traceChoice says (-v) which strategy assign gave a finding and by which
// rule, or why it got none.
func traceChoice(tr trace.Log, f finding.Finding, loopFixes []string, order []string, chosen string) {
	if !tr.On() {
		return
	}
	args := []any{"finding", f.Code, "at", at(f), "fixes", trace.List(f.Fixes), "asked", asked(order)}
	var why string
	switch {
	case f.Ignored:
		chosen, why = "", "ignored (the ignore setting): never acted on"
	case f.Severity != finding.SevError:
		chosen, why = "", "a "+string(f.Severity)+": plan fixes errors only"
	case f.Code == finding.CodePodResolvStale:
		chosen, why = "", "a pod's stale copy: the pod is recreated once the node's file is clean"
	case chosen != "" && f.Loop > 0 && len(loopFixes) > 0 && chosen == chooseStrategy(finding.Finding{Fixes: loopFixes}, order):
		why = fmt.Sprintf("the first of loop %d's fixes (%s) allowed: one strategy fixes every part of the loop", f.Loop, trace.List(loopFixes))
	case chosen != "":
		why = "the first of its fixes allowed"
	case len(f.Fixes) == 0:
		why = "no strategy fixes it on this node: unfixed, apply refuses"
	default:
		why = "none of its fixes is among --strategy " + asked(order) + ": unfixed, apply refuses"
	}
	if chosen == "" {
		chosen = "none"
	}
	tr.Fact("strategy", append(args, "chosen", chosen, "why", why)...)
}

// tracePlanned says (-v) each change the plan holds, in its order: what,
// where, by which strategy, why, and why it is skipped.
func tracePlanned(tr trace.Log, pl *Plan) {
	if !tr.On() {
		return
	}
	tr.Fact("plan", "strategies", trace.List(pl.Strategies), "changes", len(pl.Changes), "unfixed", len(pl.Unfixed))
	for _, c := range pl.Changes {
		args := []any{"action", c.Action}
		switch c.Kind {
		case KindFile:
			args = append(args, "path", c.Path)
		case KindLink:
			args = append(args, "path", c.Path, "target", c.Target)
		case KindUnit:
			args = append(args, "unit", c.Unit)
		case KindPods:
			args = append(args, "pods", trace.List(c.Pods))
		}
		args = append(args, "strategy", c.Strategy, "reason", c.Reason)
		if c.Skipped != "" {
			args = append(args, "skipped", c.Skipped)
		}
		tr.Fact("planned", args...)
	}
}
