package remediate

import (
	"fmt"
	"strings"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// Outcome is how far an apply that did not fail got (DESIGN.md §5); each
// has its exit code. When several hold, the later in this list wins.
type Outcome string

const (
	OutcomeDone Outcome = "done" // every loop fixed and in effect: exit 0
	// OutcomePodsStale: fixed, but DNS pods still hold the old file (exit 3).
	OutcomePodsStale Outcome = "pods-stale"
	// OutcomeNotInEffect: fixed in the files, but a restart was skipped
	// (offline, --no-restart), so what runs still reads the old ones (exit 4).
	OutcomeNotInEffect Outcome = "not-in-effect"
	// OutcomeLoopsLeft: the loops unloop owns are fixed; others, in DNS server
	// pods' inputs, are left to the user, each with its fix (exit 5).
	OutcomeLoopsLeft Outcome = "loops-left"
)

// Left are what the plan leaves to the user: the DNS server pods' loops that
// no strategy fixes (their ConfigMaps are the cluster's) and their inputs
// that can't be read. They never stop the node's own fix.
func (pl *Plan) Left() []node.Finding {
	var out []node.Finding
	for _, f := range pl.Report.Findings {
		if f.Ignored || f.Pod == "" || f.Code == finding.CodePodResolvStale {
			continue
		}
		if f.Code == finding.CodeDNSPodUnreadable || !isPlanned(pl, f) {
			out = append(out, f)
		}
	}
	return out
}

// isPlanned says whether f is not among the plan's unfixed findings.
func isPlanned(pl *Plan, f node.Finding) bool {
	for _, u := range pl.Unfixed {
		if u.Code == f.Code && u.File == f.File && u.Line == f.Line && u.Address == f.Address {
			return false
		}
	}
	return true
}

// blocking are the unfixed errors of the node's own inputs: apply refuses
// while there are any.
func (pl *Plan) blocking() []node.Finding {
	var out []node.Finding
	for _, f := range pl.Unfixed {
		if f.Pod == "" {
			out = append(out, f)
		}
	}
	return out
}

// Blocked says whether apply would refuse pl for an error no chosen
// strategy fixes.
func (pl *Plan) Blocked() bool { return len(pl.blocking()) > 0 }

// notInEffect are the restarts the run skipped while what runs still reads
// the old files: a unit that is not running reads the new file when it
// starts, and CoreDNS's reload plugin picks it up by itself. A ConfigMap
// updated is not in effect either: apply does not see CoreDNS load it.
func (r *Result) notInEffect() []Change {
	var out []Change
	if r.Run == "" {
		return nil
	}
	for _, c := range r.Plan.Changes {
		if c.Kind == KindUnit && c.Skipped != "" && c.SkipReason != SkipNotRunning && c.SkipReason != SkipNotNeeded || c.Kind == KindConfigMap && c.Skipped == "" && c.served == nil {
			out = append(out, c)
		}
	}
	return out
}

// Outcome is how far a run that did not fail got, and the next step, in
// words, for the user.
func (r *Result) Outcome() (Outcome, string) {
	if n := len(r.Plan.Left()); n > 0 {
		return OutcomeLoopsLeft, fmt.Sprintf("the node's own loops are fixed; %d %s in DNS server pods' inputs %s left for you, listed with %s fix (a pod's mounted copy is not edited: with credentials, --kubeconfig, unloop fixes a Corefile in its ConfigMap through the API)",
			n, plural(n, "problem"), plural(n, "is", "are"), plural(n, "its", "their"))
	}
	if cs := r.notInEffect(); len(cs) > 0 {
		var steps []string
		for _, c := range cs {
			if c.Kind == KindConfigMap {
				steps = append(steps, c.pending)
			} else if strings.HasSuffix(c.Unit, ".service") {
				steps = append(steps, "systemctl restart "+c.Unit)
			} else {
				steps = append(steps, "restart "+c.Unit)
			}
		}
		if cs[0].Kind == KindConfigMap {
			return OutcomeNotInEffect, strings.Join(steps, "; ")
		}
		return OutcomeNotInEffect, fmt.Sprintf("fixed in the files; not in effect until restarted (skipped: %s): %s", cs[0].Skipped, strings.Join(steps, "; "))
	}
	if n := len(r.StillStale); n > 0 && r.StaleSkipped != "" {
		var dels []string
		for _, pod := range r.StillStale {
			ns, name, _ := strings.Cut(pod, "/")
			dels = append(dels, "kubectl -n "+ns+" delete pod "+name)
		}
		return OutcomePodsStale, fmt.Sprintf("%d DNS %s still %s a looping copy of the pod file (not recreated: %s): delete %s so kubelet starts %s with the clean file: %s",
			n, plural(n, "pod"), plural(n, "holds", "hold"), r.StaleSkipped, plural(n, "it", "them"), plural(n, "it", "them"), strings.Join(dels, "; "))
	}
	if n := len(r.StillStale); n > 0 {
		return OutcomePodsStale, fmt.Sprintf("fixed; %d %s still %s the old file: %s", n, plural(n, "pod"), plural(n, "holds", "hold"), strings.Join(r.StillStale, ", "))
	}
	return OutcomeDone, ""
}

func plural(n int, s string, pl ...string) string {
	switch {
	case n == 1:
		return s
	case len(pl) > 0:
		return pl[0]
	}
	return s + "s"
}
