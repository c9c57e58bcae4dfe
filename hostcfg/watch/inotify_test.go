package watch

import (
	"context"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// changes runs a watcher over root and returns a function that waits for the
// next reported batch.
func changes(t *testing.T, root string, paths ...string) (*Watcher, func() []string) {
	t.Helper()
	w, err := New(root, paths)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan []string, 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx, func(p []string) { ch <- p }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return w, func() []string {
		t.Helper()
		select {
		case p := <-ch:
			return p
		case <-time.After(5 * time.Second):
			t.Fatal("no change reported")
			return nil
		}
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherSeesRewritesRenamesAndNewPaths(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 10.0.0.2\n")
	write(t, filepath.Join(root, "etc/hosts"), "")
	_, next := changes(t, root, "/etc/resolv.conf", "/etc/systemd/resolved.conf.d", "/etc/dhcp/dhclient.conf")

	// An unrelated file in a watched folder is not reported; the next
	// report is the rewrite that follows it.
	write(t, filepath.Join(root, "etc/hosts"), "127.0.0.1 x\n")
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 169.254.25.10\n")
	if got := next(); !slices.Equal(got, []string{"/etc/resolv.conf"}) {
		t.Fatalf("rewrite: got %v", got)
	}
	// An atomic rewrite, as dhclient-script does.
	tmp := filepath.Join(root, "etc/resolv.conf.dhclient-new")
	write(t, tmp, "nameserver 169.254.25.10\n")
	if err := os.Rename(tmp, filepath.Join(root, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	if got := next(); !slices.Contains(got, "/etc/resolv.conf") {
		t.Fatalf("rename: got %v", got)
	}
	// A folder and a file that did not exist at the start.
	write(t, filepath.Join(root, "etc/dhcp/dhclient.conf"), "prepend domain-name-servers 169.254.25.10;\n")
	for got := next(); !slices.Contains(got, "/etc/dhcp/dhclient.conf"); got = next() {
	}
	write(t, filepath.Join(root, "etc/systemd/resolved.conf.d/dns.conf"), "[Resolve]\nDNS=169.254.25.10\n")
	for got := next(); !slices.Contains(got, "/etc/systemd/resolved.conf.d"); got = next() {
	}
}

func TestWatcherFollowsALink(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "run/systemd/resolve/stub-resolv.conf"), "nameserver 127.0.0.53\n")
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", filepath.Join(root, "etc/resolv.conf")); err != nil {
		t.Fatal(err)
	}
	w, next := changes(t, root, "/etc/resolv.conf")
	if w.Watches() != 2 {
		t.Errorf("%d folders watched, want /etc and the link's target's", w.Watches())
	}
	write(t, filepath.Join(root, "run/systemd/resolve/stub-resolv.conf"), "nameserver 169.254.25.10\n")
	if got := next(); !slices.Equal(got, []string{"/run/systemd/resolve/stub-resolv.conf"}) {
		t.Fatalf("got %v", got)
	}
}

// A pattern stands for the names in its folder that match it, reported by
// the pattern; other names there are not reported.
func TestWatcherPattern(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/hosts"), "")
	_, next := changes(t, root, "/etc/dhclient-*.conf")
	write(t, filepath.Join(root, "etc/hosts"), "127.0.0.1 x\n")
	write(t, filepath.Join(root, "etc/dhclient-eth0.conf"), "prepend domain-name-servers 169.254.25.10;\n")
	if got := next(); !slices.Equal(got, []string{"/etc/dhclient-*.conf"}) {
		t.Fatalf("got %v", got)
	}
}

// SetPaths moves the watch: a path it adds is seen, one it drops is not,
// and the same list again changes nothing.
func TestWatcherSetPaths(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 10.0.0.2\n")
	write(t, filepath.Join(root, "opt/kubelet/config.yaml"), "")
	w, next := changes(t, root, "/etc/resolv.conf")
	if changed, err := w.SetPaths([]string{"/opt/kubelet/config.yaml"}); err != nil || !changed {
		t.Fatalf("SetPaths: changed %v, %v", changed, err)
	}
	if changed, err := w.SetPaths([]string{"/opt/kubelet/config.yaml", "/opt/kubelet/config.yaml"}); err != nil || changed {
		t.Fatalf("SetPaths with the same paths: changed %v, %v", changed, err)
	}
	if n := w.Watches(); n != 1 {
		t.Errorf("%d folders watched, want /opt/kubelet only", n)
	}
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 169.254.25.10\n")
	write(t, filepath.Join(root, "opt/kubelet/config.yaml"), "resolvConf: /etc/resolv.conf\n")
	if got := next(); !slices.Equal(got, []string{"/opt/kubelet/config.yaml"}) {
		t.Fatalf("got %v", got)
	}
}

// A link renamed over a wanted file has its target watched, and a file
// renamed over the link drops that watch again.
func TestWatcherLinkRenamedOver(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 10.0.0.2\n")
	write(t, filepath.Join(root, "run/systemd/resolve/stub-resolv.conf"), "nameserver 127.0.0.53\n")
	w, next := changes(t, root, "/etc/resolv.conf")
	if n := w.Watches(); n != 1 {
		t.Fatalf("%d folders watched, want /etc", n)
	}
	renameOver := func(make func(tmp string) error) {
		t.Helper()
		tmp := filepath.Join(root, "etc/resolv.conf.new")
		if err := make(tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(root, "etc/resolv.conf")); err != nil {
			t.Fatal(err)
		}
		for got := next(); !slices.Contains(got, "/etc/resolv.conf"); got = next() {
		}
	}
	renameOver(func(tmp string) error { return os.Symlink("../run/systemd/resolve/stub-resolv.conf", tmp) })
	if n := w.Watches(); n != 2 {
		t.Fatalf("%d folders watched, want /etc and the link's target's", n)
	}
	write(t, filepath.Join(root, "run/systemd/resolve/stub-resolv.conf"), "nameserver 169.254.25.10\n")
	for got := next(); !slices.Contains(got, "/run/systemd/resolve/stub-resolv.conf"); got = next() {
	}
	renameOver(func(tmp string) error { return os.WriteFile(tmp, []byte("nameserver 10.0.0.2\n"), 0o644) })
	if n := w.Watches(); n != 1 {
		t.Fatalf("%d folders watched, want /etc only", n)
	}
}

// A rewrite is one batch though its truncate and its write are two events
// (IN_MODIFY) some milliseconds apart, as a loaded machine spaces them.
func TestWatcherOneRewriteOneBatch(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 10.0.0.2\n")
	w, err := New(root, []string{"/etc/resolv.conf"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	batches := make(chan []string, 10)
	go w.Run(t.Context(), func(p []string) { batches <- p })

	f, err := os.OpenFile(filepath.Join(root, "etc/resolv.conf"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := f.WriteString("nameserver 169.254.25.10\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-batches:
		if !slices.Equal(got, []string{"/etc/resolv.conf"}) {
			t.Fatalf("got %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported")
	}
	select {
	case got := <-batches:
		t.Errorf("one rewrite, a second batch: %v", got)
	case <-time.After(300 * time.Millisecond):
	}
}

// Links are followed inside the root, an absolute target from the root: a
// change to the file a link leads to there is reported, and the folder the
// same names lead to on this machine is never watched. The three links are
// those of real nodes; each target exists inside the root and, by the same
// absolute name, outside it (a folder of this test's, as /srv/dhcp would be
// the host's own).
func TestWatcherStaysInsideTheRoot(t *testing.T) {
	for _, tc := range []struct {
		name, link, target, watch, file string
	}{
		// dhclient's folder moved to a data disk.
		{"etc dhcp", "/etc/dhcp", "/srv/dhcp", "/etc/dhcp/dhclient.conf", "dhclient.conf"},
		// kubelet's state on a disk of its own.
		{"var lib kubelet", "/var/lib/kubelet", "/data/kubelet", "/var/lib/kubelet/config.yaml", "config.yaml"},
		// Debian's resolvconf: /etc/resolv.conf -> /etc/resolvconf/run/resolv.conf.
		{"debian resolvconf run", "/etc/resolvconf/run", "/run/resolvconf", "/etc/resolv.conf", "resolv.conf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			target := filepath.Join(outside, tc.target) // absolute: on this machine and in the root
			write(t, filepath.Join(target, tc.file), "nameserver 10.0.0.2\n")
			write(t, filepath.Join(root, target, tc.file), "nameserver 10.0.0.2\n")
			write(t, filepath.Join(root, "etc/hosts"), "")
			if err := os.MkdirAll(filepath.Join(root, filepath.Dir(tc.link)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(root, tc.link)); err != nil {
				t.Fatal(err)
			}
			if tc.watch == "/etc/resolv.conf" {
				if err := os.Symlink("/etc/resolvconf/run/resolv.conf", filepath.Join(root, "etc/resolv.conf")); err != nil {
					t.Fatal(err)
				}
			}
			_, next := changes(t, root, tc.watch)

			watched := inotifyInodes(t)
			if ino := inode(t, target); watched[ino] {
				t.Errorf("%s on this machine is watched", target)
			}
			if ino := inode(t, filepath.Join(root, target)); !watched[ino] {
				t.Errorf("%s inside the root is not watched", target)
			}
			// A write outside the root is not reported; the one inside is,
			// by the path it has in the root.
			write(t, filepath.Join(target, tc.file), "nameserver 169.254.25.10\n")
			write(t, filepath.Join(root, target, tc.file), "nameserver 169.254.25.10\n")
			want := path.Join(target, tc.file)
			if got := next(); !slices.Equal(got, []string{want}) {
				t.Fatalf("got %v, want [%s]", got, want)
			}
		})
	}
}

// inotifyInodes are the inodes this process's inotify instances watch, as
// the kernel lists them in /proc/self/fdinfo.
func inotifyInodes(t *testing.T) map[uint64]bool {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]bool{}
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + fd.Name()); l != "anon_inode:inotify" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + fd.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(info), "\n") {
			if !strings.HasPrefix(line, "inotify ") {
				continue // the descriptor's own fields: pos, flags, its inode
			}
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "ino:"); ok {
					ino, err := strconv.ParseUint(v, 16, 64)
					if err != nil {
						t.Fatalf("fdinfo %q: %v", line, err)
					}
					out[ino] = true
				}
			}
		}
	}
	return out
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}
