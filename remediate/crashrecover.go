package remediate

import (
	"context"
	"errors"
	"path"
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
	for _, p := range append(runPaths(j), j.manifestPath()) {
		removed, err := env.Root.RemoveWriteTemps(p)
		for _, p := range removed {
			env.Logger().Info("removed a temp file a killed run or rollback left", "path", p, "run", j.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		env.Logger().Warn("could not remove every temp file a killed run or rollback left", "run", j.ID, "err", err)
	}
}

func runPaths(j *Journal) []string {
	var ps []string
	for _, s := range j.Snapshots {
		ps = append(ps, s.Path)
	}
	return ps
}

// cleanTemps removes the temp files every journaled run may have left: a
// rollback killed midway (of any run, by --run) leaves them beside its paths
// and its manifest, whatever state the run is in.
func cleanTemps(env Env) {
	runs, err := Journals(env.Root)
	if err != nil {
		env.Logger().Warn("could not list the runs to remove their temp files", "err", err)
		return
	}
	for _, j := range runs {
		removeTemps(env, j)
	}
}

// quarantineEmpty renames aside every empty manifest (a disk that lost the
// write at a power cut): it can't be read, and left in place it would stop
// every apply and rollback, at boot with nobody there. Its run's originals
// are lost; the node is planned from as it is.
func quarantineEmpty(env Env) {
	ents, err := env.Root.ReadDir(JournalDir)
	if err != nil {
		return // the journal's own errors are said where it is read
	}
	for _, e := range ents {
		if !e.IsDir() || checkRunID(e.Name()) != nil {
			continue
		}
		p := path.Join(JournalDir, e.Name(), journalManifest)
		fi, err := env.Root.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			continue
		}
		aside := journalManifest + ".empty-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if err := env.Root.Rename(p, aside); err != nil {
			env.Logger().Error("the manifest of a run is empty and could not be renamed aside", "run", e.Name(), "path", p, "err", err)
			continue
		}
		env.Logger().Warn("the manifest of a run was empty (0 bytes): renamed aside, the run can't be rolled back", "run", e.Name(), "path", path.Join(JournalDir, e.Name(), aside))
	}
}

// prune removes the oldest runs beyond keep (0: DefaultKeepRuns), after a
// successful apply. A failure is logged: old runs must not fail an apply.
func prune(env Env, keep int) {
	if keep <= 0 {
		keep = DefaultKeepRuns
	}
	runs, err := Journals(env.Root)
	if err != nil {
		env.Logger().Warn("could not list the runs to prune them", "err", err)
		return
	}
	if len(runs) <= keep {
		return
	}
	for _, j := range runs[keep:] {
		if err := removeRun(env.Root, j); err != nil {
			env.Logger().Warn("could not remove an old run", "run", j.ID, "err", err)
			continue
		}
		env.Logger().Debug("removed an old run", "run", j.ID, "keep-runs", keep)
	}
}

// removeRun removes a run's folder: its manifest first (without it the run
// is gone whatever is left), then anything else in it (temp files, a
// quarantined manifest), then the folder.
func removeRun(r *hostcfg.Root, j *Journal) error {
	if err := r.Remove(j.manifestPath()); err != nil {
		return err
	}
	ents, err := r.ReadDir(j.Dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.IsDir() {
			continue // not the journal's: RemoveDir below says so
		}
		if err := r.Remove(path.Join(j.Dir, e.Name())); err != nil {
			return err
		}
	}
	return r.RemoveDir(j.Dir)
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
