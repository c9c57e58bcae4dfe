// Package watch tells unloop watch when to check again: inotify on the files
// that decide pods' DNS (inotify.go), and a schedule that debounces changes
// and backs off from a file rewritten in a loop (schedule.go).
package watch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The events that mean a path changed: as systemd's PathChanged= (closed
// after a write, or renamed into place), plus a path created, removed or
// renamed away, which changes what a reader finds there too.
const changeMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_MOVED_FROM |
	unix.IN_CREATE | unix.IN_DELETE | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// Watcher watches node paths under a root folder through inotify on their
// folders, never on the files: an atomic rewrite (rename over the file, as
// dhclient-script and unloop itself do) would drop a watch on the file. A
// path that doesn't exist yet is watched through its nearest existing
// folder and picked up when it appears; a path that is a link has the file
// it names watched as well (/etc/resolv.conf -> resolved's file). A path
// whose last name is a pattern (/etc/dhclient-*.conf, path.Match) stands
// for the names in its folder that match it. The caller says what to
// watch (unloop watch: the sources' paths and what its last check read)
// and may change it (SetPaths).
type Watcher struct {
	root string // this machine's folder of the node's "/"
	f    *os.File
	fd   int // f's descriptor: f.Fd() would make f blocking

	armMu sync.Mutex // one arm at a time: Run's and SetPaths'
	paths []string   // behind armMu

	mu     sync.Mutex
	byWD   map[int32]string    // watch descriptor -> node folder
	wanted map[string]bool     // node paths reported, links' targets included
	globs  map[string][]string // node folder -> the patterns wanted in it
	dirs   map[string]bool     // node folders watched
}

// New starts watching paths (node paths) under root. Nothing is watched
// yet when it fails.
func New(root string, paths []string) (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("starting inotify: %w", err)
	}
	// Non-blocking and through os.File: reads wait in Go's poller, and
	// Close ends a read in progress.
	w := &Watcher{root: root, paths: cleanPaths(paths), f: os.NewFile(uintptr(fd), "inotify"), fd: fd}
	if _, err := w.arm(); err != nil {
		w.f.Close()
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
	return len(w.byWD)
}

// Close stops watching; Run returns.
func (w *Watcher) Close() error { return w.f.Close() }

func (w *Watcher) host(p string) string { return path.Join(w.root, p) }

// arm (re)computes the folders to watch from what exists now and adds a
// watch on each; watches of folders gone are dropped by the kernel
// (IN_IGNORED), those no longer wanted are removed, and adding one twice
// returns the same descriptor. It
// returns the wanted paths that exist in folders newly watched: written
// between the folder's creation and its watch, they would go unseen.
func (w *Watcher) arm() ([]string, error) {
	w.armMu.Lock()
	defer w.armMu.Unlock()
	wanted := map[string]bool{}
	globs := map[string][]string{}
	for _, p := range w.paths {
		wanted[p] = true
		if isPattern(path.Base(p)) {
			globs[path.Dir(p)] = append(globs[path.Dir(p)], path.Base(p))
			continue
		}
		if t, err := os.Readlink(w.host(p)); err == nil {
			if !path.IsAbs(t) {
				t = path.Join(path.Dir(p), t)
			}
			wanted[path.Clean(t)] = true
		}
	}
	dirs := map[string]bool{}
	for p := range wanted {
		// A folder in the list (resolved.conf.d) is watched itself: a
		// drop-in written there changes it.
		if fi, err := os.Stat(w.host(p)); err == nil && fi.IsDir() {
			dirs[p] = true
		}
		d := path.Dir(p)
		for d != "/" {
			if fi, err := os.Stat(w.host(d)); err == nil && fi.IsDir() {
				break
			}
			d = path.Dir(d)
		}
		dirs[d] = true
	}
	byWD := map[int32]string{}
	for d := range dirs {
		wd, err := unix.InotifyAddWatch(w.fd, w.host(d), changeMask)
		if err != nil {
			if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
				continue // gone since the Stat: its parent's event re-arms
			}
			return nil, fmt.Errorf("watching %s: %w", d, err)
		}
		byWD[int32(wd)] = d
	}
	w.mu.Lock()
	old, oldWD := w.dirs, w.byWD
	w.byWD, w.wanted, w.globs, w.dirs = byWD, wanted, globs, dirs
	w.mu.Unlock()
	for wd := range oldWD {
		if _, ok := byWD[wd]; !ok {
			// A folder no longer wanted (the list changed): its events
			// would be dropped anyway, but the watch counts against the
			// user's limit. One gone already fails with EINVAL: fine.
			unix.InotifyRmWatch(w.fd, uint32(wd))
		}
	}
	var appeared []string
	for p := range wanted {
		d := path.Dir(p)
		if old != nil && (!old[d] && dirs[d] || !old[p] && dirs[p]) {
			if _, err := os.Lstat(w.host(p)); err == nil {
				appeared = append(appeared, p)
			}
		}
	}
	slices.Sort(appeared)
	return appeared, nil
}

// Overflow is the path Run reports when the kernel dropped events: anything
// may have changed.
const Overflow = "*"

// Run reads events until ctx ends or the watcher is closed, and calls
// changed with the node paths that changed, once per batch of events read
// (a file rewritten a thousand times a second costs a call per read, not
// per write). It returns nil when stopped, or why it stopped watching.
func (w *Watcher) Run(ctx context.Context, changed func(paths []string)) error {
	stop := context.AfterFunc(ctx, func() { w.f.Close() })
	defer stop()
	buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading inotify events: %w", err)
		}
		paths, rearm := w.parse(buf[:n])
		if rearm {
			appeared, err := w.arm()
			if err != nil {
				return err
			}
			for _, p := range appeared {
				if !slices.Contains(paths, p) {
					paths = append(paths, p)
				}
			}
		}
		if len(paths) > 0 {
			changed(paths)
		}
		// At most readsPerSecond wake-ups: a file rewritten a thousand
		// times a second queues its events (the kernel merges repeats, and
		// an overflow reports Overflow) instead of keeping a core busy.
		select {
		case <-ctx.Done():
		case <-time.After(time.Second / readsPerSecond):
		}
	}
}

const readsPerSecond = 20

// parse turns a batch of events into the wanted node paths they touch, and
// says whether the folders to watch may have changed.
func (w *Watcher) parse(b []byte) (paths []string, rearm bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for len(b) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(b) {
			break
		}
		name := string(b[unix.SizeofInotifyEvent:end])
		for len(name) > 0 && name[len(name)-1] == 0 {
			name = name[:len(name)-1]
		}
		b = b[end:]
		if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
			add(Overflow)
			rearm = true
			continue
		}
		dir, ok := w.byWD[ev.Wd]
		if !ok {
			continue
		}
		if ev.Mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0 {
			// The folder itself went: what it held is gone too.
			rearm = true
			if w.wanted[dir] {
				add(dir)
			}
			continue
		}
		p := path.Join(dir, name)
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
		// A folder made or removed on the way to a wanted path, or a
		// wanted path that is now a link or a folder: watch anew.
		if ev.Mask&(unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_TO|unix.IN_MOVED_FROM) != 0 && (w.wanted[p] || w.leadsTo(p)) {
			rearm = true
		}
	}
	return paths, rearm
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
