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
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// MaxFileSize bounds every file unloop reads: configuration files are small, and
// a huge one (or /dev/zero behind a link) must be an error, not an OOM at boot.
const MaxFileSize = 4 << 20

// Root is the filesystem tree unloop reads and edits.
type Root struct {
	dir   string
	reads *readLog // nil: reads are not remembered
}

// readLog holds the bytes a Recording root read first from each file, by the
// node's path after links.
type readLog struct {
	mu    sync.Mutex
	first map[string][]byte
}

// Recording returns a Root on the same tree that remembers what it read first
// of each file, so a plan can tell whether a file changed between the read it
// was reasoned from and the read it edits (positions from the first applied
// to other bytes would corrupt the file).
func (r *Root) Recording() *Root {
	return &Root{dir: r.dir, reads: &readLog{first: map[string][]byte{}}}
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

func (r *Root) remember(hp string, data []byte) {
	if r.reads == nil {
		return
	}
	np := r.NodePath(hp)
	r.reads.mu.Lock()
	defer r.reads.mu.Unlock()
	if _, ok := r.reads.first[np]; !ok {
		r.reads.first[np] = bytes.Clone(data)
	}
}

// NewRoot returns the tree at dir ("/" on a node, a folder in tests).
func NewRoot(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("root %q: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("root %q is not a directory", dir)
	}
	return &Root{dir: abs}, nil
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
	return path.Clean("/" + p)
}

// HostPath is where the node's path p is on this machine, with every link in it
// (the last one too) resolved inside the root.
func (r *Root) HostPath(p string) (string, error) {
	hp, err := securejoin.SecureJoin(r.dir, clean(p))
	if err != nil {
		// securejoin's errors name the host path; say it in the node's words.
		if errors.Is(err, syscall.ELOOP) {
			err = errors.New("too many levels of symbolic links")
		} else {
			err = unwrapPathError(err)
		}
		return "", &FileError{Path: clean(p), Err: err}
	}
	return hp, nil
}

// hostPathNoFollow resolves every component but the last one, so the last one can
// itself be looked at (a link, a file that may not exist yet).
func (r *Root) hostPathNoFollow(p string) (string, error) {
	p = clean(p)
	if p == "/" {
		return r.dir, nil
	}
	dir, err := r.HostPath(path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, path.Base(p)), nil
}

// NodePath turns a host path under the root back into the node's path.
func (r *Root) NodePath(hostPath string) string {
	rel, err := filepath.Rel(r.dir, hostPath)
	if err != nil || strings.HasPrefix(rel, "..") {
		return hostPath
	}
	return clean(filepath.ToSlash(rel))
}

// Resolve follows the links of p inside the root and returns the node's path of
// what it names (which may not exist).
func (r *Root) Resolve(p string) (string, error) {
	hp, err := r.HostPath(p)
	if err != nil {
		return "", err
	}
	return r.NodePath(hp), nil
}

// ReadFile reads a regular file, following links inside the root. It refuses
// anything that is not a regular file (a FIFO, a device) and files over MaxFileSize.
func (r *Root) ReadFile(p string) ([]byte, error) {
	p = clean(p)
	hp, err := r.HostPath(p)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO must not hang the boot.
	f, err := os.OpenFile(hp, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			return nil, &FileError{Path: p, Err: errors.New("too many levels of symbolic links")}
		}
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	if !fi.Mode().IsRegular() {
		return nil, &FileError{Path: p, Err: fmt.Errorf("not a regular file (%s)", fi.Mode().Type())}
	}
	if fi.Size() > MaxFileSize {
		return nil, &FileError{Path: p, Err: fmt.Errorf("file is %d bytes, more than the %d a configuration file may have", fi.Size(), MaxFileSize)}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	if len(data) > MaxFileSize {
		return nil, &FileError{Path: p, Err: fmt.Errorf("file is more than the %d bytes a configuration file may have", MaxFileSize)}
	}
	r.remember(hp, data)
	return data, nil
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

// Lstat describes p itself (not what it links to); the folders above it are
// resolved inside the root.
func (r *Root) Lstat(p string) (fs.FileInfo, error) {
	hp, err := r.hostPathNoFollow(p)
	if err != nil {
		return nil, err
	}
	fi, err := os.Lstat(hp)
	if err != nil {
		return nil, &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	return fi, nil
}

// Stat describes what p names after its links are followed inside the root.
func (r *Root) Stat(p string) (fs.FileInfo, error) {
	hp, err := r.HostPath(p)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(hp)
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
	fi, err := r.Lstat(p)
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return "", nil
	}
	hp, err := r.hostPathNoFollow(p)
	if err != nil {
		return "", err
	}
	t, err := os.Readlink(hp)
	if err != nil {
		return "", &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	return t, nil
}

// ReadDir lists a folder inside the root, sorted by name; a missing folder is empty.
func (r *Root) ReadDir(p string) ([]fs.DirEntry, error) {
	hp, err := r.HostPath(p)
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	return ents, nil
}

// Glob lists the node paths in folder dir whose names match pattern (path.Match), sorted.
func (r *Root) Glob(dir, pattern string) ([]string, error) {
	ents, err := r.ReadDir(dir)
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

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
