// Package hostcfg reads and writes the node's files. Every path it takes is the
// node's path (/etc/resolv.conf); Root joins it to the root directory and resolves
// links as a chroot would, so nothing outside the root is ever opened. The
// parsers of those files are leaf packages below this one (resolvconf,
// kubelet, dhclient, ...), which read through a Root.
package hostcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"golang.org/x/sys/unix"
)

// MaxFileSize bounds every file of the node unloop reads: configuration files
// are small, and a huge one (or /dev/zero behind a link) must be an error, not
// an OOM at boot. It also bounds apply's memory (64 MB at most, DESIGN.md §5).
const MaxFileSize = 1 << 20

// MaxParsedSize bounds the files unloop parses into a tree or a token list
// (KubeletConfiguration, Corefile, dhclient.conf and its leases): real ones
// are a few KB, and such a parse costs about 40 times a file's size in
// memory, which must stay within the 64 MB that apply may take on any input
// it accepts (issue 11; the DaemonSet's limit is 64 MiB).
const MaxParsedSize = 256 << 10

// Root is the filesystem tree unloop reads and edits. Every open, create,
// rename, unlink and mkdir goes through descriptors resolved inside it
// (openat2 RESOLVE_IN_ROOT, through filepath-securejoin's pathrs-lite), never
// through a path string resolved earlier: a link swapped in between could
// otherwise lead outside.
type Root struct {
	dir   string   // the root's directory on this machine, as given (absolute)
	kname string   // the kernel's name of the root handle (/proc/self/fd): what the names of handles under it start with
	fd    *os.File // an O_PATH handle of dir, opened once: every lookup starts here
	// own: dir is this process's own / (the boot unit's --root /). No
	// lookup can leave it, so a plain openat2 resolves exactly as the
	// confined one would, without pathrs-lite's procfs round trips (issue 27).
	own   bool
	reads *readLog // nil: reads are not remembered
	hook  func(step, p string)
}

// readLog holds the bytes a Recording root read first from each file, by the
// node's path after links, and every path it read or listed.
type readLog struct {
	mu     sync.Mutex
	first  map[string][]byte
	names  map[string]string   // the path asked for → where its first read led
	inputs map[string]bool     // Inputs
	found  map[[2]string]Found // Founds, by op and the path asked for
}

// Found is what one read (ReadFile) or listing (ReadDir, Glob) of a node
// path found, for the -v trace: whether something was there, its size in
// bytes (a file) or entries (a folder), and the error that made it
// unreadable.
type Found struct {
	Op     string // "read" or "list"
	Path   string // the node path asked for; a Glob's folder
	Led    string // where its links led, when that is another path
	Exists bool
	Size   int
	Err    error // nil, or why what exists could not be read
}

// Recording returns a Root on the same tree that remembers what it read first
// of each file, so a plan can tell whether a file changed between the read it
// was reasoned from and the read it edits (positions from the first applied
// to other bytes would corrupt the file), and which paths it read (Inputs).
func (r *Root) Recording() *Root {
	return &Root{dir: r.dir, kname: r.kname, fd: r.fd, own: r.own, hook: r.hook,
		reads: &readLog{first: map[string][]byte{}, names: map[string]string{}, inputs: map[string]bool{}, found: map[[2]string]Found{}}}
}

// Records reports whether this Root remembers its reads (Recording).
func (r *Root) Records() bool { return r.reads != nil }

// Inputs are the node paths this Root was asked to read (ReadFile) or list
// (ReadDir; Glob as FOLDER/PATTERN, /etc/dhclient-*.conf), whether they
// existed or not, with each link's target on the way to them and where
// they led after links: every path whose change could change what was
// read. Sorted; nil when the Root does not record. A Stat, Lstat, Readlink
// or Resolve alone is no input: it names, and a folder stat'ed
// (/run/systemd/system) would make every entry in it one.
func (r *Root) Inputs() []string {
	if r.reads == nil {
		return nil
	}
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	out := make([]string, 0, len(r.reads.inputs))
	for p := range r.reads.inputs {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Founds are what each path this Root read or listed found (the first
// time), sorted by path and then reads before listings: the same node gives
// the same list. Nil when the Root does not record.
func (r *Root) Founds() []Found {
	if r.reads == nil {
		return nil
	}
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	out := slices.Collect(maps.Values(r.reads.found))
	slices.SortFunc(out, func(a, b Found) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(b.Op, a.Op) // "read" before "list"
	})
	return out
}

// noteFound records what a read or listing of p (clean) found, once per
// path: the first is the one the check reasoned from.
func (r *Root) noteFound(op, p, led string, size int, err error) {
	if r.reads == nil {
		return
	}
	f := Found{Op: op, Path: p, Exists: !errors.Is(err, fs.ErrNotExist), Size: size}
	if led != f.Path {
		f.Led = led
	}
	if f.Exists {
		f.Err = err
	}
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	if _, ok := r.reads.found[[2]string{op, f.Path}]; !ok {
		r.reads.found[[2]string{op, f.Path}] = f
	}
}

// noteInput records p as an input, and the links it goes through by its
// last name (a link's target may be a link again); h, when not nil, is what
// the lookup found, recorded by its name after every link. With a pattern,
// p is a folder and each of those names is recorded with the pattern below.
func (r *Root) noteInput(p string, h *os.File, pattern string) {
	if r.reads == nil {
		return
	}
	p = clean(p)
	paths := []string{p}
	if h != nil {
		if np, err := r.nodePathOf(h); err == nil {
			paths = append(paths, np)
		}
	}
	for range 40 { // as many links as the kernel follows
		t, err := r.Readlink(p)
		if err != nil || t == "" {
			break
		}
		if !path.IsAbs(t) {
			dir, err := r.Resolve(path.Dir(p))
			if err != nil {
				break
			}
			t = path.Join(dir, t)
		}
		p = clean(t)
		paths = append(paths, p)
	}
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	for _, q := range paths {
		if pattern != "" {
			q = path.Join(q, pattern)
		}
		r.reads.inputs[q] = true
	}
}

// WithTestHook returns a Root on the same tree that calls hook at the steps
// where another writer could race unloop: "open" before a file is opened for
// reading, "rename" after a replacement is complete and before the last check
// and the rename, "exchange" after that check, immediately before a checked
// write's exchange (swapIn), and "put back" before an exchange that hands a
// changed file back is undone. Only tests use it, to reach those windows
// every time.
func (r *Root) WithTestHook(hook func(step, p string)) *Root {
	c := *r
	c.hook = hook
	return &c
}

func (r *Root) callHook(step, p string) {
	if r.hook != nil {
		r.hook(step, p)
	}
}

// FirstRead returns the bytes of the node path p (links resolved) the first
// time this Root read it; false when it has not read p or does not record.
func (r *Root) FirstRead(p string) ([]byte, bool) {
	if r.reads == nil {
		return nil, false
	}
	real, err := r.Resolve(p)
	if err != nil {
		return nil, false
	}
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	data, ok := r.reads.first[real]
	return data, ok
}

// FirstResolved returns where the node path p led (links resolved) the first
// time this Root read it; false when it has not read p or does not record. A
// path that leads elsewhere now had a link swapped in.
func (r *Root) FirstResolved(p string) (string, bool) {
	if r.reads == nil {
		return "", false
	}
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	np, ok := r.reads.names[clean(p)]
	return np, ok
}

func (r *Root) remember(p, np string, data []byte) {
	if r.reads == nil {
		return
	}
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	if _, ok := r.reads.first[np]; !ok {
		r.reads.first[np] = bytes.Clone(data)
	}
	if _, ok := r.reads.names[p]; !ok {
		r.reads.names[p] = np
	}
}

// NewRoot returns the tree at dir ("/" on a node, a folder in tests). The
// folder is opened once, here, and every later lookup starts from that handle.
func NewRoot(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("root %q: %w", dir, err)
	}
	// Opened by the name given, so that the kernel follows what it names: a
	// node's /proc/PID/root is a magic link into that node's mount namespace,
	// which resolving the name as a string would take for this machine's /.
	f, err := os.OpenFile(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, fmt.Errorf("root %q is not a directory", dir)
		}
		return nil, fmt.Errorf("root: %w", err)
	}
	// The kernel names the handles under the root as it names the root's own.
	kname, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("root: naming its handle: %w", unwrapPathError(err))
	}
	return &Root{dir: abs, kname: kname, fd: f, own: abs == "/" && kname == "/"}, nil
}

// Dir is the root's directory on the machine unloop runs on.
func (r *Root) Dir() string { return r.dir }

// FileError is an error about one file of the node, with the line when there is one.
type FileError struct {
	Path string // the node's path
	Line int    // 1-based; 0 when the error is about the whole file
	Err  error
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *FileError) Unwrap() error { return e.Err }

// Setting is one assignment in a config file, where it was made.
type Setting struct {
	Value string
	File  string
	Line  int
}

// Errorf returns a FileError for path and line.
func Errorf(path string, line int, format string, args ...any) error {
	return &FileError{Path: path, Line: line, Err: fmt.Errorf(format, args...)}
}

func clean(p string) string {
	if strings.HasPrefix(p, "/") {
		// Clean hands back an already clean path as it is; "/"+p would
		// allocate for every lookup (15% of the boot run's reading).
		return path.Clean(p)
	}
	return path.Clean("/" + p)
}

// lookupError says a lookup's error in the node's words: pathrs-lite's errors
// name host paths.
func lookupError(p string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		err = errors.New("too many levels of symbolic links")
	} else if errors.Is(err, syscall.EXDEV) {
		// openat2 RESOLVE_IN_ROOT gives EXDEV when the tree moved under it
		// (a rename racing the walk): never resolved outside, but refused.
		err = errors.New("the path changed while it was being resolved")
	} else {
		err = unwrapPathError(err)
	}
	return &FileError{Path: clean(p), Err: err}
}

// open returns an O_PATH handle of what p names, every link in it (the last
// one too) resolved inside the root as a chroot would.
func (r *Root) open(p string) (*os.File, error) {
	p = clean(p)
	if p == "/" {
		return unixDup(r.fd)
	}
	if r.own {
		if f, err := openOwn(r.fd, p); !errors.Is(err, unix.ENOSYS) {
			if err != nil {
				return nil, lookupError(p, err)
			}
			return f, nil
		}
	}
	f, err := pathrs.OpenatInRoot(r.fd, strings.TrimPrefix(p, "/"))
	if err != nil {
		return nil, lookupError(p, err)
	}
	return f, nil
}

// openOwn is open on this process's own /: RESOLVE_IN_ROOT on / resolves as
// a plain lookup does (an absolute link or a ".." stops at /), so the kernel's
// plain walk is the confined one, in one system call. Magic links
// (/proc/self/root/...) stay refused, as pathrs-lite refuses them
// (RESOLVE_NO_MAGICLINKS). ENOSYS: no openat2 (Linux < 5.6), pathrs-lite's
// fallback does the walk.
func openOwn(root *os.File, p string) (*os.File, error) {
	for {
		fd, err := unix.Openat2(int(root.Fd()), "."+p, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		return os.NewFile(uintptr(fd), p), nil
	}
}

// reopen opens the file the O_PATH handle h names for reading, through no
// name: pathrs-lite's Reopen, or on this process's own / its
// /proc/self/fd/N directly (the /proc this process was given, as nodePathOf
// trusts it), without the checks that a /proc mounted by someone else
// would need.
func (r *Root) reopen(h *os.File) (*os.File, error) {
	flags := unix.O_RDONLY | unix.O_NONBLOCK | unix.O_CLOEXEC
	if !r.own {
		return pathrs.Reopen(h, flags)
	}
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(h.Fd())), flags, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), h.Name()), nil
}

func unixDup(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the root's handle: %w", err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// openDir returns an O_PATH handle of the folder p (links followed inside
// the root).
func (r *Root) openDir(p string) (*os.File, error) {
	d, err := r.open(p)
	if err != nil {
		return nil, err
	}
	fi, err := d.Stat()
	if err == nil && !fi.IsDir() {
		err = syscall.ENOTDIR
	}
	if err != nil {
		d.Close()
		return nil, &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	return d, nil
}

// openParent returns a handle of p's folder (links in it resolved inside the
// root) and p's last component, which is then only ever used relative to
// that handle (openat, renameat, unlinkat), never followed when it is a link
// unless the caller says so.
func (r *Root) openParent(p string) (*os.File, string, error) {
	p = clean(p)
	if p == "/" {
		return nil, "", &FileError{Path: p, Err: errors.New("refusing to act on the root itself")}
	}
	d, err := r.openDir(path.Dir(p))
	if err != nil {
		return nil, "", err
	}
	return d, path.Base(p), nil
}

// nodePathOf names what the handle f leads to, in the node's words: the
// kernel's name of it (/proc/self/fd) under the root. It opens nothing.
func (r *Root) nodePathOf(f *os.File) (string, error) {
	hp, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		return "", fmt.Errorf("naming an open file: %w", unwrapPathError(err))
	}
	if hp == r.kname {
		return "/", nil
	}
	rel, ok := strings.CutPrefix(hp, r.kname+"/")
	if r.kname == "/" {
		rel, ok = strings.CutPrefix(hp, "/")
	}
	if !ok {
		return "", fmt.Errorf("%s is no longer under the root", hp)
	}
	return clean(rel), nil
}

// Resolve follows the links of p inside the root and returns the node's path of
// what it names (which may not exist: a dangling link names its target). It
// only names: what is later opened by that name is checked again then.
func (r *Root) Resolve(p string) (string, error) {
	return r.resolve(clean(p), 0)
}

func (r *Root) resolve(p string, links int) (string, error) {
	if links > 40 {
		return "", &FileError{Path: p, Err: errors.New("too many levels of symbolic links")}
	}
	f, err := r.open(p)
	if err == nil {
		defer f.Close()
		np, err := r.nodePathOf(f)
		if err != nil {
			return "", &FileError{Path: p, Err: err}
		}
		return np, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || p == "/" {
		return "", err
	}
	dir, err := r.resolve(path.Dir(p), links)
	if err != nil {
		return "", err
	}
	np := path.Join(dir, path.Base(p))
	// A dangling link names its target, as a chroot would create it.
	if target, err := r.Readlink(np); err == nil && target != "" {
		if !path.IsAbs(target) {
			target = path.Join(dir, target)
		}
		return r.resolve(clean(target), links+1)
	}
	return np, nil
}

// ReadFile reads a regular file, following links inside the root. It refuses
// anything that is not a regular file (a FIFO, a device) and files over MaxFileSize.
func (r *Root) ReadFile(p string) ([]byte, error) {
	return r.ReadFileMax(p, MaxFileSize)
}

// ReadFileMax is ReadFile with another limit, for unloop's own files (a run's
// manifest holds several node files).
func (r *Root) ReadFileMax(p string, limit int) (data []byte, err error) {
	p = clean(p)
	var np string // where the links led
	defer func() { r.noteFound("read", p, np, len(data), err) }()
	r.callHook("open", p)
	h, err := r.open(p)
	r.noteInput(p, h, "")
	if err != nil {
		return nil, err
	}
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, &FileError{Path: p, Err: fmt.Errorf("not a regular file (%s)", fi.Mode().Type())}
	}
	// The handle is the very file the lookup found; reopening it for reading
	// goes through no name.
	f, err := r.reopen(h)
	if err != nil {
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	defer f.Close()
	data, err = readLimited(f, limit)
	if err != nil {
		return nil, &FileError{Path: p, Err: err}
	}
	np, err = r.nodePathOf(h)
	if err != nil {
		return nil, &FileError{Path: p, Err: err}
	}
	r.remember(p, np, data)
	return data, nil
}

// readLimited reads all of f, refusing more than limit bytes. Its buffer is
// sized from fstat, so a 1 MiB file costs 1 MiB, not the doublings of ReadAll.
func readLimited(f *os.File, limit int) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, unwrapPathError(err)
	}
	if fi.Size() > int64(limit) {
		return nil, fmt.Errorf("file is %d bytes, more than the %d a configuration file may have", fi.Size(), limit)
	}
	data := make([]byte, 0, fi.Size()+1)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if len(data) > limit {
			return nil, fmt.Errorf("file is more than the %d bytes a configuration file may have", limit)
		}
		if err == io.EOF {
			return data, nil
		}
		if err != nil {
			return nil, unwrapPathError(err)
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)] // grew meanwhile: make room
		}
	}
}

// ReadFileIfExists is ReadFile that returns (nil, false, nil) when nothing is there.
func (r *Root) ReadFileIfExists(p string) ([]byte, bool, error) {
	data, err := r.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// openNoFollow returns an O_PATH handle of p itself (a link is not followed),
// with its folder's handle; the folders above are resolved inside the root.
func (r *Root) openNoFollow(p string) (*os.File, *os.File, error) {
	d, base, err := r.openParent(p)
	if err != nil {
		return nil, nil, err
	}
	f, err := openat(d, base, unix.O_PATH|unix.O_NOFOLLOW)
	if err != nil {
		d.Close()
		return nil, nil, &FileError{Path: clean(p), Err: err}
	}
	return f, d, nil
}

// openat opens name in the folder d, never following a link unless flags
// say so; name is one component.
func openat(d *os.File, name string, flags int) (*os.File, error) {
	fd, err := unix.Openat(int(d.Fd()), name, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), name), nil
}

// Lstat describes p itself (not what it links to); the folders above it are
// resolved inside the root.
func (r *Root) Lstat(p string) (fs.FileInfo, error) {
	if clean(p) == "/" {
		return r.Stat(p)
	}
	f, d, err := r.openNoFollow(p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	return fi, nil
}

// Stat describes what p names after its links are followed inside the root.
func (r *Root) Stat(p string) (fs.FileInfo, error) {
	f, err := r.open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	return fi, nil
}

// Exists reports whether p names something, after links.
func (r *Root) Exists(p string) bool {
	_, err := r.Stat(p)
	return err == nil
}

// Readlink returns the target of the link p as written in the link ("" and no
// error when p is not a link).
func (r *Root) Readlink(p string) (string, error) {
	if clean(p) == "/" {
		return "", nil
	}
	d, base, err := r.openParent(p)
	if err != nil {
		return "", err
	}
	defer d.Close()
	t, err := readlinkat(d, base)
	if errors.Is(err, syscall.EINVAL) {
		return "", nil // not a link
	}
	if err != nil {
		return "", &FileError{Path: clean(p), Err: err}
	}
	return t, nil
}

func readlinkat(d *os.File, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(int(d.Fd()), name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// ReadDir lists a folder inside the root, sorted by name; a missing folder is empty.
func (r *Root) ReadDir(p string) ([]fs.DirEntry, error) {
	return r.readDir(p, "")
}

// readDir is ReadDir, recorded as an input with pattern (Glob's) below it.
func (r *Root) readDir(p, pattern string) (ents []fs.DirEntry, err error) {
	p = clean(p)
	defer func() { r.noteFound("list", p, "", len(ents), err) }()
	h, err := r.open(p)
	r.noteInput(p, h, pattern)
	if errors.Is(err, fs.ErrNotExist) {
		r.noteFound("list", p, "", 0, err) // first: the nil returned would say it exists
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer h.Close()
	d, err := openat(h, ".", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, &FileError{Path: p, Err: err}
	}
	defer d.Close()
	ents, err = d.ReadDir(-1)
	if err != nil {
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// Glob lists the node paths in folder dir whose names match pattern (path.Match), sorted.
func (r *Root) Glob(dir, pattern string) ([]string, error) {
	ents, err := r.readDir(dir, pattern)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if ok, _ := path.Match(pattern, e.Name()); ok {
			out = append(out, path.Join(clean(dir), e.Name()))
		}
	}
	return out, nil
}

// unwrapPathError drops the host paths of an error (pathrs-lite wraps one
// PathError in another): the FileError around it names the node's path.
func unwrapPathError(err error) error {
	for {
		var pe *fs.PathError
		var le *os.LinkError
		switch {
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &le):
			err = le.Err
		default:
			return err
		}
	}
}

// OpenSocket returns an O_PATH handle of the Unix socket p (links followed
// inside the root). A client connects through /proc/self/fd/N of it: the
// socket the root holds, never one a path string resolved elsewhere leads to.
func (r *Root) OpenSocket(p string) (*os.File, error) {
	f, err := r.open(p)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	if fi.Mode().Type() != fs.ModeSocket {
		f.Close()
		return nil, Errorf(p, 0, "not a socket")
	}
	return f, nil
}
