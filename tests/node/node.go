// Package node boots throwaway Debian nodes for tests: a real systemd, dbus and
// systemd-resolved in a systemd-nspawn container, reachable from the test
// process through /proc/LEADER/root and the node's own system bus.
//
// The root filesystems come from `make deps` (tests/setup.sh), cached under the
// repository's .cache/rootfs. A missing rootfs or a test run as non-root is a
// test failure, not a skip: CI must not pass by testing nothing.
//
// Every node boots from a read-only rootfs with a writable overlay: a tmpfs one
// thrown away at poweroff (the default), or one kept in Options.Overlay so the
// same node can be powered off and booted again (Reboot).
package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// Options says what node to boot.
type Options struct {
	// Release is the rootfs: "bookworm" (systemd 252, the default) or "trixie"
	// (systemd 257).
	Release string

	// NetNS is a network namespace for the node: a name under /run/netns or a
	// path; Boot brings its lo up. Empty: a private namespace with only lo.
	NetNS string

	// Binds are host directories (keys) mounted read-only at node paths
	// (values), e.g. a folder of host-built binaries.
	Binds map[string]string

	// Overlay is a host directory that keeps the node's writes between boots
	// (upper/, work/ and merged/ are made in it). Empty: a tmpfs overlay that
	// is gone at poweroff. Use t.TempDir() so it outlives every boot.
	Overlay string

	// Files are written into the node before it boots (keys are node paths),
	// for what must be there when systemd starts: units, their enablement
	// links, drop-ins. They go into the overlay's upper layer (a t.TempDir()
	// one when Overlay is empty), with links resolved in the rootfs.
	Files map[string]File

	// Ready are the units that must be active before Boot returns; default
	// dbus.service and systemd-resolved.service.
	Ready []string

	// Capabilities are added to the node's bounding set (systemd-nspawn
	// --capability), e.g. CAP_NET_ADMIN for dhclient in a namespace given with
	// NetNS (nspawn grants it only with a private network of its own).
	Capabilities []string

	// BootTimeout bounds the wait for Ready; default 30s (a boot takes ~1s).
	BootTimeout time.Duration

	// Containers lets the node run containers (containerd, runc and a real
	// kubelet; see containers.go): every capability, the keyring syscalls,
	// writable cgroup controllers and a /dev/kmsg. Pods' cgroups, which land
	// in this machine's hierarchies under PodCgroupRoot, go with the node.
	Containers bool
}

// File is one file of Options.Files: Data with Mode (0644 when zero), or a
// link to Link when Link is set.
type File struct {
	Data []byte
	Mode fs.FileMode
	Link string
}

// Node is one running node. Its methods other than Run may be called from any
// goroutine.
type Node struct {
	t      testing.TB
	opts   Options
	name   string
	rootfs string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{} // closed when nspawn has exited
	waitErr error         // nspawn's exit, valid once done is closed
	leader  int
	console *console
	cgroups []string // the node's own cgroups (cgroup.go)
}

// Boot boots a node and registers its poweroff with t.Cleanup. It fails t
// (with the node's console output) when the node can't be booted.
func Boot(t testing.TB, opts Options) *Node {
	t.Helper()
	if opts.Release == "" {
		opts.Release = "bookworm"
	}
	if len(opts.Ready) == 0 {
		opts.Ready = []string{"dbus.service", "systemd-resolved.service"}
	}
	if opts.BootTimeout == 0 {
		opts.BootTimeout = 30 * time.Second
	}
	if os.Geteuid() != 0 {
		t.Fatalf("node: booting a node needs root (systemd-nspawn): run `make deps` and the tests as root")
	}
	rootfs, err := Rootfs(opts.Release)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	for _, tool := range []string{"systemd-nspawn", "nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("node: %s not found: run `make deps`", tool)
		}
	}
	if opts.Containers {
		opts.Files = withContainerFiles(opts.Files)
	}
	if len(opts.Files) > 0 {
		if opts.Overlay == "" {
			opts.Overlay = t.TempDir()
		}
		if err := writeFiles(rootfs, filepath.Join(opts.Overlay, "upper"), opts.Files); err != nil {
			t.Fatalf("node: %v", err)
		}
	}
	n := &Node{t: t, opts: opts, name: machineName(t.Name()), rootfs: rootfs}
	t.Cleanup(func() {
		if err := n.Poweroff(); errors.Is(err, ErrKilled) && n.exited() {
			t.Logf("node %s: %v", n.name, err)
		} else if err != nil {
			t.Errorf("node %s: %v", n.name, err)
		}
		if t.Failed() {
			t.Logf("node %s console:\n%s", n.name, n.Console())
		}
	})
	if err := n.start(); err != nil {
		t.Fatalf("node %s: %v\nconsole:\n%s", n.name, err, n.Console())
	}
	return n
}

// writeFiles writes files into upper, an overlay's upper layer over rootfs.
// Each path's directories are resolved in rootfs first: writing
// upper/lib/systemd/... where the rootfs has the link /lib -> usr/lib would
// hide that link and break the node.
func writeFiles(rootfs, upper string, files map[string]File) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		f := files[p]
		clean := filepath.Clean("/" + p)
		dir, err := securejoin.SecureJoin(rootfs, filepath.Dir(clean))
		if err != nil {
			return fmt.Errorf("resolving %q in the rootfs: %w", p, err)
		}
		rel, err := filepath.Rel(rootfs, dir)
		if err != nil {
			return fmt.Errorf("resolving %q in the rootfs: %w", p, err)
		}
		hp := filepath.Join(upper, rel, filepath.Base(clean))
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			return fmt.Errorf("writing %q: %w", p, err)
		}
		_ = os.Remove(hp)
		if f.Link != "" {
			if err := os.Symlink(f.Link, hp); err != nil {
				return fmt.Errorf("writing %q: %w", p, err)
			}
			continue
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(hp, f.Data, mode); err != nil {
			return fmt.Errorf("writing %q: %w", p, err)
		}
		if err := os.Chmod(hp, mode); err != nil {
			return fmt.Errorf("writing %q: %w", p, err)
		}
	}
	return nil
}

// CoreDNS is the CoreDNS `make deps` built ($UNLOOP_COREDNS, else under the
// cache); it fails t with what to run when it is missing.
func CoreDNS(t testing.TB) string {
	t.Helper()
	p := os.Getenv("UNLOOP_COREDNS")
	if p == "" {
		dir, err := CacheDir()
		if err != nil {
			t.Fatal(err)
		}
		p = filepath.Join(dir, "bin", "coredns")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("CoreDNS not built (%v): run `make deps`", err)
	}
	return p
}

// Rootfs is the cached root filesystem of release, or an error saying to run
// `make deps` when it isn't there.
func Rootfs(release string) (string, error) {
	if !regexp.MustCompile(`^[a-z]+$`).MatchString(release) {
		return "", fmt.Errorf("bad release %q", release)
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "rootfs", release)
	// The rootfs is complete once its /sbin/init is there (setup.sh renames a
	// finished build into place, so a half-built one never has this name).
	if _, err := os.Lstat(filepath.Join(dir, "sbin", "init")); err != nil {
		return "", fmt.Errorf("root filesystem %s is missing: run `make deps`", dir)
	}
	return dir, nil
}

// CacheDir is the repository's .cache (UNLOOP_CACHE when set), found by
// walking up from the working directory to unloop's go.mod.
func CacheDir() (string, error) {
	if c := os.Getenv("UNLOOP_CACHE"); c != "" {
		return c, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/unloop/unloop\n")) {
			return filepath.Join(dir, ".cache"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no unloop repository above the working directory: set UNLOOP_CACHE or run from the repository")
		}
		dir = parent
	}
}

// machineName is unique across every node of every test process, and says
// which test booted it (for ps and the console log).
func machineName(test string) string {
	s := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(test), "-"), "-")
	if len(s) > 40 {
		s = strings.TrimRight(s[:40], "-")
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "n-" + s + "-" + hex.EncodeToString(b)
}

// nspawnArgs are the arguments of systemd-nspawn for dir as the root.
func (n *Node) nspawnArgs(dir string) ([]string, error) {
	args := []string{
		"-D", dir, "-b", "-M", n.name,
		// No systemd on the host: nothing to register with, no unit to move to.
		"--register=no", "--keep-unit",
		// The node's resolv.conf and clock are part of what is tested: leave them.
		"--resolv-conf=off", "--timezone=off",
		"--console=pipe", "-q",
	}
	if n.opts.Overlay == "" {
		args = append(args, "--volatile=overlay")
	}
	switch ns := n.opts.NetNS; {
	case ns == "":
		args = append(args, "--private-network")
	default:
		if !strings.Contains(ns, "/") {
			ns = "/run/netns/" + ns
		}
		if _, err := os.Stat(ns); err != nil {
			return nil, fmt.Errorf("network namespace: %w", err)
		}
		// A new namespace's lo is down, and resolved's stub can't bind
		// 127.0.0.53 then (nspawn raises lo only in a namespace of its own).
		if out, err := exec.Command("nsenter", "--net="+ns, "ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("network namespace %s: raising lo: %w: %s", ns, err, bytes.TrimSpace(out))
		}
		args = append(args, "--network-namespace-path="+ns)
	}
	for _, c := range n.opts.Capabilities {
		args = append(args, "--capability="+c)
	}
	if n.opts.Containers {
		args = append(args, containerArgs...)
	}
	hosts := make([]string, 0, len(n.opts.Binds))
	for h := range n.opts.Binds {
		hosts = append(hosts, h)
	}
	slices.Sort(hosts)
	for _, h := range hosts {
		d := n.opts.Binds[h]
		if strings.Contains(h, ":") || strings.Contains(d, ":") {
			return nil, fmt.Errorf("bind %q:%q: a colon can't be passed to systemd-nspawn", h, d)
		}
		abs, err := filepath.Abs(h)
		if err != nil {
			return nil, fmt.Errorf("bind %q: %w", h, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("bind: %w", err)
		}
		args = append(args, "--bind-ro="+abs+":"+d)
	}
	return args, nil
}

// start boots the node and waits until it is ready. On error the caller still
// has to Poweroff (Cleanup does).
func (n *Node) start() error {
	if n.opts.Containers {
		// A killed run's pods left their cgroups in this machine's
		// hierarchies: the next node that runs containers sweeps them.
		if err := sweepPodCgroups(); err != nil {
			n.t.Logf("node %s: sweeping a killed run's pod cgroups: %v", n.name, err)
		}
	}
	cgroups, err := nodeCgroups(n.name)
	if err != nil {
		return err
	}
	enter, err := enterCgroups(cgroups)
	if err != nil {
		return err
	}
	cmd, err := n.nspawnCommand(enter)
	if err != nil {
		return err
	}
	con := newConsole()
	cmd.Stdout, cmd.Stderr = con, con

	start := time.Now()
	if err := makeCgroups(cgroups); err != nil {
		_ = removeCgroups(cgroups)
		return err
	}
	if err := cmd.Start(); err != nil {
		_ = removeCgroups(cgroups)
		return fmt.Errorf("starting systemd-nspawn: %w", err)
	}
	n.mu.Lock()
	n.cgroups = cgroups
	n.mu.Unlock()
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.console, n.leader = cmd, done, con, 0
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.waitErr = err
		n.mu.Unlock()
		close(done)
	}()

	deadline := time.Now().Add(n.opts.BootTimeout)
	leader, err := n.findLeader(cmd.Process.Pid, done, deadline)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.leader = leader
	n.mu.Unlock()
	if err := n.waitReady(done, deadline); err != nil {
		return err
	}
	if n.opts.Containers {
		// Pods' cgroups are made in the node, in this machine's
		// hierarchies: removed with the node's own.
		pods, err := podCgroups(leader, n.name)
		if err != nil {
			return err
		}
		n.mu.Lock()
		n.cgroups = append(n.cgroups, pods...)
		n.mu.Unlock()
	}
	n.t.Logf("node %s (%s, leader %d) ready in %v", n.name, n.opts.Release, leader, time.Since(start).Round(time.Millisecond))
	return nil
}

// nspawnCommand is the systemd-nspawn command that boots the node, entering
// the node's cgroups first (enter), over a persistent overlay when asked.
func (n *Node) nspawnCommand(enter string) (*exec.Cmd, error) {
	cmd, err := n.nspawnExec(enter)
	if err != nil {
		return nil, err
	}
	// If the test binary dies (a panic, go test's timeout), nspawn gets the
	// signal it takes as "halt the container" instead of living on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// A test's DBUS_SYSTEM_BUS_ADDRESS names another node's bus: nspawn must
	// not take it for the host's.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "DBUS_SYSTEM_BUS_ADDRESS=")
	})
	cmd.Env = append(cmd.Env, "SYSTEMD_LOG_COLOR=0")
	return cmd, nil
}

// nspawnExec is nspawnCommand's command line, over a persistent overlay when
// asked.
func (n *Node) nspawnExec(enter string) (*exec.Cmd, error) {
	if n.opts.Overlay == "" {
		args, err := n.nspawnArgs(n.rootfs)
		if err != nil {
			return nil, err
		}
		return exec.Command("sh", append([]string{"-c", enter + `exec systemd-nspawn "$@"`, "sh"}, args...)...), nil
	}

	// systemd-nspawn can't put a persistent overlay over the root itself:
	// mount one in a mount namespace of its own (so nothing leaks into the
	// host's mounts, whatever happens to the test) and boot from that.
	ov, err := filepath.Abs(n.opts.Overlay)
	if err != nil {
		return nil, fmt.Errorf("overlay: %w", err)
	}
	// Both separate overlayfs mount options.
	if strings.ContainsAny(ov+n.rootfs, ",:") {
		return nil, fmt.Errorf("overlay %q or rootfs %q: overlayfs can't take a path with ',' or ':'", ov, n.rootfs)
	}
	for _, d := range []string{"upper", "work", "merged"} {
		if err := os.MkdirAll(filepath.Join(ov, d), 0o755); err != nil {
			return nil, fmt.Errorf("overlay: %w", err)
		}
	}
	merged := filepath.Join(ov, "merged")
	args, err := n.nspawnArgs(merged)
	if err != nil {
		return nil, err
	}
	script := enter + `mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$2/merged" && shift 2 && exec systemd-nspawn "$@"`
	return exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "--", "sh", "-c", script, "sh", n.rootfs, ov}, args...)...), nil
}

// findLeader finds the container's PID 1: the child of nspawn (its subreaper)
// that has become systemd.
func (n *Node) findLeader(nspawn int, done <-chan struct{}, deadline time.Time) (int, error) {
	for {
		if pid := childNamed(nspawn, "systemd"); pid != 0 {
			return pid, nil
		}
		select {
		case <-done:
			return 0, fmt.Errorf("systemd-nspawn exited before the node's systemd started: %v", n.exitErr())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("no systemd under systemd-nspawn (pid %d) after %v", nspawn, n.opts.BootTimeout)
		}
	}
}

// childNamed is a child of parent whose command is comm, or 0.
func childNamed(parent int, comm string) int {
	for _, pid := range pids() {
		if st, err := procStat(pid); err == nil && st.ppid == parent && st.comm == comm {
			return pid
		}
	}
	return 0
}

// stat is what the node package needs of /proc/PID/stat.
type stat struct {
	ppid, pgrp int
	comm       string
}

// procStat reads a process's parent, process group and command.
func procStat(pid int) (stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, err
	}
	// "PID (COMM) STATE PPID PGRP ...": COMM may hold spaces and parentheses.
	open, close := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || close < open {
		return stat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(b[close+1:]))
	if len(f) < 3 {
		return stat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	st := stat{comm: string(b[open+1 : close])}
	if st.ppid, err = strconv.Atoi(f[1]); err != nil {
		return stat{}, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	if st.pgrp, err = strconv.Atoi(f[2]); err != nil {
		return stat{}, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// pids lists the processes of this machine.
func pids() []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// waitReady polls systemctl inside the node until every Ready unit is active.
func (n *Node) waitReady(done <-chan struct{}, deadline time.Time) error {
	var last string
	for {
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		out, err := n.Exec(ctx, append([]string{"systemctl", "is-active"}, n.opts.Ready...)...)
		cancel()
		// is-active succeeds when any one unit is active: read every line.
		last = strings.Join(strings.Fields(out), " ")
		if err == nil && last == strings.TrimSpace(strings.Repeat("active ", len(n.opts.Ready))) {
			return nil
		}
		if strings.Contains(" "+last+" ", " failed ") {
			status, _ := n.Exec(context.Background(), append([]string{"systemctl", "status", "--no-pager", "--lines=20"}, n.opts.Ready...)...)
			return fmt.Errorf("a unit failed while booting (%s: %s):\n%s", strings.Join(n.opts.Ready, " "), last, status)
		}
		select {
		case <-done:
			return fmt.Errorf("systemd-nspawn exited while booting: %v", n.exitErr())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s not active after %v (last: %q, %v)\n%s", errStalled, strings.Join(n.opts.Ready, " "), n.opts.BootTimeout, last, err, n.bootState())
		}
	}
}

// bootState is what systemd in the node says of a boot that did not finish:
// its job queue and the journal's last lines, for the test's failure message
// (the console shows little: nspawn's systemd logs to the journal).
func (n *Node) bootState() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"systemctl", "list-jobs", "--no-pager"},
		{"systemctl", "--failed", "--no-pager"},
		{"journalctl", "-b", "--no-pager", "-n", "80"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := n.Exec(ctx, args...)
		cancel()
		fmt.Fprintf(&b, "$ %s (%v)\n%s\n", strings.Join(args, " "), err, out)
	}
	return b.String()
}

func (n *Node) exitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.waitErr == nil {
		return errors.New("exit status 0")
	}
	return n.waitErr
}

// Name is the node's machine name (unique per boot of Boot).
func (n *Node) Name() string { return n.name }

// Leader is the host PID of the node's PID 1 (its systemd).
func (n *Node) Leader() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.leader
}

// Root is the node's root directory as the host sees it. Absolute links inside
// it point at the host's files: resolve node paths with Path, not filepath.Join.
func (n *Node) Root() string { return "/proc/" + strconv.Itoa(n.Leader()) + "/root" }

// BusAddress is the node's system bus as a D-Bus address usable from the host
// (for DBUS_SYSTEM_BUS_ADDRESS).
func (n *Node) BusAddress() string {
	return "unix:path=" + n.Root() + "/run/dbus/system_bus_socket"
}

// Path is where the node's path p is on the host, with every link in it
// resolved inside the node (so an absolute link can't lead to a host file).
func (n *Node) Path(p string) (string, error) {
	hp, err := securejoin.SecureJoin(n.Root(), filepath.Clean("/"+p))
	if err != nil {
		return "", fmt.Errorf("node %s: resolving %q: %w", n.name, p, err)
	}
	return hp, nil
}

// Exec runs args inside the node (all its namespaces, its root, a clean
// environment) and returns the standard output. A failure's error holds the
// standard error.
func (n *Node) Exec(ctx context.Context, args ...string) (string, error) {
	if len(args) == 0 {
		return "", errors.New("node: exec: no command")
	}
	leader := n.Leader()
	if leader == 0 {
		return "", fmt.Errorf("node %s: not running", n.name)
	}
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(leader), "-a", "--"}, args...)...)
	// The test's environment (DBUS_SYSTEM_BUS_ADDRESS with a host path, say)
	// means nothing inside the node.
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C", "TERM=dumb", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0",
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// nsenter forks to enter the PID namespace and doesn't pass signals on.
	// At ctx's end kill what it runs (its own process group), but not
	// nsenter: it reaps its child and exits. A child whose nsenter died first
	// would stay a zombie nobody in the node can reap, and hold up poweroff.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		nsenter := cmd.Process.Pid
		for _, pid := range pids() {
			if st, err := procStat(pid); err == nil && st.pgrp == nsenter && pid != nsenter {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return nil
	}
	// A daemon left holding the pipes must not hang the test.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("node %s: %s: %w: %s", n.name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Run is Exec for the test's own goroutine: it fails the test on error and
// bounds the command to a minute.
func (n *Node) Run(args ...string) string {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := n.Exec(ctx, args...)
	if err != nil {
		n.t.Fatal(err)
	}
	return out
}

// WriteFile writes data to the node's path p (following links inside the
// node), creating its directories, with exactly mode (the umask doesn't decide).
func (n *Node) WriteFile(p string, data []byte, mode fs.FileMode) error {
	hp, err := n.Path(p)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		return fmt.Errorf("node %s: writing %q: %w", n.name, p, err)
	}
	if err := os.WriteFile(hp, data, mode); err != nil {
		return fmt.Errorf("node %s: writing %q: %w", n.name, p, err)
	}
	if err := os.Chmod(hp, mode); err != nil {
		return fmt.Errorf("node %s: writing %q: %w", n.name, p, err)
	}
	return nil
}

// ReadFile reads the node's path p (following links inside the node).
func (n *Node) ReadFile(p string) ([]byte, error) {
	hp, err := n.Path(p)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(hp)
	if err != nil {
		return nil, fmt.Errorf("node %s: reading %q: %w", n.name, p, err)
	}
	return b, nil
}

// Symlink makes the node's path p a link to target, replacing what is there
// at once (a new link renamed over the old name).
func (n *Node) Symlink(target, p string) error {
	// Resolve the directory only: p itself is replaced, not followed.
	dir, err := n.Path(filepath.Dir(filepath.Clean("/" + p)))
	if err != nil {
		return err
	}
	hp := filepath.Join(dir, filepath.Base(p))
	tmp := hp + ".node-tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return fmt.Errorf("node %s: linking %q: %w", n.name, p, err)
	}
	if err := os.Rename(tmp, hp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("node %s: linking %q: %w", n.name, p, err)
	}
	return nil
}

// Console is what the node has printed on its console so far (the tail of it).
func (n *Node) Console() string {
	n.mu.Lock()
	c := n.console
	n.mu.Unlock()
	if c == nil {
		return ""
	}
	return c.String()
}

// ErrKilled (wrapped) says an orderly shutdown did not finish in time and the
// node was killed, like a power cut, and is gone. Seen a few times in a hundred
// shutdowns on a machine loaded far past its cores; it says nothing of the
// test, so cleanup and Reboot log it rather than fail.
var ErrKilled = errors.New("node killed")

// poweroffTimeout bounds an orderly shutdown (it takes well under a second).
const poweroffTimeout = 20 * time.Second

// Poweroff shuts the node down and waits for it. When the node doesn't go
// down in time it is killed, and the error says so. Poweroff of a node that is
// already down does nothing.
func (n *Node) Poweroff() error {
	n.mu.Lock()
	cmd, done, leader := n.cmd, n.done, n.leader
	n.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return n.afterExit(nil)
	default:
	}
	// nspawn answers SIGTERM by asking the node's systemd for an orderly
	// shutdown (its --kill-signal).
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		return n.afterExit(nil)
	case <-time.After(poweroffTimeout):
	}
	// Killing nspawn alone would leave the node running without it: kill the
	// node's PID 1 (which ends its whole PID namespace), then nspawn.
	if leader != 0 {
		_ = syscall.Kill(leader, syscall.SIGKILL)
	}
	_ = cmd.Process.Kill()
	err := fmt.Errorf("did not power off within %v: killed: %w", poweroffTimeout, ErrKilled)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		err = fmt.Errorf("%w, but systemd-nspawn (pid %d) is still running", err, cmd.Process.Pid)
	}
	return n.afterExit(err)
}

// exited reports whether systemd-nspawn has exited.
func (n *Node) exited() bool {
	n.mu.Lock()
	done := n.done
	n.mu.Unlock()
	if done == nil {
		return true
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// afterExit tidies up after nspawn has exited and returns err.
func (n *Node) afterExit(err error) error {
	n.mu.Lock()
	n.leader = 0
	cgroups := n.cgroups
	n.cgroups = nil
	n.mu.Unlock()
	// nspawn leaves this (empty) folder behind when it doesn't exit cleanly.
	_ = os.Remove("/run/systemd/nspawn/propagate/" + n.name)
	// Left behind, they would only be clutter; a node still in them (a
	// failed kill) is already in err.
	if cerr := removeCgroups(cgroups); cerr != nil && err == nil {
		n.t.Logf("node %s: %v", n.name, cerr)
	}
	return err
}

// Reboot powers the node off and boots it again from the same overlay, so
// what was written before is still there. It needs Options.Overlay (a tmpfs
// overlay is gone at poweroff) and fails the test otherwise.
func (n *Node) Reboot() {
	n.t.Helper()
	if n.opts.Overlay == "" {
		n.t.Fatalf("node %s: Reboot needs Options.Overlay", n.name)
	}
	if err := n.Poweroff(); errors.Is(err, ErrKilled) && n.exited() {
		n.t.Logf("node %s: %v (rebooting anyway, as after a power cut)", n.name, err)
	} else if err != nil {
		n.t.Fatalf("node %s: %v", n.name, err)
	}
	err := n.start()
	if errors.Is(err, errStalled) {
		// Once in CI (1 boot of some 200 that run), a reboot of a trixie
		// node stalled: dbus, containerd and the images unit still
		// inactive after 2 minutes, the node's unloop.service not even
		// enabled, and its PID 1 deaf to the halt that followed. Its
		// cause is in the test bed, not in what the tests assert: the
		// state is logged in full and the node powered on once more; a
		// second stall fails the test.
		n.t.Logf("node %s: rebooting stalled; powering on once more: %v\nconsole:\n%s", n.name, err, n.Console())
		if perr := n.Poweroff(); perr != nil && !(errors.Is(perr, ErrKilled) && n.exited()) {
			n.t.Fatalf("node %s: %v", n.name, perr)
		}
		err = n.start()
	}
	if err != nil {
		n.t.Fatalf("node %s: rebooting: %v\nconsole:\n%s", n.name, err, n.Console())
	}
}

// errStalled says a node's systemd answered but its Ready units did not
// become active in time.
var errStalled = errors.New("boot stalled")

// console keeps the last consoleMax bytes a node printed.
type console struct {
	mu  sync.Mutex
	buf []byte
}

const consoleMax = 64 << 10

func newConsole() *console { return &console{} }

func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.buf = append(c.buf, p...)
	if len(c.buf) > consoleMax {
		c.buf = c.buf[len(c.buf)-consoleMax:]
	}
	return len(p), nil
}

func (c *console) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf
	if len(b) == consoleMax {
		// Drop the partial first line left by trimming.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}
