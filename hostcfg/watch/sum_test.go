package watch

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/unloop/unloop/hostcfg"
)

// Sum differs when what a check reads differs, and only then: a file
// written and put back (an apply rolled back), or rewritten with the same
// bytes, is the same; chattr +i (e2fsprogs' chattr, on this test's ext4
// folder) is not.
func TestSum(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "etc/resolv.conf"), "nameserver 10.0.0.2\n")
	write(t, filepath.Join(root, "etc/kubernetes/kubelet-config.yaml"), "resolvConf: /etc/resolv.conf\n")
	tree, err := hostcfg.NewRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/etc/resolv.conf", "/etc/kubernetes", "/etc/kubernetes/kubelet-config.yaml", "/etc/dhclient-*.conf"}
	base := Sum(tree, paths)
	same := func(name string, want bool) {
		t.Helper()
		if got := Sum(tree, paths) == base; got != want {
			t.Errorf("%s: same sum %v, want %v", name, got, want)
		}
	}
	kc := filepath.Join(root, "etc/kubernetes/kubelet-config.yaml")

	write(t, kc+".tmp", "resolvConf: /etc/unloop/resolv.conf\n")
	if err := os.Rename(kc+".tmp", kc); err != nil {
		t.Fatal(err)
	}
	same("written", false)
	write(t, kc, "resolvConf: /etc/resolv.conf\n")
	same("written and rolled back", true)

	if err := os.Chmod(kc, 0o600); err != nil {
		t.Fatal(err)
	}
	same("mode changed", false)
	if err := os.Chmod(kc, 0o644); err != nil {
		t.Fatal(err)
	}

	chattr(t, "+i", kc)
	t.Cleanup(func() { exec.Command("chattr", "-i", kc).Run() })
	same("chattr +i", false)
	chattr(t, "-i", kc)
	same("chattr -i", true)

	write(t, filepath.Join(root, "etc/dhclient-eth0.conf"), "")
	same("a name matching a pattern", false)
	if err := os.Remove(filepath.Join(root, "etc/dhclient-eth0.conf")); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(root, "etc/kubernetes/new.conf"), "")
	same("a name in a watched folder", false)
}

func chattr(t *testing.T, flag, p string) {
	t.Helper()
	if out, err := exec.Command("chattr", flag, p).CombinedOutput(); err != nil {
		t.Fatalf("chattr %s %s: %v: %s", flag, p, err, out)
	}
}
