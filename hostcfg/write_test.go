package hostcfg

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wtRoot makes a root in a temp dir holding files (node path → content; a
// content starting with "->" makes a link to the rest).
func wtRoot(t *testing.T, files map[string]string) *Root {
	t.Helper()
	dir := t.TempDir()
	for p, content := range files {
		hp := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, hp); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(hp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wtUmask sets a umask that would spoil every mode if the code let it decide.
func wtUmask(t *testing.T) {
	old := syscall.Umask(0o077)
	t.Cleanup(func() { syscall.Umask(old) })
}

type wtState struct {
	kind     string // "file", "link", "dir", "none"
	data     string
	link     string
	mode     fs.FileMode
	uid, gid int
}

func wtStat(t *testing.T, hp string) wtState {
	t.Helper()
	fi, err := os.Lstat(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return wtState{kind: "none"}
	}
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	s := wtState{uid: int(st.Uid), gid: int(st.Gid)}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		s.kind = "link"
		s.link, _ = os.Readlink(hp)
	case fi.IsDir():
		s.kind, s.mode = "dir", fi.Mode()&modeBits
	default:
		b, err := os.ReadFile(hp)
		if err != nil {
			t.Fatal(err)
		}
		s.kind, s.data, s.mode = "file", string(b), fi.Mode()&modeBits
	}
	return s
}

func TestWriteFile(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		path     string
		mode     fs.FileMode
		uid, gid int
		check    string            // host path (under the root) that must hold the new content
		keep     map[string]string // host paths that must keep their content
		wantErr  string
	}{
		{name: "new file gets mode and owner", path: "/etc/new.conf", mode: 0o640, uid: 1234, gid: 5678,
			files: map[string]string{"etc/x": ""}, check: "etc/new.conf"},
		{name: "replacing ignores the old mode", path: "/etc/resolv.conf", mode: 0o600, uid: 0, gid: 0,
			files: map[string]string{"etc/resolv.conf": "nameserver 1.1.1.1\n"}, check: "etc/resolv.conf"},
		{name: "setgid survives the chown", path: "/etc/hook", mode: fs.ModeSetgid | 0o755, uid: 42, gid: 42,
			files: map[string]string{"etc/hook": "old"}, check: "etc/hook"},
		// The last component is never followed: a link there is replaced
		// (issue 11: a user who owns the textfile folder links unloop.prom
		// to a file of root's), and what it named is left byte for byte.
		{name: "a link at the name is replaced, not followed", path: "/etc/resolv.conf", mode: 0o644, uid: 0, gid: 0,
			files: map[string]string{
				"etc/resolv.conf":                      "->../run/systemd/resolve/stub-resolv.conf",
				"run/systemd/resolve/stub-resolv.conf": "nameserver 127.0.0.53\n",
			},
			check: "etc/resolv.conf", keep: map[string]string{"run/systemd/resolve/stub-resolv.conf": "nameserver 127.0.0.53\n"}},
		{name: "an absolute link at the name is replaced", path: "/var/lib/textfile/unloop.prom", mode: 0o644, uid: 0, gid: 0,
			files: map[string]string{
				"var/lib/textfile/unloop.prom": "->/etc/shadow",
				"etc/shadow":                   "root:*:20000::::::\n",
			},
			check: "var/lib/textfile/unloop.prom", keep: map[string]string{"etc/shadow": "root:*:20000::::::\n"}},
		{name: "a folder link is followed inside the root", path: "/etc/resolv.conf", mode: 0o644, uid: 0, gid: 0,
			files: map[string]string{
				"etc":                 "->/usr/etc",
				"usr/etc/resolv.conf": "nameserver 10.0.0.2\n",
			},
			check: "usr/etc/resolv.conf"},
		{name: "unix setgid bits are refused", path: "/etc/hook", mode: 0o2755, uid: 0, gid: 0,
			files: map[string]string{"etc/hook": "old"}, wantErr: "/etc/hook: mode 02755 has bits other than"},
		{name: "a directory is refused", path: "/etc", mode: 0o644, uid: 0, gid: 0,
			files: map[string]string{"etc/x": ""}, wantErr: "/etc: is a directory"},
		{name: "a missing folder names the path", path: "/etc/nope/x.conf", mode: 0o644, uid: 0, gid: 0,
			files: map[string]string{"etc/x": ""}, wantErr: "/etc/nope: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wtUmask(t)
			r := wtRoot(t, tt.files)
			data := []byte("nameserver 192.0.2.1\n")
			err := r.WriteFile(tt.path, data, tt.mode, tt.uid, tt.gid)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				var fe *FileError
				if !errors.As(err, &fe) {
					t.Fatalf("err %v is not a *FileError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := wtStat(t, filepath.Join(r.Dir(), tt.check))
			want := wtState{kind: "file", data: string(data), mode: tt.mode, uid: tt.uid, gid: tt.gid}
			if got != want {
				t.Errorf("after write: %+v, want %+v", got, want)
			}
			for hp, data := range tt.keep {
				if st := wtStat(t, filepath.Join(r.Dir(), hp)); st.kind != "file" || st.data != data {
					t.Errorf("%s became %+v", hp, st)
				}
			}
			wtNoTempFiles(t, filepath.Dir(filepath.Join(r.Dir(), tt.check)))
		})
	}
}

// wtNoTempFiles checks that nothing but the expected names is left in dir: no
// renameio temp file survives a write.
func wtNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temp file %s left in %s", e.Name(), dir)
		}
	}
}

func TestSymlink(t *testing.T) {
	tests := []struct {
		name   string
		files  map[string]string
		path   string
		target string
		keep   map[string]string // host paths that must keep their content
	}{
		{name: "replaces a file", path: "/etc/resolv.conf", target: "../run/systemd/resolve/resolv.conf",
			files: map[string]string{"etc/resolv.conf": "nameserver 1.1.1.1\n"}},
		{name: "replaces a link without touching its target", path: "/etc/resolv.conf", target: "../run/systemd/resolve/resolv.conf",
			files: map[string]string{"etc/resolv.conf": "->../run/systemd/resolve/stub-resolv.conf", "run/systemd/resolve/stub-resolv.conf": "stub"},
			keep:  map[string]string{"run/systemd/resolve/stub-resolv.conf": "stub"}},
		{name: "makes a new link", path: "/etc/new", target: "/run/x",
			files: map[string]string{"etc/x": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wtRoot(t, tt.files)
			if err := r.Symlink(tt.path, tt.target); err != nil {
				t.Fatal(err)
			}
			if got := wtStat(t, filepath.Join(r.Dir(), tt.path)); got.kind != "link" || got.link != tt.target {
				t.Errorf("got %+v, want a link to %s", got, tt.target)
			}
			for hp, data := range tt.keep {
				if got := wtStat(t, filepath.Join(r.Dir(), hp)); got.data != data {
					t.Errorf("%s: %q, want %q", hp, got.data, data)
				}
			}
			wtNoTempFiles(t, filepath.Join(r.Dir(), filepath.Dir(tt.path)))
		})
	}
	t.Run("a directory in the way is an error", func(t *testing.T) {
		r := wtRoot(t, map[string]string{"etc/d/x": ""})
		err := r.Symlink("/etc/d", "/x")
		if err == nil || !strings.HasPrefix(err.Error(), "/etc/d: linking to /x:") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestRemove(t *testing.T) {
	r := wtRoot(t, map[string]string{
		"etc/file":   "x",
		"etc/link":   "->target",
		"etc/target": "keep",
	})
	for _, p := range []string{"/etc/file", "/etc/link", "/etc/missing", "/etc/missing-dir/x"} {
		if err := r.Remove(p); err != nil {
			t.Errorf("Remove(%s): %v", p, err)
		}
	}
	for _, p := range []string{"etc/file", "etc/link"} {
		if st := wtStat(t, filepath.Join(r.Dir(), p)); st.kind != "none" {
			t.Errorf("%s still there: %+v", p, st)
		}
	}
	if st := wtStat(t, filepath.Join(r.Dir(), "etc/target")); st.data != "keep" {
		t.Errorf("the link's target was touched: %+v", st)
	}
	if err := r.Remove("/"); err == nil {
		t.Error("removing the root succeeded")
	}
}

func TestMkdirAll(t *testing.T) {
	wtUmask(t)
	r := wtRoot(t, map[string]string{"etc/file": "x", "var/run": "->/run", "run/x": ""})
	if err := os.Chmod(filepath.Join(r.Dir(), "etc"), 0o751); err != nil {
		t.Fatal(err)
	}
	if err := r.MkdirAll("/etc/unloop/sub", 0o755); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]fs.FileMode{"etc": 0o751, "etc/unloop": 0o755, "etc/unloop/sub": 0o755} {
		if st := wtStat(t, filepath.Join(r.Dir(), p)); st.kind != "dir" || st.mode != mode {
			t.Errorf("%s: %+v, want a dir with mode %#o", p, st, mode)
		}
	}
	if err := r.MkdirAll("/var/run/unloop", 0o700); err != nil {
		t.Fatal(err)
	}
	if st := wtStat(t, filepath.Join(r.Dir(), "run/unloop")); st.kind != "dir" || st.mode != 0o700 {
		t.Errorf("through the link: %+v", st)
	}
	err := r.MkdirAll("/etc/file/sub", 0o755)
	if err == nil || err.Error() != "/etc/file: not a directory" {
		t.Errorf("a file in the way: err = %v", err)
	}
}

func TestSnapshotRestore(t *testing.T) {
	// Each case: the original, a change made to it, and Restore must bring the
	// original back exactly.
	tests := []struct {
		name   string
		files  map[string]string
		path   string
		setup  func(t *testing.T, hp string) // applied to the original before the snapshot
		change func(r *Root, p string) error
	}{
		{name: "file rewritten with another mode and owner", path: "/etc/resolv.conf",
			files: map[string]string{"etc/resolv.conf": "nameserver 169.254.25.10\n"},
			setup: func(t *testing.T, hp string) { wtChown(t, hp, 1000, 1001); wtChmod(t, hp, fs.ModeSetuid|0o640) },
			change: func(r *Root, p string) error {
				return r.WriteFile(p, []byte("nameserver 10.0.0.1\n"), 0o644, 0, 0)
			}},
		{name: "link swapped", path: "/etc/resolv.conf",
			files: map[string]string{"etc/resolv.conf": "->../run/systemd/resolve/stub-resolv.conf"},
			change: func(r *Root, p string) error {
				return r.Symlink(p, "../run/systemd/resolve/resolv.conf")
			}},
		{name: "link with an owner replaced by a file", path: "/etc/resolv.conf",
			files: map[string]string{"etc/resolv.conf": "->/run/systemd/resolve/stub-resolv.conf"},
			setup: func(t *testing.T, hp string) {
				if err := os.Lchown(hp, 7, 8); err != nil {
					t.Fatal(err)
				}
			},
			change: func(r *Root, p string) error {
				if err := r.Remove(p); err != nil {
					return err
				}
				return r.WriteFile(p, []byte("nameserver 10.0.0.1\n"), 0o644, 0, 0)
			}},
		{name: "file replaced by a link", path: "/etc/resolv.conf",
			files: map[string]string{"etc/resolv.conf": "nameserver 1.1.1.1\n", "run/systemd/resolve/resolv.conf": "target"},
			change: func(r *Root, p string) error {
				return r.Symlink(p, "../run/systemd/resolve/resolv.conf")
			}},
		{name: "missing file created", path: "/etc/unloop/resolv.conf",
			files: map[string]string{"etc/unloop/x": ""},
			change: func(r *Root, p string) error {
				return r.WriteFile(p, []byte("nameserver 10.0.0.1\n"), 0o644, 0, 0)
			}},
		{name: "file removed", path: "/etc/dhcp/dhclient.conf",
			files:  map[string]string{"etc/dhcp/dhclient.conf": "prepend domain-name-servers 169.254.25.10;\n"},
			change: func(r *Root, p string) error { return r.Remove(p) }},
		{name: "empty file with mode 0", path: "/etc/empty",
			files: map[string]string{"etc/empty": ""},
			setup: func(t *testing.T, hp string) { wtChmod(t, hp, 0) },
			change: func(r *Root, p string) error {
				return r.WriteFile(p, []byte("x"), 0o644, 0, 0)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wtRoot(t, tt.files)
			hp := filepath.Join(r.Dir(), tt.path)
			if tt.setup != nil {
				tt.setup(t, hp)
			}
			before := wtStat(t, hp)
			snap, err := r.Snapshot(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.change(r, tt.path); err != nil {
				t.Fatal(err)
			}
			if wtStat(t, hp) == before {
				t.Fatal("the change changed nothing: the test can't tell a restore from no restore")
			}
			for i := range 2 {
				if err := r.Restore(snap); err != nil {
					t.Fatalf("restore %d: %v", i+1, err)
				}
				if got := wtStat(t, hp); got != before {
					t.Fatalf("after restore %d: %+v, want %+v", i+1, got, before)
				}
			}
		})
	}
}

func wtChown(t *testing.T, hp string, uid, gid int) {
	t.Helper()
	if err := os.Chown(hp, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func wtChmod(t *testing.T, hp string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(hp, mode); err != nil {
		t.Fatal(err)
	}
}

func TestSnapshotRefusesDirectories(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/d/x": ""})
	_, err := r.Snapshot("/etc/d")
	if err == nil || err.Error() != "/etc/d: can't snapshot a directory, only files and links" {
		t.Errorf("err = %v", err)
	}
}

// TestConfinement points links at a file and a folder outside the root, by an
// absolute path and by a chain of "..", and runs every write through them: the
// outside must stay as it was.
func TestConfinement(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	dots := strings.Repeat("../", 20) + strings.TrimPrefix(victim, "/")
	r := wtRoot(t, map[string]string{
		"etc/abs":    "->" + victim,
		"etc/dotdot": "->" + dots,
		"etc/outdir": "->" + outside,
		"run":        "->" + outside,
	})
	// The links resolve to this folder inside the root.
	if err := r.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	inside := filepath.Join(r.Dir(), victim)

	steps := []struct {
		name string
		do   func() error
	}{
		{"write through an absolute link", func() error { return r.WriteFile("/etc/abs", []byte("in1"), 0o644, 0, 0) }},
		{"write through a .. chain", func() error { return r.WriteFile("/etc/dotdot", []byte("in2"), 0o644, 0, 0) }},
		{"write under a folder link", func() error { return r.WriteFile("/etc/outdir/victim", []byte("in3"), 0o644, 0, 0) }},
		{"snapshot under a folder link", func() error {
			s, err := r.Snapshot("/etc/outdir/victim")
			if err == nil && string(s.Data) != "in3" {
				t.Errorf("snapshot read %q, want the inside file", s.Data)
			}
			return err
		}},
		{"restore under a folder link", func() error {
			return r.Restore(&Snapshot{Path: "/etc/outdir/victim", Exists: true, Data: []byte("in4"), Mode: 0o644})
		}},
		{"link under a folder link", func() error { return r.Symlink("/etc/outdir/victim", "/nowhere") }},
		{"remove under a folder link", func() error { return r.Remove("/etc/outdir/victim") }},
		{"mkdir under a folder link", func() error { return r.MkdirAll("/etc/outdir/sub", 0o755) }},
		{"lock with /run linked outside", func() error {
			unlock, err := r.Lock(context.Background(), nil)
			if err == nil {
				unlock()
			}
			return err
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
		b, err := os.ReadFile(victim)
		if err != nil || string(b) != "outside" {
			t.Fatalf("%s: the outside file is now %q (%v)", s.name, b, err)
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 {
			t.Fatalf("%s: something was made outside the root: %v", s.name, ents)
		}
	}
	if _, err := os.Stat(filepath.Join(inside + "/../sub")); err != nil {
		t.Errorf("mkdir did not land inside the root: %v", err)
	}
	if _, err := os.Stat(filepath.Join(r.Dir(), outside, "unloop.lock")); err != nil {
		t.Errorf("the lock did not land inside the root: %v", err)
	}
}

func TestLock(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/x": ""})
	unlock, err := r.Lock(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = r.Lock(ctx, nil)
	if err == nil {
		t.Fatal("a second Lock got the lock")
	}
	if time.Since(start) < 90*time.Millisecond {
		t.Errorf("the second Lock gave up after %v, before its context ended", time.Since(start))
	}
	want := "/run/unloop.lock: another unloop (pid " // this process holds it
	if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want %q… wrapping the deadline", err, want)
	}
	unlock()
	unlock() // twice is harmless

	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	unlock2, err := r.Lock(ctx2, nil)
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	unlock2()
}

// TestLockWaits checks that a Lock waiting for its context gets the lock when
// the holder lets go.
func TestLockWaits(t *testing.T) {
	r := wtRoot(t, map[string]string{"run/x": ""})
	unlock, err := r.Lock(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, unlock)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unlock2, err := r.Lock(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock2()
}

// wtPrivateMounts moves this test's goroutine, for good, onto a thread with its
// own mount namespace, so its mounts never reach the machine. Subtests run on
// other goroutines: tests that call it must not mount in t.Run.
func wtPrivateMounts(t *testing.T) {
	runtime.LockOSThread() // never unlocked: the thread ends with the test
	if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
		t.Skipf("no mount namespace: %v", err)
	}
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		t.Skipf("can't make mounts private: %v", err)
	}
}

func wtMount(t *testing.T, src, dst string, flags uintptr) {
	t.Helper()
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND|flags, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dst, syscall.MNT_DETACH) })
}

func TestWriteFileReadOnlyFolder(t *testing.T) {
	wtPrivateMounts(t)
	r := wtRoot(t, map[string]string{"etc/dhcp/dhclient.conf": "old\n"})
	dir := filepath.Join(r.Dir(), "etc/dhcp")
	wtMount(t, dir, dir, 0)
	if err := syscall.Mount("", dir, "", syscall.MS_BIND|syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Skipf("read-only remount: %v", err)
	}
	for _, tt := range []struct {
		name string
		do   func() error
		want string
	}{
		{"write", func() error { return r.WriteFile("/etc/dhcp/dhclient.conf", []byte("new\n"), 0o644, 0, 0) },
			"/etc/dhcp/dhclient.conf: creating a temp file beside it: read-only file system"},
		{"link", func() error { return r.Symlink("/etc/dhcp/dhclient.conf", "x") },
			"/etc/dhcp/dhclient.conf: linking to x: read-only file system"},
		{"remove", func() error { return r.Remove("/etc/dhcp/dhclient.conf") },
			"/etc/dhcp/dhclient.conf: removing: read-only file system"},
		{"restore", func() error { return r.Restore(&Snapshot{Path: "/etc/dhcp/dhclient.conf"}) },
			"/etc/dhcp/dhclient.conf: removing: read-only file system"},
	} {
		err := tt.do()
		if err == nil || err.Error() != tt.want || !errors.Is(err, syscall.EROFS) {
			t.Errorf("%s: err = %v, want %q wrapping EROFS", tt.name, err, tt.want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "dhclient.conf")); string(b) != "old\n" {
		t.Errorf("file is now %q", b)
	}
}

// TestWriteFileBindMounted covers the EBUSY fallback with a real bind mount, as
// a container runtime makes /etc/resolv.conf.
func TestWriteFileBindMounted(t *testing.T) {
	wtPrivateMounts(t)
	wtUmask(t)
	r := wtRoot(t, map[string]string{"etc/resolv.conf": "nameserver 169.254.25.10\nnameserver 192.0.2.53\n"})
	src := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(src, []byte("nameserver 169.254.25.10\nnameserver 192.0.2.53\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(r.Dir(), "etc/resolv.conf")
	wtMount(t, src, dst, 0)
	probe := filepath.Join(r.Dir(), "etc/probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(probe, dst); !errors.Is(err, syscall.EBUSY) {
		t.Skipf("renaming over a bind mount gave %v, not EBUSY", err)
	}
	if err := os.Remove(probe); err != nil {
		t.Fatal(err)
	}
	data := []byte("nameserver 192.0.2.53\n") // shorter than the old: the tail must go
	if err := r.WriteFile("/etc/resolv.conf", data, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	want := wtState{kind: "file", data: string(data), mode: 0o644}
	for _, hp := range []string{dst, src} {
		if got := wtStat(t, hp); got != want {
			t.Errorf("%s: %+v, want %+v", hp, got, want)
		}
	}
	wtNoTempFiles(t, filepath.Dir(dst))
}
