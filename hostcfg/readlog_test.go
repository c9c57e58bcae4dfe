package hostcfg

import (
	"os"
	"path/filepath"
	"testing"
)

// A Recording root keeps the first bytes it read of each file, by the path
// after links, and no other root remembers anything.
func TestRecordingFirstRead(t *testing.T) {
	r := wtRoot(t, map[string]string{
		"etc/resolv.conf":                      "->../run/systemd/resolve/stub-resolv.conf",
		"run/systemd/resolve/stub-resolv.conf": "nameserver 127.0.0.53\n",
		"etc/empty":                            "",
	})
	rec := r.Recording()
	if _, err := rec.ReadFile("/etc/resolv.conf"); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.ReadFile("/etc/empty"); err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(r.Dir(), "run/systemd/resolve/stub-resolv.conf")
	if err := os.WriteFile(hp, []byte("nameserver 10.0.0.2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := rec.ReadFile("/run/systemd/resolve/stub-resolv.conf"); err != nil || string(b) != "nameserver 10.0.0.2\n" {
		t.Fatalf("second read: %q, %v", b, err)
	}
	for _, p := range []string{"/etc/resolv.conf", "/run/systemd/resolve/stub-resolv.conf"} {
		if b, ok := rec.FirstRead(p); !ok || string(b) != "nameserver 127.0.0.53\n" {
			t.Errorf("FirstRead(%s) = %q, %v; want the first read's bytes", p, b, ok)
		}
	}
	if b, ok := rec.FirstRead("/etc/empty"); !ok || len(b) != 0 {
		t.Errorf("FirstRead of an empty file = %q, %v", b, ok)
	}
	if _, ok := rec.FirstRead("/etc/hosts"); ok {
		t.Error("FirstRead of a file never read says it was read")
	}
	if _, err := r.ReadFile("/etc/empty"); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.FirstRead("/etc/empty"); ok {
		t.Error("a root that does not record remembers a read")
	}
	if _, ok := r.Recording().FirstRead("/etc/resolv.conf"); ok {
		t.Error("a new recording shares the old one's reads")
	}
}
