package hostcfg

import (
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Flags returns the inode flags of the file p (links followed inside the
// root), as lsattr shows them: FS_IMMUTABLE_FL for chattr +i, which makes
// every rename over the file fail. A file system without them (tmpfs)
// answers 0.
func (r *Root) Flags(p string) (uint32, error) {
	h, err := r.open(p)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	// The lookup's handle is O_PATH, which takes no ioctl: reopen the file
	// it holds, through its magic link, never by its name again.
	f, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(h.Fd())), unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &FileError{Path: clean(p), Err: unwrapPathError(err)}
	}
	defer f.Close()
	flags, err := unix.IoctlGetUint32(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	if err == unix.ENOTTY || err == unix.EOPNOTSUPP || err == unix.EINVAL {
		return 0, nil
	}
	if err != nil {
		return 0, &FileError{Path: clean(p), Err: fmt.Errorf("reading its flags: %w", err)}
	}
	return flags, nil
}
