package node

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Why nodes get a cgroup each: systemd-nspawn with --keep-unit runs the
// container in the cgroup it was started in (it makes payload/ and supervisor/
// there). Started from the same test process, every node would share one
// payload/ tree, so two nodes running at once would share
// payload/system.slice/<unit>.service: one node's systemd removing a unit's
// cgroup, or finding it still in use, trips the other node's unit of the same
// name (seen in CI as a unit failing with 219/CGROUP at boot, and here as a
// transient unit still loaded after it ended). A cgroup of its own per node, in
// every hierarchy systemd manages, keeps the nodes apart.

// cgroupRoot is where the hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// nodeCgroups are the node's own cgroups (not yet made): one per hierarchy
// systemd manages (the named systemd one on cgroup v1, the unified one), each
// under this process's own cgroup there.
func nodeCgroups(name string) ([]string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("node cgroups: %w", err)
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controllers:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var mount string
		switch parts[1] {
		case "name=systemd":
			mount = filepath.Join(cgroupRoot, "systemd")
		case "":
			// The unified hierarchy: beside the v1 ones (hybrid), or the
			// only one (cgroup v2).
			mount = filepath.Join(cgroupRoot, "unified")
			if _, err := os.Stat(filepath.Join(cgroupRoot, "cgroup.procs")); err == nil {
				mount = cgroupRoot
			}
		default:
			continue
		}
		if _, err := os.Stat(filepath.Join(mount, "cgroup.procs")); err != nil {
			continue
		}
		dirs = append(dirs, filepath.Join(mount, parts[2], "unloop-nodes", name))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("node cgroups: %w", err)
	}
	if len(dirs) == 0 {
		return nil, errors.New("node cgroups: neither a systemd nor a unified cgroup hierarchy is mounted")
	}
	return dirs, nil
}

// enterCgroups is the shell line that moves the shell running it into dirs
// (it then execs systemd-nspawn, which stays there).
func enterCgroups(dirs []string) (string, error) {
	var sh strings.Builder
	for _, d := range dirs {
		if strings.ContainsAny(d, `'\`) {
			return "", fmt.Errorf("node cgroup %q: a quote in the path", d)
		}
		fmt.Fprintf(&sh, "echo $$ > '%s/cgroup.procs' || exit 1; ", d)
	}
	return sh.String(), nil
}

// makeCgroups makes dirs.
func makeCgroups(dirs []string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("node cgroup: %w", err)
		}
	}
	return nil
}

// removeCgroups removes dirs and everything the node's systemd made under
// them, deepest first (a cgroup is removed with rmdir, once it is empty).
func removeCgroups(dirs []string) error {
	var errs []error
	for _, d := range dirs {
		var sub []string
		_ = filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				sub = append(sub, p)
			}
			return nil
		})
		slices.SortFunc(sub, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
		for _, p := range sub {
			// A cgroup whose last process just exited can be busy for a
			// moment before the kernel lets it go.
			err := syscall.Rmdir(p)
			for try := 0; errors.Is(err, syscall.EBUSY) && try < 20; try++ {
				time.Sleep(50 * time.Millisecond)
				err = syscall.Rmdir(p)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", p, err))
			}
		}
	}
	return errors.Join(errs...)
}
