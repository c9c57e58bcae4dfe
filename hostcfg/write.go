package hostcfg

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// modeBits are the parts of a FileMode that unloop writes and restores: the
// permissions and the setuid, setgid and sticky bits, never the type.
const modeBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// ErrChanged is wrapped by the errors of a write that found its path no longer
// what unloop read: another writer (a DHCP renew, an admin) got there first,
// or a link was swapped in. Nothing was written.
var ErrChanged = errors.New("changed since unloop read it")

// ErrSwapped is wrapped by the errors of a write that found a link where it
// read a file, or its folder replaced: someone tried to redirect the write.
// Nothing was written, and apply does not plan again through it.
var ErrSwapped = errors.New("swapped since unloop read it")

// fileID is which file a name held when it was read, and in which folder:
// content alone can't tell a link swapped in for a copy of the same bytes.
// Zero when not recorded (a snapshot read back from a journal).
type fileID struct {
	dev, ino       uint64
	dirDev, dirIno uint64
}

// WriteFile replaces the file p with data, atomically: a temp file in the same
// folder gets mode (set explicitly, so the umask has no say; setuid and the
// like as fs.ModeSetuid, not 0o4000), owner uid:gid (-1 leaves the process's,
// as chown does) and the extended attributes of the file it replaces
// (security.selinux, ACLs, user.*), is synced, renamed over p relative to the
// folder's handle, and the folder is synced. Readers see the old file or the
// new one, never a mix.
//
// The folders above p are resolved inside the root; p itself is never
// followed: a link at p is replaced by the file, and what it pointed to is
// left alone (a user who owns node_exporter's textfile folder can't make root
// write through it). Callers that mean a link's target resolve it first. The
// folder must exist (MkdirAll).
//
// When the rename fails with EBUSY, p is a mount point (a bind-mounted file,
// as /etc/resolv.conf is in a container) and can't be replaced; the file is then
// overwritten in place, which is not atomic: a reader may see part old, part new
// content for a moment. There is no other way into such a file.
func (r *Root) WriteFile(p string, data []byte, mode fs.FileMode, uid, gid int) error {
	return r.replace(clean(p), nil, data, mode, uid, gid, nil)
}

// ReplaceFile is WriteFile of before.Path that writes only while the path is
// still exactly what before recorded: the very same file (device and inode) in
// the very same folder, not a link where a file was read, with the same
// content, mode and owner. It checks through the folder's handle once the new
// file is complete, immediately before the rename; otherwise it writes
// nothing and its error wraps ErrChanged. The moment between that check and
// the rename is closed by exchanging the names instead of renaming over
// (swapIn): what the name held at the exchange is checked again, and put
// back when it is not what before recorded. A link found where a file was
// read, or another folder, wraps ErrSwapped instead.
func (r *Root) ReplaceFile(before *Snapshot, data []byte, mode fs.FileMode, uid, gid int) error {
	if before == nil {
		return errors.New("replacing a file: no snapshot to compare with")
	}
	return r.replace(clean(before.Path), before, data, mode, uid, gid, nil)
}

// replace writes data at p, only while p is still want when want is not
// nil. The new file gets the extended attributes xs, or when xs is nil those
// of the file it replaces.
func (r *Root) replace(p string, want *Snapshot, data []byte, mode fs.FileMode, uid, gid int, xs map[string][]byte) error {
	if p == "/" {
		return &FileError{Path: p, Err: errors.New("refusing to replace the root")}
	}
	if mode&^modeBits != 0 {
		// 0o2755 is not fs.ModeSetgid|0o755: refuse rather than drop the bit.
		return &FileError{Path: p, Err: fmt.Errorf("mode %#o has bits other than permissions, fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky", uint32(mode))}
	}
	d, base, err := r.openParent(p)
	if err != nil {
		return err
	}
	defer d.Close()
	var st unix.Stat_t
	err = unix.Fstatat(int(d.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	oldFile := err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return &FileError{Path: p, Err: err}
	case st.Mode&unix.S_IFMT == unix.S_IFDIR:
		return &FileError{Path: p, Err: errors.New("is a directory, not a file")}
	case !oldFile && st.Mode&unix.S_IFMT != unix.S_IFLNK:
		return &FileError{Path: p, Err: fmt.Errorf("not a regular file (%s)", fileType(st.Mode))}
	}

	tmp, f, err := createTemp(d, base)
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("creating a temp file beside it: %w", err)}
	}
	renamed := false
	defer func() {
		f.Close()
		if !renamed {
			_ = unix.Unlinkat(int(d.Fd()), tmp, 0)
		}
	}()
	if err := setOwnerMode(f, mode, uid, gid); err != nil {
		return &FileError{Path: p, Err: err}
	}
	if _, err := f.Write(data); err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("writing a temp file beside it: %w", unwrapPathError(err))}
	}
	if xs != nil {
		if err := setFileXattrs(f, xs); err != nil {
			return &FileError{Path: p, Err: fmt.Errorf("setting its extended attributes: %w", err)}
		}
	} else if oldFile {
		if err := copyXattrs(d, base, f); err != nil {
			return &FileError{Path: p, Err: fmt.Errorf("keeping its extended attributes: %w", err)}
		}
	}
	if err := f.Sync(); err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("writing a temp file beside it: %w", unwrapPathError(err))}
	}
	r.callHook("rename", p)
	if want != nil {
		if err := unchanged(d, base, want); err != nil {
			return &FileError{Path: p, Err: err}
		}
	}
	err = r.swapIn(d, tmp, base, p, want)
	if errors.Is(err, unix.EBUSY) && oldFile {
		if err := writeInPlace(d, base, data, mode, uid, gid, xs); err != nil {
			return &FileError{Path: p, Err: fmt.Errorf("mount point, writing in place: %w", err)}
		}
		return nil
	}
	if errors.Is(err, ErrChanged) || errors.Is(err, ErrSwapped) {
		return &FileError{Path: p, Err: err}
	}
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("replacing: %w", err)}
	}
	renamed = true
	if err := syncDir(d); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// createTemp makes a new file beside base in the folder d, named as renameio
// names its temp files ("." + base + digits), so RemoveWriteTemps finds what a
// killed write leaves.
func createTemp(d *os.File, base string) (string, *os.File, error) {
	for range 100 {
		name := "." + base + strconv.FormatUint(uint64(rand.Uint32()), 10)
		f, err := openat(d, name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		return name, f, err
	}
	return "", nil, unix.EEXIST
}

// unchanged reports, as an error wrapping ErrChanged, how the name base in
// the folder d is no longer what want recorded.
func unchanged(d *os.File, base string, want *Snapshot) error {
	if want.id.dirIno != 0 {
		var ds unix.Stat_t
		if err := unix.Fstat(int(d.Fd()), &ds); err != nil {
			return err
		}
		if ds.Dev != want.id.dirDev || ds.Ino != want.id.dirIno {
			return fmt.Errorf("%w: its folder was replaced", ErrSwapped)
		}
	}
	var st unix.Stat_t
	err := unix.Fstatat(int(d.Fd()), base, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT) && !want.Exists:
		return nil
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%w: it was removed", ErrChanged)
	case err != nil:
		return err
	case !want.Exists:
		return fmt.Errorf("%w: something was put there", ErrChanged)
	case want.Link == "" && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		// Before the inode: a link may get the number of the file it replaced.
		return fmt.Errorf("%w: it is a link now; refusing to write through it", ErrSwapped)
	case want.id.ino != 0 && (st.Dev != want.id.dev || st.Ino != want.id.ino):
		return fmt.Errorf("%w: another file took its place", ErrChanged)
	case want.Link != "":
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return fmt.Errorf("%w: it is no longer a link", ErrChanged)
		}
		t, err := readlinkat(d, base)
		if err != nil {
			return err
		}
		if t != want.Link {
			return fmt.Errorf("%w: the link points to %s now", ErrChanged, t)
		}
		return nil
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("%w: it is a %s now", ErrChanged, fileType(st.Mode))
	}
	f, err := openat(d, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	fs := fi.Sys().(*syscall.Stat_t)
	if fs.Dev != st.Dev || fs.Ino != st.Ino {
		return fmt.Errorf("%w: another file took its place", ErrChanged)
	}
	if fi.Mode()&modeBits != want.Mode&modeBits || int(fs.Uid) != want.UID || int(fs.Gid) != want.GID {
		return fmt.Errorf("%w: its mode or owner changed", ErrChanged)
	}
	data, err := readLimited(f, max(MaxFileSize, len(want.Data)))
	if err != nil {
		return err
	}
	if !bytes.Equal(data, want.Data) {
		return fmt.Errorf("%w: its content is not what unloop read", ErrChanged)
	}
	return nil
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "link"
	case unix.S_IFIFO:
		return "named pipe"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	}
	return "special file"
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
// truncates, so a reader never sees an empty file. Non-nil xs are set on it.
func writeInPlace(d *os.File, base string, data []byte, mode fs.FileMode, uid, gid int, xs map[string][]byte) error {
	f, err := openat(d, base, unix.O_WRONLY|unix.O_NOFOLLOW)
	if err != nil {
		return err
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
	if xs != nil {
		if err := setFileXattrs(f, xs); err != nil {
			return fmt.Errorf("setting its extended attributes: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return unwrapPathError(err)
	}
	return f.Close()
}

// syncDir makes a rename, a new entry or a removal in the folder d durable.
func syncDir(d *os.File) error {
	f, err := openat(d, ".", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return fmt.Errorf("syncing the folder: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing the folder: %w", unwrapPathError(err))
	}
	return nil
}

// Xattrs returns the extended attributes of the regular file p itself
// (security.selinux, system.posix_acl_access, user.*, ...); a link is not
// followed and has none here. A filesystem without them gives none.
func (r *Root) Xattrs(p string) (map[string][]byte, error) {
	f, err := r.openRegular(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	xs, err := fileXattrs(f)
	if err != nil {
		return nil, &FileError{Path: clean(p), Err: fmt.Errorf("reading extended attributes: %w", err)}
	}
	return xs, nil
}

// SetXattrs sets the attributes xs on the regular file p itself; attributes
// that p has and xs lacks are left as they are.
func (r *Root) SetXattrs(p string, xs map[string][]byte) error {
	f, err := r.openRegular(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := setFileXattrs(f, xs); err != nil {
		return &FileError{Path: clean(p), Err: fmt.Errorf("setting extended attributes: %w", err)}
	}
	return nil
}

// openRegular opens the regular file p itself for reading, not following a
// link at p.
func (r *Root) openRegular(p string) (*os.File, error) {
	d, base, err := r.openParent(p)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, err := openat(d, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			err = errors.New("is a link, not a file")
		}
		return nil, &FileError{Path: clean(p), Err: err}
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, &FileError{Path: clean(p), Err: errors.New("not a regular file")}
	}
	return f, nil
}

// copyXattrs gives the new file f the extended attributes of the file base in
// the folder d, which it is about to replace.
func copyXattrs(d *os.File, base string, f *os.File) error {
	old, err := openat(d, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return err
	}
	defer old.Close()
	xs, err := fileXattrs(old)
	if err != nil {
		return err
	}
	return setFileXattrs(f, xs)
}

func fileXattrs(f *os.File) (map[string][]byte, error) {
	fd := int(f.Fd())
	size, err := unix.Flistxattr(fd, nil)
	if errors.Is(err, unix.ENOTSUP) || size == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	list := make([]byte, size)
	if size, err = unix.Flistxattr(fd, list); err != nil {
		return nil, err
	}
	xs := map[string][]byte{}
	for _, name := range strings.Split(string(list[:size]), "\x00") {
		// The list may come back shorter than its size said (seen in a
		// systemd-nspawn node: names the caller may not read are left out),
		// and it ends in a NUL: an empty name is no attribute.
		if name == "" {
			continue
		}
		n, err := unix.Fgetxattr(fd, name, nil)
		if errors.Is(err, unix.ENODATA) {
			continue // gone since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		val := make([]byte, n)
		if n, err = unix.Fgetxattr(fd, name, val); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		xs[name] = val[:n]
	}
	return xs, nil
}

func setFileXattrs(f *os.File, xs map[string][]byte) error {
	for _, name := range slices.Sorted(maps.Keys(xs)) {
		if err := unix.Fsetxattr(int(f.Fd()), name, xs[name], 0); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// Symlink makes p a link to target, atomically: a new link is made beside p and
// renamed over it relative to the folder's handle, so p is always either the
// old thing or the new link. The target is written as given (relative or
// absolute, the node's view); p's own last component is not followed.
func (r *Root) Symlink(p, target string) error {
	return r.symlink(clean(p), target, -1, -1, nil)
}

// ReplaceLink is Symlink of before.Path that links only while the path is
// still what before recorded, as ReplaceFile does for files.
func (r *Root) ReplaceLink(before *Snapshot, target string) error {
	if before == nil {
		return errors.New("relinking: no snapshot to compare with")
	}
	return r.symlink(clean(before.Path), target, -1, -1, before)
}

func (r *Root) symlink(p, target string, uid, gid int, want *Snapshot) error {
	if p == "/" {
		return &FileError{Path: p, Err: errors.New("refusing to replace the root")}
	}
	if target == "" {
		return &FileError{Path: p, Err: errors.New("empty link target")}
	}
	d, base, err := r.openParent(p)
	if err != nil {
		return err
	}
	defer d.Close()
	var tmp string
	for range 100 {
		tmp = "." + base + strconv.FormatUint(uint64(rand.Uint32()), 10)
		if err = unix.Symlinkat(target, int(d.Fd()), tmp); !errors.Is(err, unix.EEXIST) {
			break
		}
	}
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("linking to %s: %w", target, err)}
	}
	renamed := false
	defer func() {
		if !renamed {
			_ = unix.Unlinkat(int(d.Fd()), tmp, 0)
		}
	}()
	if uid != -1 || gid != -1 {
		// Only a restore asks for an owner; set on the new link before it
		// takes p's place.
		if err := unix.Fchownat(int(d.Fd()), tmp, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &FileError{Path: p, Err: fmt.Errorf("setting the link's owner %d:%d: %w", uid, gid, err)}
		}
	}
	r.callHook("rename", p)
	if want != nil {
		if err := unchanged(d, base, want); err != nil {
			return &FileError{Path: p, Err: err}
		}
	}
	if err := r.swapIn(d, tmp, base, p, want); err != nil {
		if errors.Is(err, ErrChanged) {
			return &FileError{Path: p, Err: err}
		}
		return &FileError{Path: p, Err: fmt.Errorf("linking to %s: %w", target, err)}
	}
	renamed = true
	if err := syncDir(d); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// Remove removes p (a link itself, not what it names; a file; an empty folder).
// Nothing there is fine.
func (r *Root) Remove(p string) error {
	return r.remove(clean(p), nil)
}

// remove removes p, only while it is still want when want is not nil.
func (r *Root) remove(p string, want *Snapshot) error {
	if p == "/" {
		return &FileError{Path: p, Err: errors.New("refusing to remove the root")}
	}
	d, base, err := r.openParent(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if want != nil {
		r.callHook("rename", p)
		if err := unchanged(d, base, want); err != nil {
			return &FileError{Path: p, Err: err}
		}
	}
	err = unix.Unlinkat(int(d.Fd()), base, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(int(d.Fd()), base, unix.AT_REMOVEDIR)
	}
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("removing: %w", err)}
	}
	if err := syncDir(d); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// RemoveDir removes the empty folder p, and nothing else: a file, a link or a
// folder with something in it is refused (wrapping syscall.ENOTDIR or
// syscall.ENOTEMPTY). Nothing there is fine.
func (r *Root) RemoveDir(p string) error {
	p = clean(p)
	if p == "/" {
		return &FileError{Path: p, Err: errors.New("refusing to remove the root")}
	}
	d, base, err := r.openParent(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	err = unix.Unlinkat(int(d.Fd()), base, unix.AT_REMOVEDIR)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("removing the folder: %w", err)}
	}
	if err := syncDir(d); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// Rename renames the node path from to to in the same folder (to is a plain
// name), relative to the folder's handle, replacing nothing: an existing to
// is an error. A link at from is renamed, not followed.
func (r *Root) Rename(from, to string) error {
	from = clean(from)
	if strings.Contains(to, "/") || to == "" || to == "." || to == ".." {
		return &FileError{Path: from, Err: fmt.Errorf("renaming to %q: not a plain name", to)}
	}
	if from == "/" {
		return &FileError{Path: from, Err: errors.New("refusing to rename the root")}
	}
	d, base, err := r.openParent(from)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Renameat2(int(d.Fd()), base, int(d.Fd()), to, unix.RENAME_NOREPLACE); err != nil {
		return &FileError{Path: from, Err: fmt.Errorf("renaming to %s: %w", to, err)}
	}
	if err := syncDir(d); err != nil {
		return &FileError{Path: from, Err: err}
	}
	return nil
}

// MkdirAll makes the folder p and any missing parent, each with mode (set
// explicitly, so the umask has no say) and made durable in its parent. Folders
// that exist are left as they are; links among them are followed inside the
// root, and a dangling one makes the folder it names. Each folder is made
// relative to its parent's handle.
func (r *Root) MkdirAll(p string, mode fs.FileMode) error {
	p = clean(p)
	if mode&^(modeBits|fs.ModeDir) != 0 {
		return &FileError{Path: p, Err: fmt.Errorf("mode %#o has bits other than permissions, fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky", uint32(mode))}
	}
	return r.mkdirAll(p, mode&modeBits, 0)
}

func (r *Root) mkdirAll(p string, mode fs.FileMode, links int) error {
	if links > 40 {
		return &FileError{Path: p, Err: errors.New("too many levels of symbolic links")}
	}
	cur := "/"
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		if part == "" {
			continue
		}
		next := path.Join(cur, part)
		if err := r.mkdir(cur, part, mode, links); err != nil {
			return err
		}
		cur = next
	}
	return nil
}

// mkdir makes the folder name in the folder dir unless it exists.
func (r *Root) mkdir(dir, name string, mode fs.FileMode, links int) error {
	p := path.Join(dir, name)
	isDir := func() (bool, error) {
		fi, err := r.Stat(p)
		if err != nil {
			return false, err
		}
		if !fi.IsDir() {
			return false, &FileError{Path: p, Err: errors.New("not a directory")}
		}
		return true, nil
	}
	ok, err := isDir()
	if ok || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	// Missing, or a dangling link: a link makes the folder it names.
	if real, err := r.Resolve(p); err != nil {
		return err
	} else if real != p {
		return r.mkdirAll(real, mode, links+1)
	}
	d, err := r.openDir(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Mkdirat(int(d.Fd()), name, uint32(mode.Perm())); errors.Is(err, unix.EEXIST) {
		// Another unloop made it a moment ago (an image being built, where
		// /run is missing and two runs take the lock at once): fine if it
		// is a folder; its mode is the other run's business.
		if ok, _ := isDir(); ok {
			return nil
		}
		return &FileError{Path: p, Err: fmt.Errorf("making the folder: %w", err)}
	} else if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("making the folder: %w", err)}
	}
	nd, err := openat(d, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("setting mode %#o: %w", mode, err)}
	}
	defer nd.Close()
	if err := nd.Chmod(mode); err != nil {
		return &FileError{Path: p, Err: fmt.Errorf("setting mode %#o: %w", mode, unwrapPathError(err))}
	}
	if err := syncDir(d); err != nil {
		return &FileError{Path: p, Err: err}
	}
	return nil
}

// Snapshot is what one path of the node was, enough to put it back byte for
// byte: nothing, a link (its target as written, not followed), or a regular
// file with its content, mode (an fs.FileMode: setuid is fs.ModeSetuid),
// owner and extended attributes (security.selinux, ACLs, user.*: a restored
// file without its label is denied to its readers). Data and the attributes'
// values are base64 in JSON.
type Snapshot struct {
	Path   string            `json:"path"`
	Exists bool              `json:"exists"`
	Link   string            `json:"link,omitempty"`
	Data   []byte            `json:"data,omitempty"`
	Mode   fs.FileMode       `json:"mode,omitempty"`
	UID    int               `json:"uid"`
	GID    int               `json:"gid"`
	Xattrs map[string][]byte `json:"xattrs,omitempty"`

	id fileID // which file it was; not journaled
}

// Snapshot records p without following it when it is a link, through its
// folder's handle, with which file it is (so ReplaceFile can tell another file
// in its place). Folders and special files are refused: apply only replaces
// files and links.
func (r *Root) Snapshot(p string) (*Snapshot, error) {
	p = clean(p)
	if p == "/" {
		return nil, &FileError{Path: p, Err: errors.New("can't snapshot a directory, only files and links")}
	}
	d, base, err := r.openParent(p)
	if errors.Is(err, fs.ErrNotExist) {
		return &Snapshot{Path: p}, nil
	}
	if err != nil {
		return nil, err
	}
	defer d.Close()
	s := &Snapshot{Path: p}
	if fi, err := d.Stat(); err == nil {
		st := fi.Sys().(*syscall.Stat_t)
		s.id.dirDev, s.id.dirIno = st.Dev, st.Ino
	}
	h, err := openat(d, base, unix.O_PATH|unix.O_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return s, nil
	}
	if err != nil {
		return nil, &FileError{Path: p, Err: err}
	}
	defer h.Close()
	fi, err := h.Stat()
	if err != nil {
		return nil, &FileError{Path: p, Err: unwrapPathError(err)}
	}
	st := fi.Sys().(*syscall.Stat_t)
	s.Exists, s.UID, s.GID = true, int(st.Uid), int(st.Gid)
	s.id.dev, s.id.ino = st.Dev, st.Ino
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		if s.Link, err = readlinkat(d, base); err != nil {
			return nil, &FileError{Path: p, Err: err}
		}
	case fi.Mode().IsRegular():
		// The handle is the file just described: reading it goes through no name.
		f, err := r.reopen(h)
		if err != nil {
			return nil, &FileError{Path: p, Err: unwrapPathError(err)}
		}
		defer f.Close()
		if s.Data, err = readLimited(f, MaxFileSize); err != nil {
			return nil, &FileError{Path: p, Err: err}
		}
		if s.Xattrs, err = fileXattrs(f); err != nil {
			return nil, &FileError{Path: p, Err: fmt.Errorf("reading extended attributes: %w", err)}
		}
		s.Mode = fi.Mode() & modeBits
		if dir, err := r.nodePathOf(d); err == nil {
			r.remember(p, path.Join(dir, base), s.Data)
		}
	default:
		return nil, &FileError{Path: p, Err: fmt.Errorf("can't snapshot a %s, only files and links", describeType(fi.Mode()))}
	}
	return s, nil
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
	return s.SameContent(o) && s.Mode == o.Mode && s.UID == o.UID && s.GID == o.GID &&
		maps.EqualFunc(s.Xattrs, o.Xattrs, bytes.Equal)
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
// rather than following it; a snapshot without attributes keeps those of the
// file it replaces). Whether the path may be restored is the caller's
// question: Restore overwrites whatever is there. A path already as recorded
// is not touched, so restoring twice is harmless.
func (r *Root) Restore(s *Snapshot) error {
	return r.restore(nil, s)
}

// RestoreOver is Restore that puts s back only while the path is still what
// cur recorded, checked through the folder's handle just before the rename
// or the unlink, as ReplaceFile does: content another writer put there since
// cur was taken is not overwritten, and the error wraps ErrChanged (or
// ErrSwapped for a link swapped in).
func (r *Root) RestoreOver(cur, s *Snapshot) error {
	if cur == nil {
		return errors.New("restoring: no snapshot to compare with")
	}
	if s != nil && clean(cur.Path) != clean(s.Path) {
		return fmt.Errorf("restoring %s: the snapshot to compare with is of %s", s.Path, cur.Path)
	}
	return r.restore(cur, s)
}

func (r *Root) restore(cur, s *Snapshot) error {
	if s == nil || s.Path == "" {
		return errors.New("restoring: empty snapshot")
	}
	p := clean(s.Path)
	want := *s
	want.Path, want.Mode = p, s.Mode&modeBits
	now := cur
	if now == nil {
		now, _ = r.Snapshot(p) // nil on error: the write below says why
	}
	if now != nil && now.Equal(&want) {
		return nil
	}
	switch {
	case !s.Exists:
		return r.remove(p, cur)
	case s.Link != "":
		return r.symlink(p, s.Link, s.UID, s.GID, cur)
	default:
		return r.replace(p, cur, s.Data, s.Mode, s.UID, s.GID, s.Xattrs)
	}
}
