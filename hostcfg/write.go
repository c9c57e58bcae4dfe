package hostcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/google/renameio/v2"
	"golang.org/x/sys/unix"
)

// modeBits are the parts of a FileMode that unloop writes and restores: the
// permissions and the setuid, setgid and sticky bits, never the type.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// WriteFile replaces the file p with data, atomically: a temp file in the same
// folder gets mode (set explicitly, so the umask has no say; setuid and the
// like as fs.ModeSetuid, not 0o4000) and owner uid:gid (-1 leaves the
// process's, as chown does), is synced, renamed over p, and the folder is
// synced. Readers see the old file or the new one, never a mix.
//
// When p is a link, the file it resolves to inside the root is written and the
// link is kept: callers that want to replace the link itself use Symlink or
// Remove first. The folder must exist (MkdirAll).
//
// When the rename fails with EBUSY, p is a mount point (a bind-mounted file,
// as /etc/resolv.conf is in a container) and can't be replaced; the file is then
// overwritten in place, which is not atomic: a reader may see part old, part new
// content for a moment. There is no other way into such a file.
func (r *Root) WriteFile(p string, data []byte, mode fs.FileMode, uid, gid int) error {
	p = clean(p)
	hp, err := r.HostPath(p)
	if err != nil {
		return err
	}
	err = r.writeAt(hp, data, mode, uid, gid, nil)
	if err != nil && r.NodePath(hp) != p {
		return fmt.Errorf("writing through the link %s: %w", p, err)
	}
	return err
}

// writeAt replaces whatever is at the host path hp (a file, or a link, which is
// replaced rather than followed) with a regular file. Non-empty xs are the
// file's extended attributes, set on the temp file before the rename.
func (r *Root) writeAt(hp string, data []byte, mode fs.FileMode, uid, gid int, xs Xattrs) error {
	np := r.NodePath(hp)
	if hp == r.dir {
		return &FileError{Path: np, Err: errors.New("refusing to replace the root")}
	}
	fi, err := os.Lstat(hp)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return &FileError{Path: np, Err: unwrapPathError(err)}
	case fi.IsDir():
		return &FileError{Path: np, Err: errors.New("is a directory, not a file")}
	case !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0:
		return &FileError{Path: np, Err: fmt.Errorf("not a regular file (%s)", fi.Mode().Type())}
	}
	if mode&^modeBits != 0 {
		// 0o2755 is not fs.ModeSetgid|0o755: refuse rather than drop the bit.
		return &FileError{Path: np, Err: fmt.Errorf("mode %#o has bits other than permissions, fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky", uint32(mode))}
	}
	dir := filepath.Dir(hp)

	t, err := renameio.NewPendingFile(hp, renameio.WithTempDir(dir), renameio.WithStaticPermissions(mode.Perm()))
	if err != nil {
		return &FileError{Path: np, Err: fmt.Errorf("creating a temp file beside it: %w", unwrapPathError(err))}
	}
	defer t.Cleanup()
	if err := setOwnerMode(t.File, mode, uid, gid); err != nil {
		return &FileError{Path: np, Err: err}
	}
	if len(xs) > 0 {
		if err := setXattrs(t.File, xs); err != nil {
			return &FileError{Path: np, Err: err}
		}
	}
	if _, err := t.Write(data); err != nil {
		return &FileError{Path: np, Err: fmt.Errorf("writing a temp file beside it: %w", unwrapPathError(err))}
	}
	err = t.CloseAtomicallyReplace()
	if errors.Is(err, syscall.EBUSY) && fi != nil && fi.Mode().IsRegular() {
		if err := writeInPlace(hp, data, mode, uid, gid, xs); err != nil {
			return &FileError{Path: np, Err: fmt.Errorf("mount point, writing in place: %w", err)}
		}
		return nil
	}
	if err != nil {
		return &FileError{Path: np, Err: fmt.Errorf("replacing: %w", unwrapLinkError(err))}
	}
	if err := syncDir(dir); err != nil {
		return &FileError{Path: np, Err: err}
	}
	return nil
}

// setOwnerMode chowns before it chmods: chown clears the setuid and setgid bits,
// even for root.
func setOwnerMode(f *os.File, mode fs.FileMode, uid, gid int) error {
	if uid != -1 || gid != -1 {
		if err := f.Chown(uid, gid); err != nil {
			return fmt.Errorf("setting owner %d:%d: %w", uid, gid, unwrapPathError(err))
		}
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("setting mode %#o: %w", mode, unwrapPathError(err))
	}
	return nil
}

// writeInPlace overwrites a file that can't be renamed over. It writes before it
// truncates, so a reader never sees an empty file.
func writeInPlace(hp string, data []byte, mode fs.FileMode, uid, gid int, xs Xattrs) error {
	f, err := os.OpenFile(hp, os.O_WRONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return unwrapPathError(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		return unwrapPathError(err)
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return unwrapPathError(err)
	}
	if err := setOwnerMode(f, mode, uid, gid); err != nil {
		return err
	}
	if len(xs) > 0 {
		if err := setXattrs(f, xs); err != nil {
			return err
		}
	}
	if err := f.Sync(); err != nil {
		return unwrapPathError(err)
	}
	return f.Close()
}

// syncDir makes a rename, a new entry or a removal in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing the folder: %w", unwrapPathError(err))
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing the folder: %w", unwrapPathError(err))
	}
	return nil
}

// Symlink makes p a link to target, atomically: a new link is made beside p and
// renamed over it, so p is always either the old thing or the new link. The
// target is written as given (relative or absolute, the node's view); p's own
// last component is not followed.
func (r *Root) Symlink(p, target string) error {
	return r.symlink(clean(p), target, -1, -1)
}

func (r *Root) symlink(p, target string, uid, gid int) error {
	hp, err := r.hostPathNoFollow(p)
	if err != nil {
		return err
	}
	if hp == r.dir {
		return &FileError{Path: p, Err: errors.New("refusing to replace the root")}
	}
	if target == "" {
		return &FileError{Path: p, Err: errors.New("empty link target")}
	}
	if err := renameio.Symlink(target, hp); err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("linking to %s: %w", target, unwrapLinkError(err))}
	}
	if uid != -1 || gid != -1 {
		// Only a restore asks for an owner; links' owners rarely matter, so
		// a moment with the process's owner is acceptable.
		if err := os.Lchown(hp, uid, gid); err != nil {
			return &FileError{Path: p, Err: fmt.Errorf("setting the link's owner %d:%d: %w", uid, gid, unwrapPathError(err))}
		}
	}
	if err := syncDir(filepath.Dir(hp)); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// Remove removes p (a link itself, not what it names; a file; an empty folder).
// Nothing there is fine.
func (r *Root) Remove(p string) error {
	p = clean(p)
	hp, err := r.hostPathNoFollow(p)
	if err != nil {
		return err
	}
	if hp == r.dir {
		return &FileError{Path: p, Err: errors.New("refusing to remove the root")}
	}
	err = os.Remove(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("removing: %w", unwrapPathError(err))}
	}
	if err := syncDir(filepath.Dir(hp)); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// RemoveDir removes the empty folder p, and nothing else: a file, a link or a
// folder with something in it is refused (wrapping syscall.ENOTDIR or
// syscall.ENOTEMPTY). Nothing there is fine.
func (r *Root) RemoveDir(p string) error {
	p = clean(p)
	hp, err := r.hostPathNoFollow(p)
	if err != nil {
		return err
	}
	if hp == r.dir {
		return &FileError{Path: p, Err: errors.New("refusing to remove the root")}
	}
	err = syscall.Rmdir(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("removing the folder: %w", err)}
	}
	if err := syncDir(filepath.Dir(hp)); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// Rename renames the node path from to to in the same folder (to is a plain
// name), replacing nothing: an existing to is an error.
func (r *Root) Rename(from, to string) error {
	from = clean(from)
	if strings.Contains(to, "/") || to == "" || to == "." || to == ".." {
		return &FileError{Path: from, Err: fmt.Errorf("renaming to %q: not a plain name", to)}
	}
	hp, err := r.hostPathNoFollow(from)
	if err != nil {
		return err
	}
	if hp == r.dir {
		return &FileError{Path: from, Err: errors.New("refusing to rename the root")}
	}
	dst := filepath.Join(filepath.Dir(hp), to)
	if err := unix.Renameat2(unix.AT_FDCWD, hp, unix.AT_FDCWD, dst, unix.RENAME_NOREPLACE); err != nil {
		return &FileError{Path: from, Err: fmt.Errorf("renaming to %s: %w", to, err)}
	}
	if err := syncDir(filepath.Dir(hp)); err != nil {
		return &FileError{Path: from, Err: err}
	}
	return nil
}

// RemoveWriteTemps removes what a WriteFile or Symlink of p killed between
// its temp file and its rename leaves beside p: renameio's temp file ("." +
// name + digits, maybe half written) and, for a link, its temp folder holding
// tmp.symlink. Only names of exactly that shape are touched. It returns the
// node paths it removed.
func (r *Root) RemoveWriteTemps(p string) ([]string, error) {
	dir, base := path.Split(clean(p))
	ents, err := r.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	temp := regexp.MustCompile(`^\.` + regexp.QuoteMeta(base) + `[0-9]+$`)
	var removed []string
	var errs []error
	for _, e := range ents {
		if !temp.MatchString(e.Name()) {
			continue
		}
		tp := path.Join(dir, e.Name())
		if e.IsDir() {
			// renameio.Symlink's folder: the link, then the folder.
			if err := r.Remove(path.Join(tp, "tmp.symlink")); err != nil {
				errs = append(errs, err)
			}
		}
		if err := r.Remove(tp); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, tp)
	}
	return removed, errors.Join(errs...)
}

// MkdirAll makes the folder p and any missing parent, each with mode (set
// explicitly, so the umask has no say) and made durable in its parent. Folders
// that exist are left as they are; links among them are followed inside the root.
func (r *Root) MkdirAll(p string, mode fs.FileMode) error {
	p = clean(p)
	if mode&^(modeBits|fs.ModeDir) != 0 {
		return &FileError{Path: p, Err: fmt.Errorf("mode %#o has bits other than permissions, fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky", uint32(mode))}
	}
	mode &= modeBits
	cur := "/"
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if part == "" {
			continue
		}
		cur = path.Join(cur, part)
		hp, err := r.HostPath(cur)
		if err != nil {
			return err
		}
		fi, err := os.Stat(hp)
		if err == nil {
			if !fi.IsDir() {
				return &FileError{Path: cur, Err: errors.New("not a directory")}
			}
			continue
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return &FileError{Path: cur, Err: unwrapPathError(err)}
		}
		if err := os.Mkdir(hp, mode.Perm()); errors.Is(err, fs.ErrExist) {
			// Another unloop made it a moment ago (an image being built, where
			// /run is missing and two runs take the lock at once): fine if it
			// is a folder; its mode is the other run's business.
			if fi, serr := os.Stat(hp); serr == nil && fi.IsDir() {
				continue
			}
			return &FileError{Path: cur, Err: fmt.Errorf("making the folder: %w", unwrapPathError(err))}
		} else if err != nil {
			return &FileError{Path: cur, Err: fmt.Errorf("making the folder: %w", unwrapPathError(err))}
		}
		if err := os.Chmod(hp, mode); err != nil {
			return &FileError{Path: cur, Err: fmt.Errorf("setting mode %#o: %w", mode, unwrapPathError(err))}
		}
		if err := syncDir(filepath.Dir(hp)); err != nil {
			return &FileError{Path: cur, Err: err}
		}
	}
	return nil
}

// Snapshot is what one path of the node was, enough to put it back byte for
// byte: nothing, a link (its target as written, not followed), or a regular
// file with its content, mode (an fs.FileMode: setuid is fs.ModeSetuid),
// owner and extended attributes. Data and the attributes' values are base64
// in JSON.
type Snapshot struct {
	Path   string      `json:"path"`
	Exists bool        `json:"exists"`
	Link   string      `json:"link,omitempty"`
	Data   []byte      `json:"data,omitempty"`
	Mode   fs.FileMode `json:"mode,omitempty"`
	UID    int         `json:"uid"`
	GID    int         `json:"gid"`
	Xattrs Xattrs      `json:"xattrs,omitempty"`
}

// Snapshot records p without following it when it is a link. Folders and
// special files are refused: apply only replaces files and links.
func (r *Root) Snapshot(p string) (*Snapshot, error) {
	p = clean(p)
	fi, err := r.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &Snapshot{Path: p}, nil
	}
	if err != nil {
		return nil, err
	}
	s := &Snapshot{Path: p, Exists: true}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.UID, s.GID = int(st.Uid), int(st.Gid)
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		s.Link, err = r.Readlink(p)
		if err != nil {
			return nil, err
		}
	case fi.Mode().IsRegular():
		// p is not a link, so ReadFile reads p itself.
		s.Data, err = r.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if s.Data == nil {
			s.Data = []byte{}
		}
		s.Mode = fi.Mode() & modeBits
		if s.Xattrs, err = r.xattrsOf(p); err != nil {
			return nil, err
		}
	default:
		return nil, &FileError{Path: p, Err: fmt.Errorf("can't snapshot a %s, only files and links", describeType(fi.Mode()))}
	}
	return s, nil
}

// xattrsOf reads the extended attributes of the file p (not following a link).
func (r *Root) xattrsOf(p string) (Xattrs, error) {
	hp, err := r.hostPathNoFollow(p)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(hp, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	defer f.Close()
	xs, err := getXattrs(f)
	if err != nil {
		return nil, &FileError{Path: p, Err: err}
	}
	return xs, nil
}

func describeType(m fs.FileMode) string {
	if m.IsDir() {
		return "directory"
	}
	return "special file (" + m.Type().String() + ")"
}

// Equal reports whether s and o describe the same path in the same state.
func (s *Snapshot) Equal(o *Snapshot) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.Path != o.Path || s.Exists != o.Exists {
		return false
	}
	if !s.Exists {
		return true
	}
	return s.SameContent(o) && s.Mode == o.Mode && s.UID == o.UID && s.GID == o.GID && s.Xattrs.equal(o.Xattrs)
}

// SameContent reports whether s and o hold the same thing: both nothing, the
// same link target, or files of the same bytes (mode, owner and attributes
// aside).
func (s *Snapshot) SameContent(o *Snapshot) bool {
	if s == nil || o == nil {
		return s == o
	}
	if s.Exists != o.Exists {
		return false
	}
	return !s.Exists || (s.Link == o.Link && bytes.Equal(s.Data, o.Data))
}

// Restore puts s.Path back as the snapshot recorded it: nothing there, the
// same link (swapped atomically), or the same file (written atomically with its
// mode, owner and extended attributes, replacing whatever is at the path
// rather than following it). Whether the path may be restored is the caller's
// question: Restore overwrites whatever is there.
// A path already as recorded is not touched, so restoring twice is harmless.
func (r *Root) Restore(s *Snapshot) error {
	if s == nil || s.Path == "" {
		return errors.New("restoring: empty snapshot")
	}
	p := clean(s.Path)
	want := *s
	want.Path, want.Mode = p, s.Mode&modeBits
	if cur, err := r.Snapshot(p); err == nil && cur.Equal(&want) {
		return nil
	}
	switch {
	case !s.Exists:
		return r.Remove(p)
	case s.Link != "":
		return r.symlink(p, s.Link, s.UID, s.GID)
	default:
		hp, err := r.hostPathNoFollow(p)
		if err != nil {
			return err
		}
		return r.writeAt(hp, s.Data, s.Mode, s.UID, s.GID, s.Xattrs)
	}
}

// unwrapLinkError drops the host paths of a rename's or a link's error: the
// FileError around it names the node's path.
func unwrapLinkError(err error) error {
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return unwrapPathError(err)
}
