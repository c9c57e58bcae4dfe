package hostcfg

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// swapForLink replaces the folder or file at hp with a link to target, as a
// user who owns the folder above could, at the moment a test hook says.
func swapForLink(t *testing.T, hp, target string) {
	t.Helper()
	if err := os.Rename(hp, hp+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, hp); err != nil {
		t.Fatal(err)
	}
}

// The Corefile swapped for a link to another file inside the root after the
// read and before the rename: confinement alone lets that through, the
// inode check must not. Nothing is written, nothing is left beside it.
func TestReplaceFileRefusesLinkSwappedIn(t *testing.T) {
	r := wtRoot(t, map[string]string{
		"etc/coredns/Corefile": ".:53 {\n    forward . 169.254.25.10\n}\n",
		"etc/profile.d/x.sh":   "export PATH=/usr/bin\n",
	})
	before, err := r.Snapshot("/etc/coredns/Corefile")
	if err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(r.Dir(), "etc/coredns/Corefile")
	r = r.WithTestHook(func(step, p string) {
		if step == "rename" {
			swapForLink(t, hp, "/etc/profile.d/x.sh")
		}
	})
	err = r.ReplaceFile(before, []byte("echo owned\n"), 0o644, 0, 0)
	if !errors.Is(err, ErrSwapped) || !strings.HasPrefix(err.Error(), "/etc/coredns/Corefile: swapped since unloop read it: it is a link now") {
		t.Fatalf("err = %v, want a refusal: a link swapped in", err)
	}
	if st := wtStat(t, filepath.Join(r.Dir(), "etc/profile.d/x.sh")); st.data != "export PATH=/usr/bin\n" {
		t.Errorf("the link's target was written: %+v", st)
	}
	if st := wtStat(t, hp); st.kind != "link" {
		t.Errorf("the swapped-in link is now %+v", st)
	}
	wtNoTempFiles(t, filepath.Dir(hp))
}

// A file rewritten by another writer between the read and the rename (a DHCP
// renew) is refused, and its new content stays.
func TestReplaceFileRefusesLostUpdate(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/resolv.conf": "nameserver 169.254.25.10\n"})
	before, err := r.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(r.Dir(), "etc/resolv.conf")
	r = r.WithTestHook(func(step, p string) {
		if step == "rename" {
			if err := os.WriteFile(hp, []byte("nameserver 10.9.9.9\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	err = r.ReplaceFile(before, []byte("nameserver 10.0.0.1\n"), 0o644, 0, 0)
	if !errors.Is(err, ErrChanged) || err.Error() != "/etc/resolv.conf: changed since unloop read it: its content is not what unloop read" {
		t.Fatalf("err = %v", err)
	}
	if st := wtStat(t, hp); st.data != "nameserver 10.9.9.9\n" {
		t.Errorf("the renewed file was overwritten: %+v", st)
	}
	wtNoTempFiles(t, filepath.Dir(hp))
}

// dhclient-enter-hooks.d swapped for a link out of the root after the write
// began: nothing is written outside, no temp file is left there, and the
// write either lands in the folder it resolved or is refused.
func TestWriteFolderSwappedOutOfRoot(t *testing.T) {
	outside := t.TempDir()
	r := wtRoot(t, map[string]string{"etc/dhcp/dhclient-enter-hooks.d/other": "x"})
	hooks := filepath.Join(r.Dir(), "etc/dhcp/dhclient-enter-hooks.d")
	before, err := r.Snapshot("/etc/dhcp/dhclient-enter-hooks.d/unloop")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"open", "rename"} {
		t.Run(step, func(t *testing.T) {
			r := r.WithTestHook(func(s, p string) {
				if s == step {
					swapForLink(t, hooks, outside)
				}
			})
			t.Cleanup(func() {
				os.Remove(hooks)
				os.Rename(hooks+".moved", hooks)
			})
			if step == "open" {
				// The lookup of the folder happens after the swap: it
				// resolves the link inside the root, where nothing is.
				if _, err := r.ReadFile("/etc/dhcp/dhclient-enter-hooks.d/other"); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("read through the swapped folder: %v", err)
				}
				return
			}
			// The write holds the folder's handle: it lands in the folder
			// it resolved (moved aside, still inside the root).
			if err := r.ReplaceFile(before, []byte("#!/bin/sh\n"), 0o755, 0, 0); err != nil {
				t.Fatal(err)
			}
			if st := wtStat(t, filepath.Join(hooks+".moved", "unloop")); st.data != "#!/bin/sh\n" {
				t.Errorf("the hook is not in the folder that was resolved: %+v", st)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("written outside the root: %v", ents)
			}
			wtNoTempFiles(t, hooks+".moved")
		})
	}
}

// A folder swapped for a link out of the root while check reads: what is
// read comes from inside the root, never from the file outside.
func TestReadFolderSwappedOutOfRoot(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "resolv.conf"), []byte("nameserver 203.0.113.66\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := wtRoot(t, map[string]string{
		"run/systemd/resolve/resolv.conf": "nameserver 10.0.0.2\n",
		"etc/resolv.conf":                 "->../run/systemd/resolve/resolv.conf",
	})
	dir := filepath.Join(r.Dir(), "run/systemd/resolve")
	r = r.WithTestHook(func(step, p string) {
		if step == "open" {
			swapForLink(t, dir, outside)
		}
	})
	data, err := r.ReadFile("/etc/resolv.conf")
	if strings.Contains(string(data), "203.0.113.66") {
		t.Fatalf("read the file outside the root: %q", data)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v, want the link resolved inside the root, where nothing is", err)
	}
}

// A replaced file keeps its extended attributes: user.*, and the ACL (SELinux's
// label is one more attribute, security.selinux, copied the same way).
func TestWriteFileKeepsXattrs(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/resolv.conf": "nameserver 169.254.25.10\n"})
	hp := filepath.Join(r.Dir(), "etc/resolv.conf")
	want := map[string][]byte{"user.unloop-test": []byte("kept")}
	// An ACL giving uid 4242 read access (system.posix_acl_access, version 2).
	acl := []byte{2, 0, 0, 0, 1, 0, 6, 0, 255, 255, 255, 255, 2, 0, 4, 0, 0x92, 0x10, 0, 0, 4, 0, 4, 0, 255, 255, 255, 255, 16, 0, 4, 0, 255, 255, 255, 255, 32, 0, 4, 0, 255, 255, 255, 255}
	if err := unix.Setxattr(hp, "system.posix_acl_access", acl, 0); err == nil {
		want["system.posix_acl_access"] = acl
	} else {
		t.Logf("no ACLs here: %v", err)
	}
	if err := r.SetXattrs("/etc/resolv.conf", map[string][]byte{"user.unloop-test": []byte("kept")}); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	fi, err := os.Stat(hp)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/etc/resolv.conf", []byte("nameserver 10.0.0.1\n"), fi.Mode().Perm(), 0, 0); err != nil {
		t.Fatal(err)
	}
	got, err := r.Xattrs("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	for name, val := range want {
		if string(got[name]) != string(val) {
			t.Errorf("%s: %q, want %q", name, got[name], val)
		}
	}
}

// The folder swapped, between the read and the write, for a link to another
// folder inside the root holding a copy of the file: the write is refused.
func TestReplaceFileRefusesFolderSwappedInside(t *testing.T) {
	r := wtRoot(t, map[string]string{
		"etc/coredns/Corefile": "same\n",
		"etc/decoy/Corefile":   "same\n",
	})
	before, err := r.Snapshot("/etc/coredns/Corefile")
	if err != nil {
		t.Fatal(err)
	}
	swapForLink(t, filepath.Join(r.Dir(), "etc/coredns"), "/etc/decoy")
	err = r.ReplaceFile(before, []byte("new\n"), 0o644, 0, 0)
	if !errors.Is(err, ErrSwapped) || !strings.Contains(err.Error(), "its folder was replaced") {
		t.Fatalf("err = %v, want a refusal: the folder was replaced", err)
	}
	if st := wtStat(t, filepath.Join(r.Dir(), "etc/decoy/Corefile")); st.data != "same\n" {
		t.Errorf("the decoy was written: %+v", st)
	}
}

// RestoreOver (a rollback's write) checks the path is still the file it
// decided on just before its rename or unlink: a writer that got there in
// between keeps its content, and nothing is left beside it.
func TestRestoreOverRefusesNewer(t *testing.T) {
	tests := []struct {
		name string
		orig map[string]string // the tree when the original was snapshotted
		run  string            // what the run left at /etc/resolv.conf
	}{
		{"a file put back", map[string]string{"etc/resolv.conf": "nameserver 192.0.2.1\n"}, "nameserver 10.0.0.1\n"},
		{"a file the run made, removed", map[string]string{"etc/hosts": ""}, "nameserver 10.0.0.1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := wtRoot(t, tt.orig)
			orig, err := r.Snapshot("/etc/resolv.conf")
			if err != nil {
				t.Fatal(err)
			}
			if err := r.WriteFile("/etc/resolv.conf", []byte(tt.run), 0o644, 0, 0); err != nil {
				t.Fatal(err)
			}
			cur, err := r.Snapshot("/etc/resolv.conf")
			if err != nil {
				t.Fatal(err)
			}
			hp := filepath.Join(r.Dir(), "etc/resolv.conf")
			renewed := "nameserver 10.9.9.9\n"
			hooked := r.WithTestHook(func(step, p string) {
				if step == "rename" {
					if err := os.WriteFile(hp, []byte(renewed), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			})
			err = hooked.RestoreOver(cur, orig)
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("err = %v, want a refusal wrapping ErrChanged", err)
			}
			if st := wtStat(t, hp); st.data != renewed {
				t.Errorf("the renewed file was overwritten: %+v", st)
			}
			wtNoTempFiles(t, filepath.Dir(hp))

			// Unchanged since cur, the same call restores.
			if err := os.WriteFile(hp, []byte(tt.run), 0o644); err != nil {
				t.Fatal(err)
			}
			if cur, err = r.Snapshot("/etc/resolv.conf"); err != nil {
				t.Fatal(err)
			}
			if err := r.RestoreOver(cur, orig); err != nil {
				t.Fatal(err)
			}
			if now, err := r.Snapshot("/etc/resolv.conf"); err != nil || !now.Equal(orig) {
				t.Errorf("after RestoreOver: %+v (%v), want %+v", now, err, orig)
			}
		})
	}
}
