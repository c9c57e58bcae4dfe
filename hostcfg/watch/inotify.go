// Package watch tells unloop watch when to check again: inotify (through
// fsnotify) on the files that decide pods' DNS (inotify.go), and a schedule
// that debounces changes and backs off from a file rewritten in a loop
// (schedule.go).
package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"golang.org/x/sys/unix"

	"github.com/unloop/unloop/hostcfg"
)

// changeOps are the events that mean a path changed: written (fsnotify's
// Write is IN_MODIFY, so a write in progress counts: the debounce waits for
// the writer), renamed into place (Create), created, removed or renamed away.
// A change of mode alone (Chmod) is not one, as systemd's PathChanged= sees it.
const changeOps = fsnotify.Create | fsnotify.Write | fsnotify.Remove | fsnotify.Rename

// Watcher watches node paths under a root folder through inotify on their
// folders, never on the files: an atomic rewrite (rename over the file, as
// dhclient-script and unloop itself do) would drop a watch on the file. A
// path that doesn't exist yet is watched through its nearest existing
// folder and picked up when it appears. Links are followed inside the root,
// as the readers follow them (an absolute target is taken relative to the
// root): a path through a link has the file it leads to watched
// (/etc/resolv.conf -> resolved's file, /var/lib/kubelet -> /data/kubelet),
// and each link's folder as well, so a link changed is seen. Only folders
// resolved inside the root are watched, never what the same names lead to
// on this machine. A path
// whose last name is a pattern (/etc/dhclient-*.conf, path.Match) stands
// for the names in its folder that match it. The caller says what to
// watch (unloop watch: the sources' paths and what its last check read)
// and may change it (SetPaths).
type Watcher struct {
	root string        // this machine's folder of the node's "/", cleaned
	tree *hostcfg.Root // the same, for lookups confined to it
	fsw  *fsnotify.Watcher

	armMu sync.Mutex // one arm at a time: Run's and SetPaths'
	paths []string   // behind armMu

	mu      sync.Mutex
	wanted  map[string]bool     // node paths reported, links' targets included
	special map[string]bool     // those that were links or folders when armed
	globs   map[string][]string // node folder -> the patterns wanted in it
	dirs    map[string]bool     // node folders to watch
	watched map[string]bool     // those fsnotify watches (Add succeeded)

	// What fsnotify's Errors said, taken by Run's next batch. They are
	// read as they come, not by Run: fsnotify may send one while it holds
	// the lock that Add and Remove (arm) take.
	errMu    sync.Mutex
	overflow bool          // the kernel dropped events
	stale    bool          // a watch the kernel had dropped already
	readErr  error         // reading events failed
	errs     chan struct{} // one of those is set (capacity 1)
}

// New starts watching paths (node paths) under root. Nothing is watched
// yet when it fails.
func New(root string, paths []string) (*Watcher, error) {
	tree, err := hostcfg.NewRoot(root)
	if err != nil {
		return nil, err
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("starting inotify: %w", err)
	}
	w := &Watcher{root: filepath.Clean(root), tree: tree, fsw: fsw, paths: cleanPaths(paths), errs: make(chan struct{}, 1)}
	go w.takeErrors()
	if _, err := w.arm(); err != nil {
		fsw.Close()
		return nil, err
	}
	return w, nil
}

// SetPaths watches paths instead of what it watched so far, and reports
// whether they differ. A change to a path it starts watching now is seen
// from now on: one made before (between a check's read and this call)
// waits for the next change or check.
func (w *Watcher) SetPaths(paths []string) (changed bool, err error) {
	paths = cleanPaths(paths)
	w.armMu.Lock()
	if slices.Equal(paths, w.paths) {
		w.armMu.Unlock()
		return false, nil
	}
	w.paths = paths
	w.armMu.Unlock()
	_, err = w.arm()
	return true, err
}

// cleanPaths are paths cleaned, sorted and without repeats.
func cleanPaths(paths []string) []string {
	out := make([]string, 0, len(paths))
	for _, p := range paths {
		out = append(out, path.Clean("/"+p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Watches is how many folders are watched.
func (w *Watcher) Watches() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.watched)
}

// Close stops watching; Run returns.
func (w *Watcher) Close() error { return w.fsw.Close() }

func (w *Watcher) host(p string) string { return path.Join(w.root, p) }

// nodePath is the node path of name, a path fsnotify reports (under root).
func (w *Watcher) nodePath(name string) (string, bool) {
	if w.root == "/" {
		return path.Clean(name), true
	}
	rel, ok := strings.CutPrefix(name, w.root)
	if !ok || rel != "" && rel[0] != '/' {
		return "", false
	}
	return path.Clean("/" + rel), true
}

// arm (re)computes the folders to watch from what exists now and adds a
// watch on each; watches of folders gone are dropped by the kernel (and
// fsnotify), those no longer wanted are removed, and adding one twice
// keeps the same watch. It returns the wanted paths that exist in folders
// newly watched: written between the folder's creation and its watch, they
// would go unseen.
func (w *Watcher) arm() ([]string, error) {
	w.armMu.Lock()
	defer w.armMu.Unlock()
	wanted := map[string]bool{}
	special := map[string]bool{}
	globs := map[string][]string{}
	for _, p := range w.paths {
		// A pattern's folder is followed like any path: the pattern
		// stands for names in the folder it leads to.
		dir, pat := p, ""
		if isPattern(path.Base(p)) {
			dir, pat = path.Dir(p), path.Base(p)
		}
		to, links := w.follow(dir)
		for _, l := range links {
			wanted[l], special[l] = true, true
		}
		if pat != "" {
			wanted[path.Join(to, pat)] = true
			globs[to] = append(globs[to], pat)
			continue
		}
		wanted[to] = true
	}
	dirs := map[string]bool{}
	for p := range wanted {
		// A folder in the list (resolved.conf.d) is watched itself: a
		// drop-in written there changes it.
		if w.isDir(p) {
			dirs[p] = true
			special[p] = true
		}
		d := path.Dir(p)
		for d != "/" && !w.isDir(d) {
			d = path.Dir(d)
		}
		dirs[d] = true
	}
	watched := map[string]bool{}
	for d := range dirs {
		ok, err := w.add(d)
		if err != nil {
			return nil, err
		}
		if ok {
			watched[d] = true
		}
	}
	w.mu.Lock()
	old, oldWatched := w.dirs, w.watched
	w.wanted, w.special, w.globs, w.dirs, w.watched = wanted, special, globs, dirs, watched
	w.mu.Unlock()
	for d := range oldWatched {
		if !watched[d] {
			// A folder no longer wanted (the list changed): its events
			// would be dropped anyway, but the watch counts against the
			// user's limit. One gone already fails: fine.
			w.fsw.Remove(w.host(d))
		}
	}
	var appeared []string
	for p := range wanted {
		d := path.Dir(p)
		if old != nil && (!old[d] && dirs[d] || !old[p] && dirs[p]) {
			if _, err := w.tree.Lstat(p); err == nil {
				appeared = append(appeared, p)
			}
		}
	}
	slices.Sort(appeared)
	return appeared, nil
}

// maxLinks is how many links a lookup follows, as the kernel's (40).
const maxLinks = 40

// follow resolves the node path p inside the root, name by name, as a
// chroot would and as hostcfg's readers do: a link's absolute target is
// taken from the root, never from this machine's "/". It returns where p
// leads (which may not exist yet) and every link on the way, so that a
// link changed is seen as well as its target.
func (w *Watcher) follow(p string) (to string, links []string) {
	done := "/"
	rest := strings.Split(p, "/")
	for n := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			done = path.Dir(done)
			continue
		}
		q := path.Join(done, name)
		t, err := w.tree.Readlink(q)
		if err != nil || t == "" || n >= maxLinks {
			done = q // not a link, or not there (nor anything below it)
			continue
		}
		n++
		links = append(links, q)
		if path.IsAbs(t) {
			done = "/"
		}
		rest = append(strings.Split(t, "/"), rest...)
	}
	return done, links
}

// isDir: the node path p, its links followed inside the root, is a folder.
func (w *Watcher) isDir(p string) bool {
	fi, err := w.tree.Stat(p)
	return err == nil && fi.IsDir()
}

// add watches the node folder d, which follow resolved: no link on its way
// inside the root. inotify takes a name and follows links in it on this
// machine, so a link swapped in since would lead elsewhere: the folder
// watched is checked to be the one inside the root, and a watch that landed
// anywhere else is removed at once. A folder gone (or swapped) since is not
// watched (false): its parent's event re-arms.
func (w *Watcher) add(d string) (bool, error) {
	inside, err := w.tree.Stat(d)
	if err != nil {
		return false, nil
	}
	if err := w.fsw.Add(w.host(d)); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return false, nil
		}
		return false, fmt.Errorf("watching %s: %w", d, err)
	}
	if got, err := os.Stat(w.host(d)); err != nil || !os.SameFile(got, inside) {
		w.fsw.Remove(w.host(d))
		return false, nil
	}
	return true, nil
}

// takeErrors records what fsnotify's Errors say until it closes.
func (w *Watcher) takeErrors() {
	for err := range w.fsw.Errors {
		_, bare := err.(unix.Errno) // not a read's error: those are wrapped
		w.errMu.Lock()
		switch {
		case errors.Is(err, fsnotify.ErrEventOverflow):
			w.overflow = true
		case bare:
			// Removing the watch of a folder moved away, which the
			// kernel had dropped already: watch anew.
			w.stale = true
		case w.readErr == nil:
			w.readErr = err
		}
		w.errMu.Unlock()
		select {
		case w.errs <- struct{}{}:
		default:
		}
	}
}

// Overflow is the path Run reports when the kernel dropped events: anything
// may have changed.
const Overflow = "*"

// Run reads events until ctx ends or the watcher is closed, and calls
// changed with the node paths that changed, once per batch of events (a
// file rewritten a thousand times a second costs a call per batch, not per
// write). It returns nil when stopped, or why it stopped watching.
func (w *Watcher) Run(ctx context.Context, changed func(paths []string)) error {
	stop := context.AfterFunc(ctx, func() { w.fsw.Close() })
	defer stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	wait := func(d time.Duration) {
		timer.Reset(d)
		select {
		case <-ctx.Done(): // Events closes next, and Run returns
		case <-timer.C:
		}
	}
	var evs []fsnotify.Event
	for {
		evs = evs[:0]
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return nil
			}
			evs = append(evs, ev)
		case <-w.errs:
		}
		start := time.Now()
		// Let the writer finish: its truncate and each of its writes are a
		// Write (IN_MODIFY, where systemd waits for IN_CLOSE_WRITE), and
		// meanwhile fsnotify's reader waits to hand over its next event, so
		// the kernel queues the rest and merges repeats. One rewrite is then
		// one batch. Then take what fsnotify holds and the kernel queued.
		wait(settleFor)
		timer.Reset(gatherFor)
	batch:
		for {
			select {
			case ev, ok := <-w.fsw.Events:
				if !ok {
					return nil
				}
				evs = append(evs, ev)
			case <-w.errs:
			case <-timer.C:
				break batch
			}
		}
		paths, err := w.changes(evs)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, fsnotify.ErrClosed) {
				return nil // stopped meanwhile
			}
			return err
		}
		if len(paths) > 0 {
			changed(paths)
		}
		// At most readsPerSecond batches: meanwhile fsnotify's reader
		// waits to hand over its next event, so a file rewritten a
		// thousand times a second queues its events in the kernel (which
		// merges repeats, and an overflow reports Overflow) instead of
		// keeping a core busy.
		wait(time.Until(start.Add(time.Second / readsPerSecond)))
	}
}

// changes are the node paths a batch of events, and what fsnotify's
// Errors said meanwhile, changed; with the wanted paths in folders newly
// watched when it re-armed.
func (w *Watcher) changes(evs []fsnotify.Event) ([]string, error) {
	w.errMu.Lock()
	overflow, stale, err := w.overflow, w.stale, w.readErr
	w.overflow, w.stale = false, false
	w.errMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("reading inotify events: %w", err)
	}
	paths, rearm := w.parse(evs)
	if overflow {
		paths = append([]string{Overflow}, paths...)
	}
	if !rearm && !overflow && !stale {
		return paths, nil
	}
	appeared, err := w.arm()
	if err != nil {
		return nil, err
	}
	for _, p := range appeared {
		if !slices.Contains(paths, p) {
			paths = append(paths, p)
		}
	}
	return paths, nil
}

const (
	readsPerSecond = 20
	settleFor      = 20 * time.Millisecond
	// gatherFor takes a batch: thousands of events at a hand-over each (a
	// microsecond or two), while fsnotify's prompt reads during it stay a
	// small share of the time between batches.
	gatherFor = time.Millisecond
)

// parse turns a batch of events into the wanted node paths they touch, and
// says whether the folders to watch may have changed.
func (w *Watcher) parse(evs []fsnotify.Event) (paths []string, rearm bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	plain := map[string]bool{} // wanted paths found plain files (or gone) in this batch
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, ev := range evs {
		if !ev.Has(changeOps) {
			continue
		}
		// A name in a watched folder, or a watched folder itself (removed
		// or moved away: its parent, if watched, says the same).
		p, ok := w.nodePath(ev.Name)
		if !ok {
			continue
		}
		dir, name := path.Dir(p), path.Base(p)
		switch {
		case w.wanted[p]:
			add(p)
		case w.wanted[dir]:
			add(dir) // a drop-in in a watched folder
		default:
			for _, pat := range w.globs[dir] {
				if ok, _ := path.Match(pat, name); ok {
					add(path.Join(dir, pat)) // by its pattern: one name per input
					break
				}
			}
		}
		// A folder made or removed on the way to a wanted path, a watched
		// folder gone, or a wanted path that is or was a link or a folder:
		// watch anew. A plain file renamed over a plain file (a rewrite
		// loop's every turn) changes no folder to watch.
		if !rearm && ev.Has(fsnotify.Create|fsnotify.Remove|fsnotify.Rename) {
			switch {
			case w.leadsTo(p):
				rearm = true
			case w.wanted[p] && !plain[p]:
				rearm = w.special[p] || w.linkOrDir(p)
				plain[p] = !rearm
			}
		}
	}
	return paths, rearm
}

// linkOrDir: the node path p is a link or a folder now.
func (w *Watcher) linkOrDir(p string) bool {
	fi, err := w.tree.Lstat(p)
	return err == nil && fi.Mode()&(os.ModeSymlink|os.ModeDir) != 0
}

// isPattern: name has path.Match's special characters.
func isPattern(name string) bool { return strings.ContainsAny(name, `*?[\`) }

// leadsTo: p is a folder on the way to a wanted path.
func (w *Watcher) leadsTo(p string) bool {
	for q := range w.wanted {
		if len(q) > len(p) && q[:len(p)] == p && q[len(p)] == '/' {
			return true
		}
	}
	return false
}
