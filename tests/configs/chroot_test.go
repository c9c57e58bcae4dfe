package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// chrootRun runs script (sh, with args) in a chroot over an overlay of the
// cached rootfs, in a private mount namespace: /proc mounted, a tmpfs on
// /run (with the folder runDir made), unloop's binaries on /opt/unloop, an
// empty folder on /tmp for the script's output, a kubelet unit and its
// config (kubeletConfig, or a bare one). Nothing outlives the command. It
// returns the output folder.
func chrootRun(t *testing.T, rootfs, runDir, script string, args ...string) string {
	t.Helper()
	return chrootRunKubelet(t, rootfs, runDir, "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n", script, args...)
}

// chrootRunKubelet is chrootRun with the kubelet config given.
func chrootRunKubelet(t *testing.T, rootfs, runDir, kubeletConfig, script string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{"upper", "work", "merged", "out", "kubelet"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(dir, "kubelet", "config.yaml"), []byte(kubeletConfig), 0o644))
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-euc", `
			m=$2/merged
			mount -t overlay overlay -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$m"
			mount -t proc proc "$m/proc"
			mount -t tmpfs tmpfs "$m/run"
			mkdir -p "$m$5" "$m/opt/unloop" "$m/var/lib/kubelet"
			mount --bind "$3" "$m/opt/unloop"
			mount --bind "$2/out" "$m/tmp"
			cp "$2/kubelet/config.yaml" "$m/var/lib/kubelet/config.yaml"
			printf '[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml\n' >"$m/etc/systemd/system/kubelet.service"
			s=$4
			shift 5
			exec chroot "$m" /bin/sh -c "$s" sh "$@"`, "sh", rootfs, dir, binDir, script, runDir}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return filepath.Join(dir, "out")
}

// reader returns a function that reads a file the script left in out.
func reader(t *testing.T, out string) func(name string) string {
	return func(name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
}
