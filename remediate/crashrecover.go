package remediate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/cmapply"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
	"github.com/unloop/unloop/systemd"
)

// recoverCrashed rolls back a run that never finished (the process was
// killed mid-apply: power loss, OOM, SIGKILL), so the node holds all of a
// run's changes or none, never part of them. Planning then starts from the
// node as it is. The units the run restarted are restarted again, as
// rollback does: they run with the run's changes, which are gone.
//
// A path that changed since the run (a DHCP renew, an admin's edit) keeps its
// newer content: the run is marked conflict, recovery says so and goes on.
// At boot nobody is there to decide, and newer content is never destroyed.
func recoverCrashed(ctx context.Context, env node.Env, opts node.Options) error {
	j, err := journal.Last(env.Root)
	if errors.Is(err, journal.ErrNoRun) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading the last run: %w", err)
	}
	if j.State != journal.RunStarted {
		return nil
	}
	env.Logger().Warn("the last run did not finish: rolling it back first", "run", j.ID)
	cmapply.Restorer(ctx, env.ConfigMaps, j)
	results, err := j.Rollback(env.Root, false)
	if errors.Is(err, journal.ErrConflict) {
		for _, r := range results {
			if r.Result == journal.PathRefused {
				env.Logger().Warn("kept newer content: the path changed since the unfinished run; the run is marked conflict", "run", j.ID, "path", r.Path)
			}
		}
	} else if err != nil {
		return fmt.Errorf("rolling back the unfinished run %s: %w", j.ID, err)
	}
	if restoredAny(results) && !opts.Offline && !opts.NoRestart && env.Bus != nil && len(j.Units) > 0 {
		if err := reloadUnits(ctx, env, j.Paths()); err != nil {
			return fmt.Errorf("rolling back the unfinished run %s: files restored, but %w", j.ID, err)
		}
		if err := restartAll(ctx, env, j.Units); err != nil {
			return fmt.Errorf("rolling back the unfinished run %s: files restored, but %w", j.ID, err)
		}
		settleRecovered(ctx, env, j.Units)
	}
	crashpoint("recovered")
	return nil
}

func restoredAny(results []journal.PathResult) bool {
	return slices.ContainsFunc(results, func(r journal.PathResult) bool {
		return r.Result == journal.PathRestored || r.Result == journal.PathBlockRemoved
	})
}

// Waiting for the units recovery restarted: planning reads what they write.
const (
	recoverSettle = 10 * time.Second
	resolvedUnit  = "systemd-resolved.service"
)

// settleRecovered waits until the units recovery just restarted are back: a
// restart job is done before systemd-resolved is on the bus again and has
// written its files, and planning reads both. It waits at most recoverSettle
// and then lets planning see the node as it is.
func settleRecovered(ctx context.Context, env node.Env, units []string) {
	if !slices.Contains(units, resolvedUnit) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, recoverSettle)
	defer cancel()
	for {
		st, err := env.Bus.Resolved(ctx)
		if err == nil && env.Root.Exists(resolvconf.ResolvedUplinkFile) && resolvedFilesMatch(env.Root, st) {
			return
		}
		select {
		case <-ctx.Done():
			env.Logger().Warn("systemd-resolved is not back after the recovery's restart; planning anyway", "err", err)
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// resolvedFilesMatch: the stub file is what resolved's stub listener says it
// should be (a file when the stub listens, a link to the uplink file when not).
func resolvedFilesMatch(r *hostcfg.Root, st *systemd.ResolvedState) bool {
	link, err := r.Readlink(resolvconf.ResolvedStubFile)
	if err != nil {
		return false
	}
	if st.DNSStubListener == "no" {
		return link != ""
	}
	return link == ""
}
