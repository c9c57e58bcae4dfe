package hostcfg

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"golang.org/x/sys/unix"
)

// Xattrs are a file's extended attributes by name (security.selinux,
// system.posix_acl_access, user.*): a replaced or restored file must keep
// them, or SELinux denies the file's readers and ACLs vanish.
type Xattrs map[string][]byte

// getXattrs reads every extended attribute of the open file f. A filesystem
// without them has none.
func getXattrs(f *os.File) (Xattrs, error) {
	fd := int(f.Fd())
	size, err := unix.Flistxattr(fd, nil)
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing extended attributes: %w", err)
	}
	if size == 0 {
		return nil, nil
	}
	buf := make([]byte, size)
	n, err := unix.Flistxattr(fd, buf)
	if err != nil {
		return nil, fmt.Errorf("listing extended attributes: %w", err)
	}
	out := Xattrs{}
	for _, name := range splitNames(buf[:n]) {
		vs, err := unix.Fgetxattr(fd, name, nil)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("reading extended attribute %s: %w", name, err)
		}
		val := make([]byte, vs)
		vn, err := unix.Fgetxattr(fd, name, val)
		if err != nil {
			return nil, fmt.Errorf("reading extended attribute %s: %w", name, err)
		}
		out[name] = val[:vn]
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func splitNames(buf []byte) []string {
	var names []string
	start := 0
	for i, b := range buf {
		if b == 0 {
			if i > start {
				names = append(names, string(buf[start:i]))
			}
			start = i + 1
		}
	}
	return names
}

// setXattrs gives the open file f exactly the attributes xs: those it has and
// xs lacks are removed (a new file may get a default ACL or label). Names are
// set in order, so a failure is the same every time.
func setXattrs(f *os.File, xs Xattrs) error {
	fd := int(f.Fd())
	have, err := getXattrs(f)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		if _, ok := xs[name]; ok {
			continue
		}
		if err := unix.Fremovexattr(fd, name); err != nil {
			return fmt.Errorf("removing extended attribute %s: %w", name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(xs)) {
		if v, ok := have[name]; ok && string(v) == string(xs[name]) {
			continue
		}
		if err := unix.Fsetxattr(fd, name, xs[name], 0); err != nil {
			return fmt.Errorf("setting extended attribute %s: %w", name, err)
		}
	}
	return nil
}

func (x Xattrs) equal(o Xattrs) bool {
	return maps.EqualFunc(x, o, func(a, b []byte) bool { return string(a) == string(b) })
}
