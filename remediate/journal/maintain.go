package journal

import (
	"bytes"
	"errors"
	"log/slog"
	"path"
	"slices"
	"time"

	"github.com/unloop/unloop/hostcfg"
)

// RemoveTemps removes the temp files a write killed midway left beside the
// run's paths and in its folder (hostcfg knows their names' shape). Beside a
// node path a name of that shape is removed only when the journal says the
// run, or its rollback, was writing what it holds (ownsTemp): an admin's file
// of the same shape stays, and is logged. A failure is logged, not returned:
// litter must not block a recovery.
func (j *Journal) RemoveTemps(r *hostcfg.Root, log *slog.Logger) {
	logKept(log, j.removeTemps(r, log))
}

// removeTemps is RemoveTemps that returns the files it kept instead of
// logging them: another run's journal may own them.
func (j *Journal) removeTemps(r *hostcfg.Root, log *slog.Logger) (kept []string) {
	var errs []error
	note := func(removed, k []string, err error) {
		for _, p := range removed {
			log.Info("removed a temp file a killed run or rollback left", "path", p, "run", j.ID)
		}
		kept = append(kept, k...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range j.Snapshots {
		note(r.RemoveWriteTemps(s.Path, func(t hostcfg.WriteTemp) bool { return j.ownsTemp(s, t) }))
	}
	// The run's folder is the journal's own (0700, named by the run): a
	// manifest's temp file in it can only be the journal's.
	note(r.RemoveWriteTemps(j.manifestPath(), func(hostcfg.WriteTemp) bool { return true }))
	if err := errors.Join(errs...); err != nil {
		log.Warn("could not remove every temp file a killed run or rollback left", "run", j.ID, "err", err)
	}
	return kept
}

// logKept says, once each, which files named like temp files stay.
func logKept(log *slog.Logger, kept []string) {
	slices.Sort(kept)
	for _, p := range slices.Compact(kept) {
		log.Info("kept a file named like a temp file of unloop's: it holds nothing a run of the journal wrote", "path", p)
	}
}

// tempSlack allows for filesystems whose timestamps lag the clock (a
// jiffy, or a second on some): a temp file written just after the run was
// journaled may show a ctime a little before Created.
const tempSlack = 2 * time.Second

// ownsTemp reports whether t, found beside the run's path orig.Path, is what
// a write of the run or of its rollback left when it was killed: the run's
// content (Left's hash) or link, the original's content or link (a rollback
// restoring it), or the start of one of those (a write killed midway, by
// pages; empty when killed before it wrote) made since the run began. The
// run's own content is only known by its hash, so a half-written one counts
// only when empty.
func (j *Journal) ownsTemp(orig *hostcfg.Snapshot, t hostcfg.WriteTemp) bool {
	h := t.Holds
	for _, l := range j.Left {
		if l.Path == orig.Path && l.Exists && (h.Link != "" && l.Link == h.Link || h.Link == "" && l.Link == "" && l.SHA256 == sha256Hex(h.Data)) {
			return true
		}
	}
	if h.Link != "" {
		return orig.Exists && orig.Link == h.Link
	}
	origFile := orig.Exists && orig.Link == ""
	if origFile && bytes.Equal(orig.Data, h.Data) {
		return true
	}
	partial := len(h.Data) == 0 || origFile && bytes.HasPrefix(orig.Data, h.Data)
	return partial && !j.Created.IsZero() && !t.Changed.Before(j.Created.Add(-tempSlack))
}

// CleanTemps removes the temp files every journaled run may have left: a
// rollback killed midway (of any run, by --run) leaves them beside its paths
// and its manifest, whatever state the run is in. A run killed while its
// first manifest was written has only the manifest's temp file in its
// folder, and no manifest to list it by: that file and the then empty folder
// go too.
func CleanTemps(r *hostcfg.Root, log *slog.Logger) {
	runs, err := List(r)
	if err != nil {
		log.Warn("could not list the runs to remove their temp files", "err", err)
		return
	}
	var kept []string
	for _, j := range runs {
		kept = append(kept, j.removeTemps(r, log)...)
	}
	removeUnjournaled(r, log)
	// What one run kept, another may have removed as its own.
	logKept(log, slices.DeleteFunc(kept, func(p string) bool {
		_, err := r.Lstat(p)
		return err != nil
	}))
}

// removeUnjournaled removes what a run killed before its manifest existed
// left: the manifest's temp file and the run's folder, when nothing else is
// in it (an empty manifest is Quarantine's).
func removeUnjournaled(r *hostcfg.Root, log *slog.Logger) {
	ents, err := r.ReadDir(Dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !e.IsDir() || checkRunID(e.Name()) != nil || hasManifest(r, e.Name()) {
			continue
		}
		j := &Journal{ID: e.Name(), Dir: path.Join(Dir, e.Name())}
		if _, err := r.Lstat(j.manifestPath()); err == nil {
			continue // an empty manifest: Quarantine's to rename aside
		}
		j.RemoveTemps(r, log)
		if err := r.RemoveDir(j.Dir); err == nil {
			log.Info("removed the folder of a run killed before its journal was written", "run", j.ID, "path", j.Dir)
		}
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
