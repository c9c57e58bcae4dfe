package remediate

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/systemd"
)

// removeTemps removes the temp files a write killed midway left beside the
// run's paths (hostcfg knows their shape). A failure is logged, not returned:
// litter must not block a recovery.
func removeTemps(env Env, j *Journal) {
	var errs []error
	for _, s := range j.Snapshots {
		removed, err := env.Root.RemoveWriteTemps(s.Path)
		for _, p := range removed {
			env.log().Info("removed a temp file of the unfinished run", "path", p, "run", j.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		env.log().Warn("could not remove every temp file of the unfinished run", "run", j.ID, "err", err)
	}
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
func settleRecovered(ctx context.Context, env Env, units []string) {
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
			env.log().Warn("systemd-resolved is not back after the recovery's restart; planning anyway", "err", err)
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
