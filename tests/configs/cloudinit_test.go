package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
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
	// The package is installed only against a sha256 the user set: as
	// shipped (no sums) and with a wrong sum, the script fails before dpkg.
	deb, _ := buildPackages(t, "v0.1.0")
	debData, err := os.ReadFile(deb)
	must(t, err)
	local := strings.Replace(script, `base="https://github.com/unloop/unloop/releases/download/v$version"`, `base="file:///tmp"`, 1)
	wrong := strings.Replace(local, "sums='\n", "sums='\n"+strings.Repeat("0", 64)+"  "+filepath.Base(deb)+"\n", 1)
	for _, c := range []struct{ name, script, want string }{
		{"as shipped", local, "no sha256 for unloop_0.1.0-1_amd64.deb in the user-data's sums: not installing"},
		{"wrong sum", wrong, "unloop_0.1.0-1_amd64.deb does not match its sha256"},
	} {
		files := map[string][]byte{"install.sh": []byte(c.script), filepath.Base(deb): debData}
		out, code := inRootfs(t, "bookwormcloudinit", "sh -eu /tmp/install.sh", files)
		t.Logf("%s: exit %d: %s", c.name, code, strings.TrimSpace(out))
		if code == 0 || !strings.Contains(out, c.want) || strings.Contains(out, "Setting up unloop") {
			t.Errorf("%s: exit %d, want a refusal saying %q and no install:\n%s", c.name, code, c.want, out)
		}
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
	// A node's os-release: a root with none (and no kubelet) is no node.
	must(t, os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\n"), 0o644))
	if out, stderr, code := unloopHost(t, "check", "--config", p, "--root", root, "--offline"); code != 0 {
		t.Errorf("unloop refuses the config the user-data writes: exit %d\n%s%s", code, out, stderr)
	}
}

// TestCloudInitFirstBoot boots a node whose only provisioning is the
// user-data, read by the real cloud-init from a NoCloud seed, with the
// package served from the test's own network (the user-data's base URL
// pointed there, as for a mirror). On that first boot cloud-init installs
// the package from bootcmd, writes the site config, and unloop.service runs
// before kubelet and fixes the looping node (resolved's stub, kubelet without
// resolvConf); kubelet starts with the fix. The next boot runs bootcmd's
// install no more, and unloop finds nothing to change.
func TestCloudInitFirstBoot(t *testing.T) {
	deb, _ := buildPackages(t, "v0.1.0")
	nw := newNet(t)
	nw.Daemon("http server", "python3", "-m", "http.server", "8080",
		"--bind", nw.Upstream, "--directory", filepath.Dir(deb))

	userData := string(configFile(t, "cloud-init/user-data.yaml"))
	const release = `base="https://github.com/unloop/unloop/releases/download/v$version"`
	if !strings.Contains(userData, release) || !strings.Contains(userData, "version=0.1.0\n") {
		t.Fatalf("the user-data has no %s and version=0.1.0 to point at the test's mirror", release)
	}
	userData = strings.Replace(userData, release, `base="http://`+nw.Upstream+`:8080"`, 1)
	// The user sets the package's sha256, as the user-data asks.
	debData, err := os.ReadFile(deb)
	must(t, err)
	sum := sha256.Sum256(debData)
	const sums = "sums='\n      '"
	if !strings.Contains(userData, sums) {
		t.Fatalf("the user-data has no empty %q to fill in", sums)
	}
	userData = strings.Replace(userData, sums, "sums='\n      "+hex.EncodeToString(sum[:])+"  "+filepath.Base(deb)+"\n      '", 1)

	n := node.Boot(t, node.Options{Release: "bookwormcloudinit", NetNS: nw.NodeNS, Overlay: t.TempDir(),
		BootTimeout: time.Minute,
		Files: map[string]node.File{
			"/var/lib/cloud/seed/nocloud/meta-data": {Data: []byte("instance-id: iid-unloop-test\nlocal-hostname: node\n")},
			"/var/lib/cloud/seed/nocloud/user-data": {Data: []byte(userData)},
			// The test gives the node its address from outside; the minimal
			// rootfs has no locales package for cloud-init's locale module.
			"/etc/cloud/cloud.cfg.d/99-unloop-test.cfg":                   {Data: []byte("datasource_list: [NoCloud]\nnetwork: {config: disabled}\nlocale: false\n")},
			"/etc/systemd/resolved.conf.d/upstream.conf":                  {Data: []byte("[Resolve]\nDNS=" + nw.Upstream + "\n")},
			"/etc/systemd/system/kubelet.service":                         {Data: []byte(kubeletUnit)},
			"/etc/systemd/system/multi-user.target.wants/kubelet.service": {Link: "/etc/systemd/system/kubelet.service"},
			"/var/lib/kubelet/config.yaml":                                {Data: []byte(testbed.KubeletConfig)},
		}})
	waitActive(t, n, "kubelet.service")
	out, code := testbed.Exec(t, n, "cloud-init", "status", "--wait", "--long")
	if code != 0 || !strings.Contains(out, "status: done") {
		t.Fatalf("cloud-init: exit %d\n%s\n%s", code, out, n.Run("sh", "-c", "tail -n 40 /var/log/cloud-init-output.log"))
	}
	waitActive(t, n, "unloop.service", "unloop.path")
	readBoot(t, n, true)
	if log := unloopLog(t, n, "unloop.service"); !strings.Contains(log, "Applied run") || !strings.Contains(log, `"msg":"wrote"`) {
		t.Errorf("the first boot's unloop.service did not apply (with the JSON logs the site config asks for):\n%s", log)
	}
	if kubelet := unloopLog(t, n, "kubelet.service"); !strings.Contains(kubelet, "resolvConf: /run/systemd/resolve/resolv.conf") {
		t.Errorf("kubelet started without the fix on the first boot:\n%s", kubelet)
	}
	if cfg, _ := n.ReadFile("/etc/unloop/unloop.yaml"); !strings.Contains(string(cfg), "log-format: json") {
		t.Errorf("write_files' config is not in place:\n%s", cfg)
	}
	if st := strings.Fields(n.Run("systemctl", "is-enabled", "unloop.service", "unloop.path")); len(st) != 2 || st[0] != "enabled" || st[1] != "enabled" {
		t.Errorf("units after the first boot: %v", st)
	}

	n.Reboot()
	waitActive(t, n, "kubelet.service", "unloop.service")
	readBoot(t, n, true)
	if log := unloopLog(t, n, "unloop.service"); !strings.Contains(log, "No change") {
		t.Errorf("the second boot's unloop.service:\n%s", log)
	}
	if out := n.Run("sh", "-c", "grep -c 'Setting up unloop' /var/log/cloud-init-output.log || true"); strings.TrimSpace(out) != "1" {
		t.Errorf("the package was installed %s times over two boots, want once", strings.TrimSpace(out))
	}
}
