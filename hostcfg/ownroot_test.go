package hostcfg

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// confined is r with the own-root shortcut off: every lookup through
// pathrs-lite, as on any other root.
func confined(r *Root) *Root {
	c := *r
	c.own = false
	return &c
}

// ownTree makes a folder of this machine (under /tmp, so under /) holding
// what a node's files can be: files, relative and absolute links, links
// climbing above / with "..", a dangling link, a loop, a magic link, a FIFO.
// It returns its path; node paths below it mean the same on the root "/".
func ownTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	abs := func(p string) string { return filepath.Join(dir, p) }
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(abs("etc/sub"), 0o755))
	must(os.MkdirAll(abs("run/systemd/resolve"), 0o755))
	must(os.WriteFile(abs("run/systemd/resolve/stub-resolv.conf"), []byte("nameserver 127.0.0.53\n"), 0o644))
	must(os.WriteFile(abs("etc/sub/file"), []byte("x\n"), 0o644))
	must(os.Symlink("../run/systemd/resolve/stub-resolv.conf", abs("etc/resolv.conf")))
	must(os.Symlink(abs("etc/sub/file"), abs("etc/abs")))
	must(os.Symlink(strings.Repeat("../", 30)+strings.TrimPrefix(abs("etc/sub/file"), "/"), abs("etc/dotdot")))
	must(os.Symlink(abs("nowhere/file"), abs("etc/dangling")))
	must(os.Symlink("loop2", abs("etc/loop1")))
	must(os.Symlink("loop1", abs("etc/loop2")))
	must(os.Symlink("/proc/self/root"+abs("etc/sub/file"), abs("etc/magic")))
	must(os.Symlink("sub", abs("etc/sublink")))
	must(syscall.Mkfifo(abs("etc/fifo"), 0o644))
	return dir
}

// outcome is what every reading call of r says about p, in one string.
func outcome(r *Root, p string) string {
	var b strings.Builder
	errText := func(err error) string {
		if err == nil {
			return "ok"
		}
		var fe *FileError
		if errors.As(err, &fe) {
			return fe.Err.Error()
		}
		return "unwrapped: " + err.Error()
	}
	data, err := r.ReadFile(p)
	fmt.Fprintf(&b, "read %q %s; ", data, errText(err))
	res, err := r.Resolve(p)
	fmt.Fprintf(&b, "resolve %s %s; ", res, errText(err))
	if fi, err := r.Stat(p); err == nil {
		fmt.Fprintf(&b, "stat %v; ", fi.Mode())
	} else {
		fmt.Fprintf(&b, "stat %s; ", errText(err))
	}
	if fi, err := r.Lstat(p); err == nil {
		fmt.Fprintf(&b, "lstat %v; ", fi.Mode())
	} else {
		fmt.Fprintf(&b, "lstat %s; ", errText(err))
	}
	link, err := r.Readlink(p)
	fmt.Fprintf(&b, "readlink %q %s; ", link, errText(err))
	ents, err := r.ReadDir(p)
	fmt.Fprintf(&b, "list %d %s; ", len(ents), errText(err))
	s, err := r.Snapshot(p)
	if err == nil {
		fmt.Fprintf(&b, "snapshot %q %q %v", s.Data, s.Link, s.Mode)
	} else {
		fmt.Fprintf(&b, "snapshot %s", errText(err))
	}
	return b.String()
}

// TestOwnRootReadsAsConfined: on the root "/" (the boot unit's), the plain
// lookups say exactly what the confined ones say of every kind of path:
// links relative, absolute, climbing above / and dangling, a loop, a magic
// link (refused by both), a FIFO (refused by both), a folder and its link.
func TestOwnRootReadsAsConfined(t *testing.T) {
	dir := ownTree(t)
	own, err := NewRoot("/")
	if err != nil {
		t.Fatal(err)
	}
	if !own.own {
		t.Fatal(`NewRoot("/") does not take the own-root lookups`)
	}
	for _, p := range []string{"etc/resolv.conf", "etc/abs", "etc/dotdot", "etc/dangling", "etc/loop1",
		"etc/magic", "etc/fifo", "etc/sub", "etc/sublink", "etc/sublink/file", "etc/sub/file/x",
		"etc/missing", "run/systemd/resolve/stub-resolv.conf", "etc/sublink/../resolv.conf"} {
		t.Run(p, func(t *testing.T) {
			np := filepath.Join(dir, p)
			got, want := outcome(own, np), outcome(confined(own), np)
			if got != want {
				t.Errorf("on / the plain lookup says\n  %s\nthe confined one\n  %s", got, want)
			}
		})
	}
}

// TestOtherRootStaysConfined: a root that is not this process's / (a
// folder, /host in a DaemonSet, /proc/PID/root) keeps the confined lookups:
// a link that leads outside it by an absolute path or by ".." is read
// inside it, never outside.
func TestOtherRootStaysConfined(t *testing.T) {
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("outside"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := wtRoot(t, map[string]string{
		"etc/abs":         "->" + victim,
		"etc/dotdot":      "->" + strings.Repeat("../", 20) + strings.TrimPrefix(victim, "/"),
		"etc/outdir":      "->" + outside,
		"etc/magic":       "->/proc/self/root" + victim,
		victim[1:] + "-x": "unused",
	})
	if r.own {
		t.Fatalf("the root %s takes the own-root lookups", r.Dir())
	}
	if err := os.WriteFile(filepath.Join(r.Dir(), victim), []byte("inside"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/abs", "/etc/dotdot", "/etc/outdir/victim"} {
		if data, err := r.ReadFile(p); err != nil || string(data) != "inside" {
			t.Errorf("%s read %q (%v), want the file inside the root", p, data, err)
		}
	}
	if data, err := r.ReadFile("/etc/magic"); err == nil {
		t.Errorf("/etc/magic read %q through /proc/self/root, want it refused", data)
	}
}

// BenchmarkReadOwnRoot: what one read of a node file through a link costs
// on the root "/" (the boot unit's), with the own-root lookups and with the
// confined ones they replace (issue 27); syscalls/op from
// `strace -c -f` of the test binary.
func BenchmarkReadOwnRoot(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stub-resolv.conf"), []byte("nameserver 127.0.0.53\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Symlink("stub-resolv.conf", filepath.Join(dir, "resolv.conf")); err != nil {
		b.Fatal(err)
	}
	own, err := NewRoot("/")
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range []*Root{own, confined(own)} {
		b.Run(map[bool]string{true: "own", false: "confined"}[r.own], func(b *testing.B) {
			rec := r.Recording()
			for b.Loop() {
				if _, err := rec.ReadFile(filepath.Join(dir, "resolv.conf")); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOwnRootReadCost: on the root "/", a read through a link costs less
// than half the allocations of the confined lookup (pathrs-lite's procfs
// handle, its checks and names on every open and reopen): the boot unit's
// ~150 reads are where its time went (issue 27). Allocations, not time: the
// count does not depend on the machine's load.
func TestOwnRootReadCost(t *testing.T) {
	dir := ownTree(t)
	own, err := NewRoot("/")
	if err != nil {
		t.Fatal(err)
	}
	read := func(r *Root) func() {
		return func() {
			if _, err := r.ReadFile(filepath.Join(dir, "etc/resolv.conf")); err != nil {
				t.Fatal(err)
			}
		}
	}
	plain, conf := testing.AllocsPerRun(50, read(own)), testing.AllocsPerRun(50, read(confined(own)))
	t.Logf("allocations per read: %v on / (own), %v confined", plain, conf)
	if plain > conf/2 {
		t.Errorf("a read on / makes %v allocations, the confined read %v: want at most half", plain, conf)
	}
}

// TestClean: every node path is made absolute and clean, and one that
// already is costs no allocation (every lookup cleans its path).
func TestClean(t *testing.T) {
	for in, want := range map[string]string{"": "/", "/": "/", "etc/x": "/etc/x", "/etc/x": "/etc/x", "//etc//x/": "/etc/x",
		"/a/../b": "/b", "/..": "/", "../../x": "/x", "./x/.": "/x"} {
		if got := clean(in); got != want {
			t.Errorf("clean(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = clean("/etc/systemd/resolved.conf.d") }); n != 0 {
		t.Errorf("cleaning a clean path makes %v allocations, want none", n)
	}
}
