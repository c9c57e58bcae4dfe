package hostcfg

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestXattrsRoundTrip: a file's extended attributes are in its snapshot, come
// through the journal's JSON, and Restore puts them back on a file that lost
// them (replaced by a plain new file). user.* and trusted.* are set on every
// test machine; security.selinux only where the kernel lets a label be set
// (an SELinux kernel, or a filesystem that stores security.* as is): the test
// logs which.
func TestXattrsRoundTrip(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/resolv.conf": "nameserver 192.0.2.1\n"})
	hp := filepath.Join(r.Dir(), "etc/resolv.conf")
	want := map[string][]byte{}
	for name, val := range map[string]string{
		"user.unloop.test":  "kept",
		"trusted.unloop":    "root only",
		"security.selinux":  "system_u:object_r:net_conf_t:s0\x00",
		"user.unloop.empty": "",
	} {
		err := unix.Setxattr(hp, name, []byte(val), 0)
		switch {
		case err == nil:
			want[name] = []byte(val)
		case name == "security.selinux" && (errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EACCES)):
			t.Logf("this kernel does not let security.selinux be set here (%v): tested with user.* and trusted.*", err)
		default:
			t.Fatalf("setting %s: %v", name, err)
		}
	}
	snap, err := r.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(snap.Xattrs, want, bytes.Equal) {
		t.Fatalf("snapshot has %q, want %q", snap.Xattrs, want)
	}
	data, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(snap) {
		t.Fatalf("through JSON: %+v, want %+v", back, snap)
	}

	// A new file at the path: none of the attributes.
	if err := os.Remove(hp); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/etc/resolv.conf", []byte("nameserver 192.0.2.2\n"), 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	if now, err := r.Snapshot("/etc/resolv.conf"); err != nil || maps.EqualFunc(now.Xattrs, want, bytes.Equal) {
		t.Fatalf("the new file has %q (%v): the test can't tell a restore from none", now.Xattrs, err)
	}
	if err := r.Restore(&back); err != nil {
		t.Fatal(err)
	}
	got, err := r.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(snap) {
		t.Errorf("restored %q with %q, want %q with %q", got.Data, got.Xattrs, snap.Data, snap.Xattrs)
	}
}
