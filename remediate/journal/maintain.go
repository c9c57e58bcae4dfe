package journal

import (
	"errors"
	"log/slog"
	"path"
	"time"

	"github.com/unloop/unloop/hostcfg"
)

// RemoveTemps removes the temp files a write killed midway left beside the
// run's paths and its manifest (hostcfg knows their shape). A failure is
// logged, not returned: litter must not block a recovery.
func (j *Journal) RemoveTemps(r *hostcfg.Root, log *slog.Logger) {
	var errs []error
	for _, p := range append(j.Paths(), j.manifestPath()) {
		removed, err := r.RemoveWriteTemps(p)
		for _, p := range removed {
			log.Info("removed a temp file a killed run or rollback left", "path", p, "run", j.ID)
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("could not remove every temp file a killed run or rollback left", "run", j.ID, "err", err)
	}
}

// CleanTemps removes the temp files every journaled run may have left: a
// rollback killed midway (of any run, by --run) leaves them beside its paths
// and its manifest, whatever state the run is in.
func CleanTemps(r *hostcfg.Root, log *slog.Logger) {
	runs, err := List(r)
	if err != nil {
		log.Warn("could not list the runs to remove their temp files", "err", err)
		return
	}
	for _, j := range runs {
		j.RemoveTemps(r, log)
	}
}

// Quarantine renames aside every empty manifest (a disk that lost the write
// at a power cut): it can't be read, and left in place it would stop every
// apply and rollback, at boot with nobody there. Its run's originals are
// lost; the node is planned from as it is.
func Quarantine(r *hostcfg.Root, log *slog.Logger) {
	ents, err := r.ReadDir(Dir)
	if err != nil {
		return // the journal's own errors are said where it is read
	}
	for _, e := range ents {
		if !e.IsDir() || checkRunID(e.Name()) != nil {
			continue
		}
		p := path.Join(Dir, e.Name(), journalManifest)
		fi, err := r.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() != 0 {
			continue
		}
		aside := journalManifest + ".empty-" + time.Now().UTC().Format("20060102T150405.000000000Z")
		if err := r.Rename(p, aside); err != nil {
			log.Error("the manifest of a run is empty and could not be renamed aside", "run", e.Name(), "path", p, "err", err)
			continue
		}
		log.Warn("the manifest of a run was empty (0 bytes): renamed aside, the run can't be rolled back", "run", e.Name(), "path", path.Join(Dir, e.Name(), aside))
	}
}

// Prune removes the oldest runs beyond keep (at least 1), after a successful
// apply. A failure is logged: old runs must not fail an apply.
func Prune(r *hostcfg.Root, log *slog.Logger, keep int) {
	keep = max(keep, 1)
	runs, err := List(r)
	if err != nil {
		log.Warn("could not list the runs to prune them", "err", err)
		return
	}
	if len(runs) <= keep {
		return
	}
	for _, j := range runs[keep:] {
		if err := removeRun(r, j); err != nil {
			log.Warn("could not remove an old run", "run", j.ID, "err", err)
			continue
		}
		log.Debug("removed an old run", "run", j.ID, "keep-runs", keep)
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
