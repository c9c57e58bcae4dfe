package node

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// What a node needs to run containers under a real kubelet (tried here; see
// REAL-NODE.md, "A real kubelet with containerd inside a node"):
//   - every capability, and the keyring syscalls: without them runc fails
//     "unable to join session keyring";
//   - the cgroup v1 controllers, which nspawn mounts read-only, remounted
//     writable before containerd starts;
//   - a /dev/kmsg (nspawn gives none, kubelet exits without one): a FIFO,
//     held open for writing, else kubelet's open blocks forever;
//   - the three kernel settings kubelet writes at start, as files of the
//     node's own over the read-only /proc/sys (never this machine's).
var containerArgs = []string{"--capability=all", "--system-call-filter=@keyring"}

// containersUnit readies the node for containerd and kubelet, and holds the
// /dev/kmsg FIFO open for as long as it runs.
const containersUnit = `[Unit]
Description=unloop test bed: writable cgroup controllers and a /dev/kmsg for containers
DefaultDependencies=no
Before=containerd.service kubelet.service
After=local-fs.target
[Service]
ExecStartPre=/usr/local/sbin/unloop-containers-setup
ExecStart=/bin/sh -c 'exec sleep infinity 3<>/dev/kmsg'
[Install]
WantedBy=multi-user.target
`

// containersSetup remounts every cgroup v1 controller the node has (not
// systemd's named hierarchy) writable, and makes the /dev/kmsg FIFO.
const containersSetup = `#!/bin/sh
set -eu
awk '{ for (i = 7; i < NF; i++) if ($i == "-") { if ($(i+1) == "cgroup" && $5 != "/sys/fs/cgroup/systemd") print $5; break } }' /proc/self/mountinfo |
while read -r c; do
	mount -o remount,bind,rw "$c"
done
rm -f /dev/kmsg
mkfifo -m 600 /dev/kmsg
# kubelet sets these at start and exits when it can't; /proc/sys is read-only
# here, and rightly: they are this machine's. It writes to copies instead.
mkdir -p /run/unloop-sysctl
for s in vm/overcommit_memory kernel/panic kernel/panic_on_oops; do
	f=/run/unloop-sysctl/$(echo "$s" | tr / .)
	cat "/proc/sys/$s" >"$f"
	mount --bind "$f" "/proc/sys/$s"
done
`

// withContainerFiles is files plus the containers unit, enabled.
func withContainerFiles(files map[string]File) map[string]File {
	out := map[string]File{
		"/etc/systemd/system/unloop-containers.service":                         {Data: []byte(containersUnit)},
		"/usr/local/sbin/unloop-containers-setup":                               {Data: []byte(containersSetup), Mode: 0o755},
		"/etc/systemd/system/multi-user.target.wants/unloop-containers.service": {Link: "/etc/systemd/system/unloop-containers.service"},
	}
	for p, f := range files {
		out[p] = f
	}
	return out
}

// podCgroupParent holds every node's pod cgroup root, in each controller
// hierarchy (one empty folder per hierarchy stays: nodes booting at once
// share it).
const podCgroupParent = "/unloop-pods"

// PodCgroupRoot is the cgroup root for the pods of a node booted with
// Containers: kubelet's cgroupRoot, which must exist in every v1 hierarchy
// before kubelet starts (the node makes it). kubelet uses one path in every
// hierarchy and, without a cgroup namespace, most of the node's hierarchies
// are this machine's: a root per node keeps two nodes' kubepods apart.
// Poweroff removes it.
func (n *Node) PodCgroupRoot() string { return podCgroupParent + "/" + n.name }

// podCgroups are where the node's pod cgroup root is on this machine, in each
// cgroup v1 hierarchy the node has (leader's mounts): nspawn mounts some
// hierarchies whole and others (systemd's, and those this process is not at
// the top of) from the node's own cgroup down.
func podCgroups(leader int, name string) ([]string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", leader))
	if err != nil {
		return nil, fmt.Errorf("pod cgroups: %w", err)
	}
	defer f.Close()
	var dirs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		for i := 6; i+1 < len(fields); i++ {
			if fields[i] != "-" {
				continue
			}
			if fields[i+1] == "cgroup" && filepath.Dir(fields[4]) == cgroupRoot {
				// The same hierarchy is at the same place here.
				dirs = append(dirs, filepath.Join(fields[4], fields[3], podCgroupParent, name))
			}
			break
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("pod cgroups: %w", err)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("pod cgroups: the node has no cgroup v1 hierarchy (kubelet 1.34 runs pods there)")
	}
	return dirs, nil
}

// sweepPodCgroups removes the pod cgroup roots that a killed run left in this
// machine's cgroup v1 hierarchies (its nodes never reached Poweroff): every
// podCgroupParent/NAME whose node NAME has no systemd-nspawn running and
// whose tree holds no process. Nodes of other test processes are alive, so
// they are left alone. A root is found at any depth: nspawn mounts some
// hierarchies from the booting process's cgroup down, and another run's
// process had a cgroup of its own.
func sweepPodCgroups() error {
	live := liveNodes()
	var errs []error
	for _, h := range cgroupV1Mounts() {
		_ = filepath.WalkDir(h, func(p string, e fs.DirEntry, err error) error {
			if err != nil || !e.IsDir() {
				return nil
			}
			if filepath.Base(filepath.Dir(p)) != filepath.Base(podCgroupParent) {
				return nil
			}
			if !live[e.Name()] && !hasProcs(p) {
				if err := removeCgroups([]string{p}); err != nil {
					errs = append(errs, err)
				}
			}
			return fs.SkipDir
		})
	}
	return errors.Join(errs...)
}

// cgroupV1Mounts are the cgroup v1 hierarchies mounted under cgroupRoot here.
func cgroupV1Mounts() []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		for i := 6; i+1 < len(fields); i++ {
			if fields[i] == "-" {
				if fields[i+1] == "cgroup" && filepath.Dir(fields[4]) == cgroupRoot {
					out = append(out, fields[4])
				}
				break
			}
		}
	}
	return out
}

// liveNodes are the names of the nodes whose systemd-nspawn runs on this
// machine, by any test process (its arguments have "-M NAME").
func liveNodes() map[string]bool {
	live := map[string]bool{}
	for _, pid := range pids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-M" {
				live[args[i+1]] = true
			}
		}
	}
	return live
}

// hasProcs says whether a process is in cgroup dir or below it.
func hasProcs(dir string) bool {
	found := false
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && e.Name() == "cgroup.procs" {
			if b, _ := os.ReadFile(p); len(strings.TrimSpace(string(b))) > 0 {
				found = true
				return fs.SkipAll
			}
		}
		return nil
	})
	return found
}
