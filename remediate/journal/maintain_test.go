package journal

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/unloop/unloop/hostcfg"
)

// A write or a link swap killed before its rename leaves renameio's temp file
// or folder beside the path; recovering the run removes exactly those.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "etc/dhcp"), 0o755))
	files := map[string]string{
		"etc/resolv.conf":               "nameserver 10.0.0.2\n",
		"etc/.resolv.conf8733254024039": "nameserver 10.0.0.2\nnames", // a killed write
		"etc/.resolv.conf.bak":          "keep: not a temp name",
		"etc/.resolv.confx1":            "keep: not a temp name",
		"etc/.hosts123":                 "keep: not a path of the run",
		"etc/dhcp/.resolv.conf42":       "keep: another folder",
	}
	for p, data := range files {
		must(os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644))
	}
	// renameio.Symlink's folder, killed before its rename.
	must(os.Mkdir(filepath.Join(dir, "etc/.resolv.conf1574673202"), 0o700))
	must(os.Symlink("../run/systemd/resolve/resolv.conf", filepath.Join(dir, "etc/.resolv.conf1574673202/tmp.symlink")))

	root, err := hostcfg.NewRoot(dir)
	must(err)
	snap, err := root.Snapshot("/etc/resolv.conf")
	must(err)
	(&Journal{ID: "20260101T000000Z-dead", Snapshots: []*hostcfg.Snapshot{snap}}).RemoveTemps(root, slog.New(slog.DiscardHandler))

	var left []string
	must(filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			left = append(left, rel)
		}
		return err
	}))
	want := []string{"etc/.hosts123", "etc/.resolv.conf.bak", "etc/.resolv.confx1", "etc/dhcp/.resolv.conf42", "etc/resolv.conf"}
	if !slices.Equal(left, want) {
		t.Fatalf("left %q, want %q", left, want)
	}
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
