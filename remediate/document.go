package remediate

import (
	"github.com/unloop/unloop/remediate/document"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
)

// The documents of plan, apply and rollback (package document has the
// contract, and check's).

// NewPlanDocument is the document of pl; err is why planning failed after
// the check, if it did.
func NewPlanDocument(pl *Plan, err error) document.Plan {
	d := document.Plan{
		Check:      document.NewCheck(pl.Report),
		Strategies: node.OrEmpty(pl.Strategies),
		Changed:    pl.Changed,
		Changes:    []document.Change{},
		Upstreams:  []document.Upstream{},
		Unfixed:    document.Findings(pl.Unfixed),
	}
	for _, c := range pl.Changes {
		cd := document.Change{
			Kind: c.Kind, Path: c.Path, Unit: c.Unit, Action: c.Action, Strategy: c.Strategy, Message: c.Reason,
			Diff: c.Diff, Pods: c.Pods, Selector: c.Selector, Target: c.Target, Node: c.Node,
			ConfigMap: c.ConfigMap, Key: c.Key, Command: c.Command,
		}
		if c.Skipped != "" || c.SkipReason != "" {
			cd.Skipped = &document.Skip{Reason: c.SkipReason, Message: c.Skipped}
		}
		d.Changes = append(d.Changes, cd)
	}
	for _, u := range pl.Upstreams {
		d.Upstreams = append(d.Upstreams, document.Upstream{Address: u.Addr.String(), File: u.From.File, Line: u.From.Line, Message: u.From.Message, Note: u.Note, Error: u.Error})
	}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

// NewApplyDocument is the document of res; err is how apply failed, if it did.
func NewApplyDocument(res *Result, err error) document.Apply {
	d := document.Apply{Plan: NewPlanDocument(res.Plan, err), Run: res.Run, Verified: res.Verified, RolledBack: res.RolledBack,
		PodsRecreated: node.OrEmpty(res.Recreated), PodsStale: node.OrEmpty(res.StillStale), Left: []document.Finding{}}
	if err == nil {
		o, next := res.Outcome()
		d.Outcome, d.Next, d.Left = string(o), next, document.Findings(res.Plan.Left())
	}
	return d
}

// NewRollbackDocument is the document of a rollback.
func NewRollbackDocument(res *RollbackResult) document.Rollback {
	j := res.Run
	d := document.Rollback{Version: document.Version, Run: j.ID, State: string(j.State), PathsCount: len(j.Paths()),
		UnitsRestarted: node.OrEmpty(j.Units), Results: node.OrEmpty(res.Paths)}
	for _, p := range res.Paths {
		switch p.Result {
		case journal.PathRestored, journal.PathBlockRemoved:
			d.RestoredCount++
		case journal.PathRefused:
			d.RefusedCount++
		}
	}
	return d
}
