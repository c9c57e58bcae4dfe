package node

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

func TestBoot(t *testing.T) {
	for _, tc := range []struct {
		release string
		systemd string // the major version the release ships
	}{
		{"bookworm", "252"},
		{"trixie", "257"},
	} {
		t.Run(tc.release, func(t *testing.T) {
			t.Parallel()
			n := Boot(t, Options{Release: tc.release})
			if got := n.Run("sh", "-c", ". /etc/os-release && echo $VERSION_CODENAME"); strings.TrimSpace(got) != tc.release {
				t.Errorf("VERSION_CODENAME = %q, want %q", got, tc.release)
			}
			if got := n.Run("systemctl", "--version"); !strings.HasPrefix(got, "systemd "+tc.systemd+" ") {
				t.Errorf("systemctl --version = %q, want systemd %s", firstLine(got), tc.systemd)
			}
			if got := n.Run("systemctl", "is-active", "dbus.service", "systemd-resolved.service"); got != "active\nactive\n" {
				t.Errorf("is-active = %q", got)
			}
			// The node is a private one: only lo, and its own PID 1.
			if got := n.Run("ls", "/sys/class/net"); strings.TrimSpace(got) != "lo" {
				t.Errorf("interfaces = %q, want only lo", got)
			}
			if got := n.Run("cat", "/proc/1/comm"); got != "systemd\n" {
				t.Errorf("PID 1 inside = %q", got)
			}
			if link, err := os.Readlink(filepath.Join(n.Root(), "etc/resolv.conf")); err != nil || link != "../run/systemd/resolve/stub-resolv.conf" {
				t.Errorf("/etc/resolv.conf links to %q (%v), want the stub", link, err)
			}
		})
	}
}

func TestExecFailureSaysWhy(t *testing.T) {
	n := Boot(t, Options{})
	out, err := n.Exec(context.Background(), "sh", "-c", "echo out; echo oops >&2; exit 3")
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("err = %v, want exit status 3", err)
	}
	if out != "out\n" || !strings.Contains(err.Error(), "oops") || !strings.Contains(err.Error(), n.Name()) {
		t.Errorf("out %q, err %q: want the stdout, and the stderr and node name in the error", out, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := n.Exec(ctx, "sleep", "30"); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("Exec ignored its deadline: %v after %v", err, time.Since(start))
	}

	// A command cut short leaves nothing behind that holds up the poweroff.
	if out := n.Run("ps", "-e", "-o", "stat=,comm="); strings.Contains(out, "Z ") {
		t.Errorf("zombies in the node after a cancelled Exec:\n%s", out)
	}

	// The test's environment stays outside.
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent")
	if got := n.Run("sh", "-c", "echo ${DBUS_SYSTEM_BUS_ADDRESS:-unset}"); got != "unset\n" {
		t.Errorf("environment leaked into the node: %q", got)
	}
}

func TestWriteFile(t *testing.T) {
	n := Boot(t, Options{})
	if err := n.WriteFile("/etc/unloop-test/a.conf", []byte("x=1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if got := n.Run("stat", "-c", "%a %U %s", "/etc/unloop-test/a.conf"); got != "640 root 4\n" {
		t.Errorf("stat = %q, want 640 root 4", got)
	}
	if got := n.Run("cat", "/etc/unloop-test/a.conf"); got != "x=1\n" {
		t.Errorf("content = %q", got)
	}

	// An absolute link inside the node points at the node's file, never at the
	// host's.
	hostTarget := filepath.Join("/tmp", n.Name()+"-target")
	n.Run("ln", "-s", hostTarget, "/etc/abs-link")
	if err := n.WriteFile("/etc/abs-link", []byte("inside\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(hostTarget); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("WriteFile through an absolute link reached the host's %s (%v)", hostTarget, err)
	}
	if got := n.Run("cat", hostTarget); got != "inside\n" {
		t.Errorf("node's %s = %q", hostTarget, got)
	}
	if b, err := n.ReadFile("/etc/abs-link"); err != nil || string(b) != "inside\n" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}

	// Symlink replaces what is there, the way resolv.conf is relinked.
	if err := n.Symlink("../run/systemd/resolve/resolv.conf", "/etc/resolv.conf"); err != nil {
		t.Fatal(err)
	}
	if got := n.Run("readlink", "/etc/resolv.conf"); got != "../run/systemd/resolve/resolv.conf\n" {
		t.Errorf("readlink = %q", got)
	}

	// The cached rootfs under the overlay is untouched.
	rootfs, err := Rootfs("bookworm")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/unloop-test")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a write reached the cached rootfs: %v", err)
	}
}

func TestBusReachable(t *testing.T) {
	n := Boot(t, Options{})
	conn, err := dbus.Connect(n.BusAddress())
	if err != nil {
		t.Fatalf("connecting to %s: %v", n.BusAddress(), err)
	}
	defer conn.Close()
	v, err := conn.Object("org.freedesktop.systemd1", "/org/freedesktop/systemd1").
		GetProperty("org.freedesktop.systemd1.Manager.Version")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := v.Value().(string); !strings.HasPrefix(s, "252") {
		t.Errorf("systemd Version over the bus = %v, want 252", v)
	}
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.freedesktop.resolve1").Store(&has); err != nil || !has {
		t.Errorf("org.freedesktop.resolve1 on the node's bus: %v %v", has, err)
	}
}

func TestPoweroff(t *testing.T) {
	n := Boot(t, Options{})
	leader := n.Leader()
	start := time.Now()
	if err := n.Poweroff(); err != nil {
		t.Fatal(err)
	}
	t.Logf("poweroff took %v", time.Since(start).Round(time.Millisecond))
	if err := syscall.Kill(leader, 0); !errors.Is(err, syscall.ESRCH) {
		if st, _ := procStat(leader); st.comm == "systemd" {
			t.Errorf("the node's systemd (pid %d) still runs after Poweroff", leader)
		}
	}
	if n.Leader() != 0 {
		t.Errorf("Leader after Poweroff = %d", n.Leader())
	}
	if _, err := n.Exec(context.Background(), "true"); err == nil {
		t.Error("Exec on a powered-off node succeeded")
	}
	if err := n.Poweroff(); err != nil {
		t.Errorf("second Poweroff: %v", err)
	}
	if _, err := os.Stat("/run/systemd/nspawn/propagate/" + n.Name()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("nspawn's propagate folder left behind: %v", err)
	}
	cgroups, err := nodeCgroups(n.Name())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range cgroups {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the node's cgroup %s left behind: %v", d, err)
		}
	}
}

func TestNodesAreSeparate(t *testing.T) {
	a, b := Boot(t, Options{}), Boot(t, Options{})
	if a.Name() == b.Name() || a.Leader() == b.Leader() {
		t.Fatalf("two nodes share a name or leader: %s/%d %s/%d", a.Name(), a.Leader(), b.Name(), b.Leader())
	}
	if err := a.WriteFile("/etc/only-a", []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadFile("/etc/only-a"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a's file seen in b: %v", err)
	}
	// Units of the same name started and stopped in both at once. Nodes
	// sharing one cgroup tree (cgroup.go) trip over each other's unit
	// cgroups: here a unit stays loaded after it ended, in CI a unit failed
	// to start with 219/CGROUP.
	var wg sync.WaitGroup
	for _, n := range []*Node{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := n.Exec(context.Background(), "sh", "-c",
				`i=0; while [ $i -lt 100 ]; do systemd-run --wait -q --unit=same-name true || exit 1; i=$((i+1)); done`)
			if err != nil {
				t.Errorf("node %s: starting same-name.service 100 times: %v %s", n.Name(), err, out)
			}
		}()
	}
	wg.Wait()
}

func TestBindsAreReadOnly(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tool"), []byte("#!/bin/sh\necho from-host\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	n := Boot(t, Options{Binds: map[string]string{dir: "/opt/host"}})
	if got := n.Run("/opt/host/tool"); got != "from-host\n" {
		t.Errorf("bound tool said %q", got)
	}
	if _, err := n.Exec(context.Background(), "touch", "/opt/host/new"); err == nil || !strings.Contains(err.Error(), "Read-only") {
		t.Errorf("writing into a bind: %v, want read-only", err)
	}
}

func TestNetNS(t *testing.T) {
	ns := "unloop-" + machineName("")[2:]
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	// The node cache's address, put in the namespace before the node boots.
	if out, err := exec.Command("ip", "-n", ns, "addr", "add", "169.254.25.10/32", "dev", "lo").CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v: %s", err, out)
	}
	n := Boot(t, Options{NetNS: ns})
	if got := n.Run("ip", "-o", "-4", "addr", "show", "dev", "lo"); !strings.Contains(got, "169.254.25.10/32") {
		t.Errorf("lo inside the node = %q, want the namespace's 169.254.25.10", got)
	}
}

func TestRebootKeepsOverlay(t *testing.T) {
	ov := t.TempDir()
	n := Boot(t, Options{Overlay: ov})
	if err := n.WriteFile("/etc/kept", []byte("kept\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := n.Leader()
	n.Reboot()
	if n.Leader() == before {
		t.Errorf("leader %d unchanged by Reboot", before)
	}
	if got := n.Run("cat", "/etc/kept"); got != "kept\n" {
		t.Errorf("after reboot /etc/kept = %q", got)
	}
	if got := n.Run("systemctl", "is-active", "systemd-resolved.service"); got != "active\n" {
		t.Errorf("resolved after reboot: %q", got)
	}
	if _, err := os.Stat(filepath.Join(ov, "upper/etc/kept")); err != nil {
		t.Errorf("the write is not in the overlay's upper dir: %v", err)
	}
}

func TestReadyTimeoutIsClear(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root: run `make deps` and the tests as root")
	}
	rootfs, err := Rootfs("bookworm")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{t: t, name: machineName(t.Name()), rootfs: rootfs, opts: Options{
		Release: "bookworm", Ready: []string{"no-such-unit.service"}, BootTimeout: 2 * time.Second,
	}}
	defer func() {
		if err := n.Poweroff(); err != nil {
			t.Error(err)
		}
	}()
	err = n.start()
	if err == nil || !strings.Contains(err.Error(), "no-such-unit.service not active after 2s") {
		t.Errorf("start = %v, want a timeout naming the unit", err)
	}
}

func TestRootfsMissingSaysMakeDeps(t *testing.T) {
	t.Setenv("UNLOOP_CACHE", t.TempDir())
	_, err := Rootfs("bookworm")
	if err == nil || !strings.Contains(err.Error(), "run `make deps`") {
		t.Errorf("Rootfs = %v, want an error telling to run make deps", err)
	}
	if _, err := Rootfs("../etc"); err == nil {
		t.Error("Rootfs accepted a path as a release")
	}
}

func TestMachineName(t *testing.T) {
	for _, tc := range []struct{ test, prefix string }{
		{"TestBoot/trixie", "n-testboot-trixie-"},
		{"Test_Odd Name#1", "n-test-odd-name-1-"},
		{strings.Repeat("x", 80), "n-" + strings.Repeat("x", 40) + "-"},
	} {
		t.Run(tc.test[:min(len(tc.test), 20)], func(t *testing.T) {
			got := machineName(tc.test)
			if !strings.HasPrefix(got, tc.prefix) || len(got) > 64 || got == machineName(tc.test) {
				t.Errorf("machineName(%q) = %q: want prefix %q, at most 64 chars, unique", tc.test, got, tc.prefix)
			}
		})
	}
}

func TestProcStat(t *testing.T) {
	st, err := procStat(os.Getpid())
	if err != nil || st.ppid != os.Getppid() || st.pgrp != syscall.Getpgrp() || st.comm == "" {
		t.Errorf("procStat(self) = %+v, %v; want ppid %d, pgrp %d", st, err, os.Getppid(), syscall.Getpgrp())
	}
	if _, err := procStat(-1); err == nil {
		t.Error("procStat(-1) succeeded")
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func TestFilesAreThereAtBoot(t *testing.T) {
	unit := "[Unit]\nDescription=written before boot\n[Service]\nType=oneshot\nRemainAfterExit=yes\n" +
		"ExecStart=/bin/sh -c 'cat /etc/unloop-boot.conf > /run/unloop-boot'\n[Install]\nWantedBy=multi-user.target\n"
	n := Boot(t, Options{
		Files: map[string]File{
			// /lib is a link to usr/lib in the rootfs: the file must land in
			// usr/lib and the link must survive.
			"/lib/systemd/system/unloop-boot.service":                         {Data: []byte(unit)},
			"/etc/systemd/system/multi-user.target.wants/unloop-boot.service": {Link: "/lib/systemd/system/unloop-boot.service"},
			"/etc/unloop-boot.conf":                                           {Data: []byte("at boot\n"), Mode: 0o600},
		},
		Ready: []string{"dbus.service", "systemd-resolved.service", "unloop-boot.service"},
	})
	if got := n.Run("cat", "/run/unloop-boot"); got != "at boot\n" {
		t.Errorf("the unit ran with %q, want the file written before boot", got)
	}
	if got := n.Run("readlink", "/lib"); got != "usr/lib\n" {
		t.Errorf("/lib is no longer the link to usr/lib: %q", got)
	}
	if got := n.Run("stat", "-c", "%a", "/etc/unloop-boot.conf"); got != "600\n" {
		t.Errorf("mode = %q, want 600", got)
	}
	if got := n.Run("systemctl", "is-enabled", "unloop-boot.service"); got != "enabled\n" {
		t.Errorf("is-enabled = %q", got)
	}
}
