package hostcfg

import (
	"errors"
	"path"
	"regexp"
	"syscall"
	"time"
)

// WriteTemp is an entry beside a path whose name has the shape of the temp
// file of a write of that path ("." + name + digits): what it holds, and
// when it was last changed (its ctime: a temp file of a run is never older
// than the run).
type WriteTemp struct {
	Path    string
	Holds   *Snapshot
	Changed time.Time
}

// RemoveWriteTemps removes what a WriteFile or Symlink of p killed between
// its temp file and its rename leaves beside p: the temp file (maybe half
// written), a temp link, and, from older unloops (renameio), a temp folder
// holding tmp.symlink. A name of that shape is only a candidate: it is
// removed when ours says it holds what the killed write was writing, and
// only while it still holds that. Anything else (an admin's
// ".resolv.conf2024") stays. It returns the node paths it removed and those
// it kept.
func (r *Root) RemoveWriteTemps(p string, ours func(WriteTemp) bool) (removed, kept []string, err error) {
	dir, base := path.Split(clean(p))
	ents, err := r.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	temp := regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `[0-9]+$`)
	var errs []error
	for _, e := range ents {
		if !temp.MatchString(e.Name()) {
			continue
		}
		tp := path.Join(dir, e.Name())
		entry := tp
		if e.IsDir() {
			// renameio.Symlink's folder: the link, then the folder.
			entry = path.Join(tp, "tmp.symlink")
		}
		t, ok := r.writeTemp(entry)
		if !ok || !ours(t) {
			kept = append(kept, tp)
			continue
		}
		if err := r.remove(entry, t.Holds); err != nil {
			errs = append(errs, err)
			continue
		}
		if e.IsDir() {
			if err := r.RemoveDir(tp); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		removed = append(removed, tp)
	}
	return removed, kept, errors.Join(errs...)
}

// writeTemp describes the entry p, a file or a link; not ok for anything
// else or what can't be read.
func (r *Root) writeTemp(p string) (WriteTemp, bool) {
	s, err := r.Snapshot(p)
	if err != nil || !s.Exists {
		return WriteTemp{}, false
	}
	fi, err := r.Lstat(p)
	if err != nil {
		return WriteTemp{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return WriteTemp{}, false
	}
	return WriteTemp{Path: p, Holds: s, Changed: time.Unix(st.Ctim.Unix())}, true
}
