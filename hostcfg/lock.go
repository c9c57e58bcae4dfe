package hostcfg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lockPath is the node's path of the lock that keeps two unloop runs apart
// (the boot unit and Ansible, say).
const lockPath = "/run/unloop.lock"

// Lock waits this long before it says whose lock it waits for.
const (
	lockQuietWait = time.Second
	lockPoll      = 50 * time.Millisecond
)

// Lock takes the exclusive lock /run/unloop.lock under the root (making /run
// when it is missing), waiting until ctx ends; then it fails saying another
// process holds the lock. After a second of waiting it calls waiting (when
// not nil) once with the holder's pid, 0 when the holder can't be told.
// unlock releases the lock and may be called more than once.
//
// The lock path must be a regular file of one link: a symbolic link or a
// hard link there would have unloop write its pid into another file, so it is
// refused and never opened through.
func (r *Root) Lock(ctx context.Context, waiting func(pid int)) (unlock func(), err error) {
	if err := r.MkdirAll(path.Dir(lockPath), 0o755); err != nil {
		return nil, fmt.Errorf("taking the lock: %w", err)
	}
	d, base, err := r.openParent(lockPath)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	f, fi, err := openLockFile(d, base)
	if err != nil {
		return nil, err
	}
	// lockedfile's wait can be neither timed nor cancelled: poll a
	// non-blocking flock instead, so an ended ctx leaves nothing behind.
	start := time.Now()
	said := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, &FileError{Path: lockPath, Err: fmt.Errorf("taking the lock: %w", err)}
		}
		if !said && waiting != nil && time.Since(start) >= lockQuietWait {
			waiting(lockHolder(f, fi))
			said = true
		}
		select {
		case <-ctx.Done():
			holder := "another unloop"
			if pid := lockHolder(f, fi); pid > 0 {
				holder = fmt.Sprintf("another unloop (pid %d)", pid)
			}
			f.Close()
			return nil, &FileError{Path: lockPath, Err: fmt.Errorf("%s holds the lock: %w", holder, context.Cause(ctx))}
		case <-time.After(lockPoll):
		}
	}
	// Who holds it, for people who look; waiters ask the kernel instead.
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}

// openLockFile opens (making it) the lock file base in the folder d,
// relative to the folder's handle, and checks it is a regular file of its
// own, before and after the open.
func openLockFile(d *os.File, base string) (*os.File, fs.FileInfo, error) {
	if h, err := openat(d, base, unix.O_PATH|unix.O_NOFOLLOW); err == nil {
		fi, err := h.Stat()
		h.Close()
		if err == nil {
			err = checkLockFile(d, base, fi)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	// O_NOFOLLOW: a link put there since the check is refused (ELOOP), not
	// followed; O_NONBLOCK: a FIFO put there must not hang the boot.
	fd, err := unix.Openat(int(d.Fd()), base, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	if errors.Is(err, unix.ELOOP) {
		return nil, nil, &FileError{Path: lockPath, Err: errors.New("is a symbolic link, not the lock file: refusing to open it (remove it)")}
	}
	if err != nil {
		return nil, nil, &FileError{Path: lockPath, Err: fmt.Errorf("taking the lock: %w", err)}
	}
	f := os.NewFile(uintptr(fd), lockPath)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, &FileError{Path: lockPath, Err: fmt.Errorf("taking the lock: %w", unwrapPathError(err))}
	}
	if err := checkLockFile(d, base, fi); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// checkLockFile refuses a lock path (base in the folder d, described by fi)
// that is not a regular file of its own.
func checkLockFile(d *os.File, base string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := readlinkat(d, base)
		return &FileError{Path: lockPath, Err: fmt.Errorf("is a symbolic link to %s, not the lock file: refusing to open it (remove it)", target)}
	case !fi.Mode().IsRegular():
		return &FileError{Path: lockPath, Err: fmt.Errorf("is a %s, not the lock file: refusing it (remove it)", describeType(fi.Mode()))}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return &FileError{Path: lockPath, Err: fmt.Errorf("has %d hard links, so it is another file too: refusing it (remove it)", st.Nlink)}
	}
	return nil
}

// lockHolder asks the kernel which process holds the flock on the lock file f
// (fi): the pid written in the file is a past holder's until the present one
// writes it. 0 when it can't be told (no /proc, another pid namespace).
func lockHolder(f *os.File, fi fs.FileInfo) int {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0
	}
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	written, _ := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	locks, err := os.Open("/proc/locks")
	if err != nil {
		return 0
	}
	defer locks.Close()
	dev := fmt.Sprintf("%02x:%02x:%d", unix.Major(st.Dev), unix.Minor(st.Dev), st.Ino)
	ino := ":" + strconv.FormatUint(st.Ino, 10)
	byIno := 0
	sc := bufio.NewScanner(locks)
	for sc.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF ("->" marks a waiter)
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil || pid <= 0 {
			continue
		}
		switch {
		case fields[5] == dev:
			return pid
		case strings.HasSuffix(fields[5], ino) && pid == written:
			// overlayfs shows another device in stat than in
			// /proc/locks: the inode and the pid written must agree.
			byIno = pid
		}
	}
	return byIno
}
