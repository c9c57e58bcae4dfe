package journal

import (
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg"
)

// A write or a link swap killed before its rename leaves its temp file or
// renameio's temp folder beside the path; recovering the run removes exactly
// those that hold what the run or its rollback was writing, and keeps every
// other file of that name's shape (an admin's).
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const (
		orig = "nameserver 169.254.25.10\nnameserver 10.0.0.2\n"
		fix  = "nameserver 10.0.0.2\n"
	)
	must(os.MkdirAll(filepath.Join(dir, "etc/dhcp"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "var/lib/unloop/runs/20260101T000000Z-dead"), 0o700))
	files := map[string]string{
		"etc/resolv.conf":               orig,
		"etc/.resolv.conf8733254024039": fix,               // the run's write, killed at its rename
		"etc/.resolv.conf42":            orig,              // the rollback's write of the original
		"etc/.resolv.conf43":            "nameserver 169.", // the rollback's write, killed midway
		"etc/.resolv.conf44":            "",                // a write killed before it wrote
		"etc/.resolv.conf2024":          "nameserver 1.1.1.1\n# keep: the admin's copy\n",
		"etc/.resolv.conf.bak":          "keep: not a temp name",
		"etc/.resolv.confx1":            "keep: not a temp name",
		"etc/.hosts123":                 fix, // keep: not a path of the run
		"etc/dhcp/.resolv.conf42":       fix, // keep: another folder
		"var/lib/unloop/runs/20260101T000000Z-dead/.manifest.json3398861499": "{\"version\": 2, \"id\"",
	}
	for p, data := range files {
		must(os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644))
	}
	// renameio.Symlink's folders, killed before their rename: one to the
	// run's target, one to somewhere else.
	must(os.Mkdir(filepath.Join(dir, "etc/.resolv.conf1574673202"), 0o700))
	must(os.Symlink("../run/systemd/resolve/resolv.conf", filepath.Join(dir, "etc/.resolv.conf1574673202/tmp.symlink")))
	must(os.Mkdir(filepath.Join(dir, "etc/.resolv.conf7"), 0o700))
	must(os.Symlink("/srv/admin/resolv.conf", filepath.Join(dir, "etc/.resolv.conf7/tmp.symlink")))

	root, err := hostcfg.NewRoot(dir)
	must(err)
	snap, err := root.Snapshot("/etc/resolv.conf")
	must(err)
	j := &Journal{ID: "20260101T000000Z-dead", Dir: path.Join(Dir, "20260101T000000Z-dead"), Created: time.Now(),
		Snapshots: []*hostcfg.Snapshot{snap},
		Left:      []Left{LeftFile("/etc/resolv.conf", []byte(fix)), {Path: "/etc/resolv.conf", Exists: true, Link: "../run/systemd/resolve/resolv.conf"}}}
	j.RemoveTemps(root, slog.New(slog.DiscardHandler))

	want := []string{"etc/.hosts123", "etc/.resolv.conf.bak", "etc/.resolv.conf2024", "etc/.resolv.conf7/tmp.symlink",
		"etc/.resolv.confx1", "etc/dhcp/.resolv.conf42", "etc/resolv.conf"}
	if left := walkFiles(t, dir); !slices.Equal(left, want) {
		t.Fatalf("left %q, want %q", left, want)
	}
}

// A file of a temp name's shape that is empty or holds the start of the
// original, but was there before the run began, is not the run's: it stays.
func TestRemoveTempsKeepsOlderFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, data := range map[string]string{"etc/resolv.conf": "nameserver 10.0.0.2\n", "etc/.resolv.conf1": "", "etc/.resolv.conf2": "nameserver"} {
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := root.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	j := &Journal{ID: "20260101T000000Z-dead", Dir: path.Join(Dir, "20260101T000000Z-dead"), Created: time.Now().Add(time.Hour),
		Snapshots: []*hostcfg.Snapshot{snap}}
	j.RemoveTemps(root, slog.New(slog.DiscardHandler))
	if left, want := walkFiles(t, dir), []string{"etc/.resolv.conf1", "etc/.resolv.conf2", "etc/resolv.conf"}; !slices.Equal(left, want) {
		t.Fatalf("left %q, want %q", left, want)
	}
}

// A run killed while its first manifest was written leaves only the
// manifest's temp file in its folder, and no manifest to list the run by:
// the next apply's CleanTemps removes the file and the folder. A folder with
// an empty manifest (Quarantine's) or anything else in it stays.
func TestCleanTempsUnjournaledRun(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "var/lib/unloop/runs")
	for p, data := range map[string]string{
		"20260101T000000Z-0001/.manifest.json3398861499": "{\n  \"version\": 2,\n",
		"20260101T000000Z-0002/manifest.json":            "",
		"20260101T000000Z-0002/.manifest.json12":         "{",
		"20260101T000000Z-0003/.manifest.json77":         "{",
		"20260101T000000Z-0003/notes.txt":                "keep: not unloop's",
	} {
		if err := os.MkdirAll(filepath.Join(runs, filepath.Dir(p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(runs, p), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	CleanTemps(root, slog.New(slog.DiscardHandler))
	want := []string{"var/lib/unloop/runs/20260101T000000Z-0002/.manifest.json12", "var/lib/unloop/runs/20260101T000000Z-0002/manifest.json",
		"var/lib/unloop/runs/20260101T000000Z-0003/notes.txt"}
	if left := walkFiles(t, dir); !slices.Equal(left, want) {
		t.Fatalf("left %q, want %q", left, want)
	}
	if _, err := os.Stat(filepath.Join(runs, "20260101T000000Z-0001")); !os.IsNotExist(err) {
		t.Errorf("the killed run's empty folder is still there (%v)", err)
	}
}

// walkFiles lists the files and links under dir, relative to it.
func walkFiles(t *testing.T, dir string) []string {
	t.Helper()
	var left []string
	if err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, rel)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return left
}

// Two runs in one second (a crashed run and the apply that recovers it, a
// failed apply retried at once): the last one is the one made last, whatever
// its random suffix, or recovery and rollback act on the wrong run.
func TestLastSameSecond(t *testing.T) {
	root, err := hostcfg.NewRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	snap := &hostcfg.Snapshot{Path: "/etc/resolv.conf"}
	for _, id := range []string{"20260101T000000Z-ffff", "20260101T000000Z-0000"} {
		if _, err := New(root, id, []string{"dhclient"}, []*hostcfg.Snapshot{snap}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	j, err := Last(root)
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "20260101T000000Z-0000" {
		t.Fatalf("Last = %s, want the run journaled last", j.ID)
	}
}
