package hostcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Unrecorded returns a Root on the same tree whose reads are not remembered
// as inputs: /proc/PID files change with every process and are nothing
// `unloop watch` could watch.
func (r *Root) Unrecorded() *Root {
	c := *r
	c.reads = nil
	return &c
}

// ProcessRoot returns the tree that process pid (of the root's /proc) sees as
// its /: r itself when that is the root's own folder (a kubelet run from the
// host's units), else a Root on the process's own / (a kubelet in a container
// of its own), where a path means what it means to that process.
//
// This is the one place unloop follows a magic link, and only to read: the
// confined lookups refuse /proc/PID/root on purpose (it leads outside any
// root), but only that link tells what kubelet's --config names in kubelet's
// own mount namespace (issue 23). It is followed only where /proc is a real
// procfs; in a tree that merely holds a proc folder (tests, an image being
// built) the name is resolved inside the root like any other link.
func (r *Root) ProcessRoot(pid int) (*Root, error) {
	p := "/proc/" + strconv.Itoa(pid)
	pd, err := r.openDir(p)
	if err != nil {
		return nil, err
	}
	defer pd.Close()
	var sfs unix.Statfs_t
	if err := unix.Fstatfs(int(pd.Fd()), &sfs); err != nil {
		return nil, &FileError{Path: p, Err: err}
	}
	var f *os.File
	if sfs.Type == unix.PROC_SUPER_MAGIC {
		f, err = openat(pd, "root", unix.O_PATH|unix.O_DIRECTORY) // the magic link, followed
		if err != nil {
			err = &FileError{Path: p + "/root", Err: err}
		}
	} else {
		f, err = r.openDir(p + "/root")
	}
	if err != nil {
		return nil, err
	}
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		f.Close()
		return nil, &FileError{Path: p + "/root", Err: err}
	}
	if err := unix.Fstat(int(r.fd.Fd()), &b); err != nil {
		f.Close()
		return nil, fmt.Errorf("root: %w", err)
	}
	if a.Dev == b.Dev && a.Ino == b.Ino {
		f.Close()
		return r, nil
	}
	kname, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("root of process %d: naming its handle: %w", pid, unwrapPathError(err))
	}
	return &Root{dir: r.dir + p + "/root", kname: kname, fd: f, hook: r.hook}, nil
}

// EachProcess calls fn with each process's /proc/PID/NAME (of the root's
// /proc), in PID order; a process that ended meanwhile is skipped. /proc is
// opened once, inside the root; each file is then opened below that handle
// with one openat2 that follows no link at all (RESOLVE_NO_SYMLINKS: PID/NAME
// holds none in a procfs), not looked up again from the root and checked
// afterwards as a configuration file is. A node of 100 pods runs some 300
// processes: each read is then 3 system calls, not a dozen. Where that open
// is refused (a tree that merely holds a proc folder with links, a kernel
// without openat2) the file is read the confined way. The reads are never
// inputs (Unrecorded's reason).
func (r *Root) EachProcess(name string, limit int, fn func(pid int, data []byte)) error {
	proc, err := r.openDir("/proc")
	if errors.Is(err, fs.ErrNotExist) {
		return nil // no /proc: no process (ReadDir's way)
	}
	if err != nil {
		return err
	}
	defer proc.Close()
	d, err := openat(proc, ".", unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return &FileError{Path: "/proc", Err: err}
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return &FileError{Path: "/proc", Err: unwrapPathError(err)}
	}
	var pids []int
	for _, n := range names {
		if pid, err := strconv.Atoi(n); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	slices.Sort(pids)
	how := &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW,
		Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_BENEATH | unix.RESOLVE_NO_XDEV}
	plain := r.Unrecorded()
	for _, pid := range pids {
		rel := strconv.Itoa(pid) + "/" + name
		fd, err := unix.Openat2(int(proc.Fd()), rel, how)
		var data []byte
		switch {
		case err == nil:
			f := os.NewFile(uintptr(fd), rel)
			data, err = readLimited(f, limit)
			f.Close()
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
			continue
		default:
			data, err = plain.ReadFileMax("/proc/"+rel, limit)
		}
		if err == nil {
			fn(pid, data)
		}
	}
	return nil
}
