package configs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/tests/node"
)

// inRootfs runs a shell script inside a chroot of a cached rootfs, with the
// given files copied to its /tmp: a private mount namespace and a tmpfs over
// the rootfs's /tmp keep the cache untouched. It returns the combined output
// and the exit status.
func inRootfs(t *testing.T, release, script string, files map[string][]byte) (string, int) {
	t.Helper()
	rootfs, err := node.Rootfs(release)
	if err != nil {
		t.Fatal(err)
	}
	stage := t.TempDir()
	for name, data := range files {
		must(t, os.WriteFile(filepath.Join(stage, name), data, 0o644))
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-euc", `
		mount -t tmpfs tmpfs "$1/tmp"
		cp -a "$2/." "$1/tmp/"
		exec chroot "$1" /bin/sh -c "$3"`, "sh", rootfs, stage, script)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// userData is configs/cloud-init/user-data.yaml, decoded for the checks
// cloud-init's schema doesn't make.
type userData struct {
	Bootcmd    []any `yaml:"bootcmd"`
	WriteFiles []struct {
		Path    string `yaml:"path"`
		Content string `yaml:"content"`
	} `yaml:"write_files"`
}

// TestCloudInitUserData: cloud-init itself (installed in a copy of the node
// rootfs, never on this machine) accepts the user-data, and rejects a broken
// copy of it (so the check is live). Beyond the schema: the install script is
// valid sh, and the config it writes is one unloop accepts.
func TestCloudInitUserData(t *testing.T) {
	data := configFile(t, "cloud-init/user-data.yaml")
	if !strings.HasPrefix(string(data), "#cloud-config\n") {
		t.Fatalf("user-data must start with #cloud-config: cloud-init ignores it otherwise")
	}
	broken := strings.Replace(string(data), "permissions: \"0644\"", "permissions: [0644]", 1)
	if broken == string(data) {
		t.Fatal("no permissions line to break")
	}
	for _, c := range []struct {
		name  string
		data  string
		valid bool
	}{
		{"as shipped", string(data), true},
		{"permissions not a string", broken, false},
		{"bootcmd not a list", "#cloud-config\nbootcmd: 5\n", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code := inRootfs(t, "bookwormcloudinit", "cloud-init schema --config-file /tmp/user-data.yaml",
				map[string][]byte{"user-data.yaml": []byte(c.data)})
			ok := code == 0 && strings.Contains(out, "Valid cloud-config")
			if ok != c.valid {
				t.Errorf("cloud-init schema: exit %d, want valid=%v:\n%s", code, c.valid, out)
			}
			t.Logf("cloud-init schema: exit %d: %s", code, strings.TrimSpace(out))
		})
	}

	var ud userData
	if err := yaml.Unmarshal(data, &ud); err != nil {
		t.Fatal(err)
	}
	var script string
	for _, c := range ud.Bootcmd {
		if args, ok := c.([]any); ok && len(args) >= 6 && args[2] == "unloop-install" && args[4] == "-euc" {
			script, _ = args[5].(string)
		}
	}
	if script == "" {
		t.Fatal("no cloud-init-per once unloop-install sh -euc SCRIPT in bootcmd")
	}
	if out, code := inRootfs(t, "bookwormcloudinit", "sh -n /tmp/install.sh", map[string][]byte{"install.sh": []byte(script)}); code != 0 {
		t.Errorf("the install script is not valid sh: %s", out)
	}
	var cfg string
	for _, f := range ud.WriteFiles {
		if f.Path == "/etc/unloop/unloop.yaml" {
			cfg = f.Content
		}
	}
	if cfg == "" {
		t.Fatal("write_files has no /etc/unloop/unloop.yaml")
	}
	p := filepath.Join(t.TempDir(), "unloop.yaml")
	must(t, os.WriteFile(p, []byte(cfg), 0o644))
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/resolv.conf"), []byte("nameserver 192.0.2.53\n"), 0o644))
	if out, stderr, code := unloopHost(t, "check", "--config", p, "--root", root, "--offline"); code != 0 {
		t.Errorf("unloop refuses the config the user-data writes: exit %d\n%s%s", code, out, stderr)
	}
}
