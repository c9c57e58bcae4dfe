package hostcfg

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

// A Recording root lists the paths it read or listed (a Glob by its
// pattern), found or not, with every link on the way and where they led;
// what it only stat'ed is no input, and a root that does not record lists
// nothing.
func TestRecordingInputs(t *testing.T) {
	r := wtRoot(t, map[string]string{
		// A chain of links: the stub file is a link too.
		"etc/resolv.conf":                      "->../run/systemd/resolve/stub-resolv.conf",
		"run/systemd/resolve/stub-resolv.conf": "->/run/systemd/resolve/resolv.conf",
		"run/systemd/resolve/resolv.conf":      "nameserver 10.0.0.2\n",
		// A folder behind an absolute link, resolved inside the root.
		"etc/kubernetes":             "->/srv/k8s",
		"srv/k8s/kubelet.conf":       "x\n",
		"etc/kubelet.conf.d/10.conf": "y\n",
		"etc/stat-only":              "z\n",
		"etc/dangling":               "->/opt/missing.yaml",
	})
	rec := r.Recording()
	if !rec.Records() || r.Records() {
		t.Fatal("Records: want true for a recording root only")
	}
	for _, p := range []string{"/etc/resolv.conf", "/etc/kubernetes/kubelet.conf"} {
		if _, err := rec.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/etc/missing.env", "/etc/dangling"} {
		if _, _, err := rec.ReadFileIfExists(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := rec.Glob("/etc/kubelet.conf.d", "*.conf"); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.ReadDir("/etc/no-such.d"); err != nil {
		t.Fatal(err)
	}
	if _, err := rec.Stat("/etc/stat-only"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/etc/dangling",
		"/etc/kubelet.conf.d/*.conf",
		"/etc/kubernetes/kubelet.conf",
		"/etc/missing.env",
		"/etc/no-such.d",
		"/etc/resolv.conf",
		"/opt/missing.yaml",
		"/run/systemd/resolve/resolv.conf",
		"/run/systemd/resolve/stub-resolv.conf",
		"/srv/k8s/kubelet.conf",
	}
	if got := rec.Inputs(); !slices.Equal(got, want) {
		t.Errorf("Inputs:\n got %q\nwant %q", got, want)
	}
	if _, err := r.ReadFile("/etc/resolv.conf"); err != nil {
		t.Fatal(err)
	}
	if got := r.Inputs(); got != nil {
		t.Errorf("a root that does not record has inputs %q", got)
	}
}

// A Recording root says (for -v) what each read and listing found: there or
// not, its size, where links led, why what is there can't be read; the
// first of each, in path order.
func TestRecordingFounds(t *testing.T) {
	r := wtRoot(t, map[string]string{
		"etc/resolv.conf":                      "->../run/systemd/resolve/stub-resolv.conf",
		"run/systemd/resolve/stub-resolv.conf": "nameserver 127.0.0.53\n",
		"etc/systemd/resolved.conf.d/a.conf":   "[Resolve]\n",
	})
	rec := r.Recording()
	rec.ReadFile("/etc/resolv.conf")
	rec.ReadFile("/etc/hosts")
	rec.ReadFile("/etc/systemd/resolved.conf.d") // a folder: unreadable as a file
	rec.ReadDir("/etc/systemd/resolved.conf.d")
	rec.Glob("/etc/NetworkManager/conf.d", "*.conf")
	hp := filepath.Join(r.Dir(), "run/systemd/resolve/stub-resolv.conf")
	if err := os.Remove(hp); err != nil {
		t.Fatal(err)
	}
	rec.ReadFile("/etc/resolv.conf") // the first read is the one kept
	var got []string
	for _, f := range rec.Founds() {
		s := f.Op + " " + f.Path
		if f.Led != "" {
			s += " led " + f.Led
		}
		s += " exists=" + strconv.FormatBool(f.Exists) + " size=" + strconv.Itoa(f.Size)
		if f.Err != nil {
			s += " err"
		}
		got = append(got, s)
	}
	want := []string{
		"list /etc/NetworkManager/conf.d exists=false size=0",
		"read /etc/hosts exists=false size=0",
		"read /etc/resolv.conf led /run/systemd/resolve/stub-resolv.conf exists=true size=22",
		"read /etc/systemd/resolved.conf.d exists=true size=0 err",
		"list /etc/systemd/resolved.conf.d exists=true size=1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Founds:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.Founds() != nil {
		t.Error("a root that does not record says what it found")
	}
}
