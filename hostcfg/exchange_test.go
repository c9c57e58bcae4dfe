package hostcfg

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// renewAt returns a test hook that, once, at step for the path p, does what
// dhclient-script does on a renew (its own temp file renamed over the file,
// dhcp 4.4's make_resolv_conf) or what an editor writing in place does.
func renewAt(t *testing.T, step, p string, renew func()) func(string, string) {
	done := false
	return func(s, q string) {
		if s == step && q == p && !done {
			done = true
			renew()
		}
	}
}

// A DHCP renew that lands after the last check, at the very instant of the
// write: the exchange hands the renewed file back, it is not what was read,
// so it is put back and the write is refused (ErrChanged); the renewed
// content stays and nothing is left beside it. A rename over the name, as
// before, buried the renew.
func TestReplaceFileKeepsRenewAtExchange(t *testing.T) {
	const renewed = "nameserver 10.9.9.9\n"
	for name, renew := range map[string]func(hp string) error{
		"renamed over": func(hp string) error {
			if err := os.WriteFile(hp+".dhclient-new", []byte(renewed), 0o644); err != nil {
				return err
			}
			return os.Rename(hp+".dhclient-new", hp)
		},
		"written in place": func(hp string) error { return os.WriteFile(hp, []byte(renewed), 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			r := wtRoot(t, map[string]string{"etc/resolv.conf": "nameserver 169.254.25.10\n"})
			before, err := r.Snapshot("/etc/resolv.conf")
			if err != nil {
				t.Fatal(err)
			}
			hp := filepath.Join(r.Dir(), "etc/resolv.conf")
			r = r.WithTestHook(renewAt(t, "exchange", "/etc/resolv.conf", func() {
				if err := renew(hp); err != nil {
					t.Fatal(err)
				}
			}))
			err = r.ReplaceFile(before, []byte("nameserver 10.0.0.1\n"), 0o644, 0, 0)
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("err = %v, want ErrChanged", err)
			}
			if st := wtStat(t, hp); st.data != renewed {
				t.Errorf("the renewed file was overwritten: %+v", st)
			}
			wtNoTempFiles(t, filepath.Dir(hp))
		})
	}
}

// Where the plan read nothing, a file that appears at the instant of the
// write is not replaced: it stays, and the write is refused.
func TestReplaceFileKeepsFileAppearedAtExchange(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/dhcp/dhclient.conf": "send host-name = gethostname();\n"})
	before, err := r.Snapshot("/etc/dhcp/dhclient-enter-hooks.d/unloop")
	if err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(r.Dir(), "etc/dhcp/dhclient-enter-hooks.d/unloop")
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	r = r.WithTestHook(renewAt(t, "exchange", "/etc/dhcp/dhclient-enter-hooks.d/unloop", func() {
		if err := os.WriteFile(hp, []byte("# the admin's\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}))
	err = r.ReplaceFile(before, []byte("# unloop's hook\n"), 0o644, 0, 0)
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
	if st := wtStat(t, hp); st.data != "# the admin's\n" {
		t.Errorf("the file that appeared was overwritten: %+v", st)
	}
	wtNoTempFiles(t, filepath.Dir(hp))
}

// The stub strategy swaps resolv.conf for a link: a renew of the file at the
// instant of the swap stays too.
func TestReplaceLinkKeepsRenewAtExchange(t *testing.T) {
	const renewed = "nameserver 10.9.9.9\n"
	r := wtRoot(t, map[string]string{
		"etc/resolv.conf":                 "nameserver 127.0.0.53\n",
		"run/systemd/resolve/resolv.conf": "nameserver 10.0.0.2\n",
	})
	before, err := r.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(r.Dir(), "etc/resolv.conf")
	r = r.WithTestHook(renewAt(t, "exchange", "/etc/resolv.conf", func() {
		if err := os.WriteFile(hp+".new", []byte(renewed), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(hp+".new", hp); err != nil {
			t.Fatal(err)
		}
	}))
	err = r.ReplaceLink(before, "../run/systemd/resolve/resolv.conf")
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
	if st := wtStat(t, hp); st.kind == "link" || st.data != renewed {
		t.Errorf("the renewed file was replaced: %+v", st)
	}
	wtNoTempFiles(t, filepath.Dir(hp))
}

// Without a race the exchange leaves the new file and nothing else.
func TestReplaceFileExchange(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/resolv.conf": "nameserver 169.254.25.10\n"})
	before, err := r.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.ReplaceFile(before, []byte("nameserver 10.0.0.1\n"), 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(r.Dir(), "etc/resolv.conf")
	if st := wtStat(t, hp); st.data != "nameserver 10.0.0.1\n" {
		t.Errorf("resolv.conf: %+v", st)
	}
	wtNoTempFiles(t, filepath.Dir(hp))
}

// Two renews: one at the instant of the write, a second while unloop puts
// the first back. The second is the newest and is what the file holds; the
// exchange that put the first back handed the second out, and a second
// exchange took it back.
func TestReplaceFileKeepsSecondRenewAtPutBack(t *testing.T) {
	r := wtRoot(t, map[string]string{"etc/resolv.conf": "nameserver 169.254.25.10\n"})
	before, err := r.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	hp := filepath.Join(r.Dir(), "etc/resolv.conf")
	renew := func(data string) {
		if err := os.WriteFile(hp+".dhclient-new", []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(hp+".dhclient-new", hp); err != nil {
			t.Fatal(err)
		}
	}
	first, second := renewAt(t, "exchange", "/etc/resolv.conf", func() { renew("nameserver 10.9.9.1\n") }),
		renewAt(t, "put back", "/etc/resolv.conf", func() { renew("nameserver 10.9.9.2\n") })
	r = r.WithTestHook(func(s, p string) { first(s, p); second(s, p) })
	err = r.ReplaceFile(before, []byte("nameserver 10.0.0.1\n"), 0o644, 0, 0)
	if !errors.Is(err, ErrChanged) {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
	if st := wtStat(t, hp); st.data != "nameserver 10.9.9.2\n" {
		t.Errorf("resolv.conf holds %+v, want the second renew", st)
	}
	wtNoTempFiles(t, filepath.Dir(hp))
}
