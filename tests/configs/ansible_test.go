package configs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// recap is one host's line of Ansible's PLAY RECAP.
type recap struct{ ok, changed, unreachable, failed, skipped int }

var recapLine = regexp.MustCompile(`(?m)^node\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)`)

func parseRecap(t *testing.T, out string) recap {
	t.Helper()
	m := recapLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no PLAY RECAP line for node in:\n%s", out)
	}
	n := make([]int, 5)
	for i := range n {
		n[i], _ = strconv.Atoi(m[i+1])
	}
	return recap{n[0], n[1], n[2], n[3], n[4]}
}

// playbook runs Debian's ansible-playbook with the example playbook from the
// network side of nw (the test's own namespace), against the node over SSH.
func (a *ansibleBed) playbook(t *testing.T, args ...string) (string, time.Duration) {
	t.Helper()
	start := time.Now()
	out, err := a.run(t, args...)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("ansible-playbook %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out, took
}

// run runs the playbook as playbook does and returns its error too.
func (a *ansibleBed) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmdArgs := append([]string{"netns", "exec", a.nw.NetNS, "ansible-playbook", "-i", a.inventory,
		"-e", "unloop_binary=" + filepath.Join(binDir, "unloop"),
		filepath.Join(repo, "configs", "ansible", "playbook.yml")}, args...)
	cmd := exec.Command("ip", cmdArgs...)
	cmd.Env = append(os.Environ(),
		"HOME="+a.home, "ANSIBLE_NOCOLOR=1", "ANSIBLE_FORCE_COLOR=0", "ANSIBLE_HOST_KEY_CHECKING=False",
		"ANSIBLE_RETRY_FILES_ENABLED=False", "ANSIBLE_LOCAL_TEMP="+filepath.Join(a.home, "tmp"),
		"ANSIBLE_SSH_CONTROL_PATH_DIR="+filepath.Join(a.home, "cp"), "ANSIBLE_CONFIG="+filepath.Join(a.home, "ansible.cfg"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type ansibleBed struct {
	nw        *testbed.Net
	node      *node.Node
	home      string
	inventory string
}

// newAnsibleBed boots a node with sshd and python3 (the bookwormssh rootfs)
// on the test's own network, with a key made for this test authorized for
// root, and writes an inventory naming it in the playbook's group.
func newAnsibleBed(t *testing.T, files map[string]node.File) *ansibleBed {
	t.Helper()
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		t.Fatal("ansible-playbook not found: run `make deps` (Debian's ansible-core)")
	}
	a := &ansibleBed{nw: newNet(t), home: t.TempDir()}
	key := filepath.Join(a.home, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "unloop-test", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(key + ".pub")
	must(t, err)
	files["/root/.ssh/authorized_keys"] = node.File{Data: pub, Mode: 0o600}
	a.node = node.Boot(t, node.Options{Release: "bookwormssh", NetNS: a.nw.NodeNS, Files: files,
		Ready: []string{"dbus.service", "systemd-resolved.service", "ssh.service"}})
	// This machine's own Ansible settings (if any) must not apply.
	must(t, os.WriteFile(filepath.Join(a.home, "ansible.cfg"), []byte("[defaults]\n"), 0o644))
	a.inventory = filepath.Join(a.home, "inventory.ini")
	must(t, os.WriteFile(a.inventory, []byte(fmt.Sprintf(`[kube_node]
node ansible_host=%s ansible_user=root ansible_ssh_private_key_file=%s ansible_python_interpreter=/usr/bin/python3 ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'
`, a.nw.NodeAddr, key)), 0o644))
	return a
}

// TestAnsible runs the example playbook and its role with Debian's real
// ansible-playbook over SSH against a node that loops (resolved's stub,
// kubelet without resolvConf): the install, then --check --diff (the diff
// shown, nothing changed), a first run that fixes the node (changed=1), and a
// second that changes nothing (changed=0).
func TestAnsible(t *testing.T) {
	a := newAnsibleBed(t, map[string]node.File{
		"/etc/systemd/system/kubelet.service": {Data: []byte(kubeletUnit)},
		"/var/lib/kubelet/config.yaml":        {Data: []byte(testbed.KubeletConfig)},
	})
	nw, n := a.nw, a.node
	must(t, n.WriteFile("/etc/systemd/resolved.conf.d/upstream.conf", []byte("[Resolve]\nDNS="+nw.Upstream+"\n"), 0o644))
	n.Run("systemctl", "restart", "systemd-resolved.service")
	n.Run("systemctl", "enable", "--now", "kubelet.service")
	if !testbed.Poll(10*time.Second, func() bool {
		d, _ := n.ReadFile("/run/systemd/resolve/resolv.conf")
		return strings.Contains(string(d), "nameserver "+nw.Upstream)
	}) {
		t.Fatal("resolved's uplink file never named the upstream")
	}

	// Install only: the binary, units and config arrive, nothing is applied.
	out, took := a.playbook(t, "--tags", "unloop_install")
	r := parseRecap(t, out)
	if r.failed != 0 || r.unreachable != 0 || r.changed < 4 {
		t.Fatalf("install: %+v\n%s", r, out)
	}
	t.Logf("install run: %v, %+v", took.Round(10*time.Millisecond), r)
	if st := strings.TrimSpace(n.Run("systemctl", "is-enabled", "unloop.service", "unloop.path")); st != "enabled\nenabled" {
		t.Errorf("units not enabled: %q", st)
	}
	if d, _ := n.ReadFile("/var/lib/kubelet/config.yaml"); string(d) != testbed.KubeletConfig {
		t.Fatalf("the install run changed kubelet's config:\n%s", d)
	}

	// --check --diff: the plan's diff shown, reported as a change, nothing changed.
	out, took = a.playbook(t, "--check", "--diff")
	r = parseRecap(t, out)
	if r.failed != 0 || r.changed != 1 {
		t.Errorf("--check --diff: %+v, want changed=1 (the plan)\n%s", r, out)
	}
	for _, want := range []string{"--- /var/lib/kubelet/config.yaml", "+resolvConf: /run/systemd/resolve/resolv.conf", "restart kubelet.service"} {
		if !strings.Contains(out, want) {
			t.Errorf("--check --diff does not show %q:\n%s", want, out)
		}
	}
	if d, _ := n.ReadFile("/var/lib/kubelet/config.yaml"); string(d) != testbed.KubeletConfig {
		t.Fatalf("--check changed kubelet's config:\n%s", d)
	}
	if runs, _ := testbed.Exec(t, n, "sh", "-c", "ls /var/lib/unloop/runs 2>/dev/null | wc -l"); strings.TrimSpace(runs) != "0" {
		t.Errorf("--check journaled %s runs", strings.TrimSpace(runs))
	}
	t.Logf("--check --diff: %v, %+v", took.Round(10*time.Millisecond), r)

	// The first run fixes the node; the second finds nothing to do.
	out, first := a.playbook(t)
	r1 := parseRecap(t, out)
	if r1.failed != 0 || r1.changed != 1 {
		t.Fatalf("first run: %+v, want changed=1\n%s", r1, out)
	}
	if d, _ := n.ReadFile("/var/lib/kubelet/config.yaml"); !strings.Contains(string(d), "resolvConf: /run/systemd/resolve/resolv.conf") {
		t.Fatalf("first run did not fix kubelet's config:\n%s", d)
	}
	if out, code := testbed.Exec(t, n, "unloop", "check"); code != 0 {
		t.Errorf("after the first run, check: exit %d\n%s", code, out)
	}
	out, second := a.playbook(t)
	r2 := parseRecap(t, out)
	if r2.failed != 0 || r2.changed != 0 {
		t.Fatalf("second run: %+v, want changed=0\n%s", r2, out)
	}
	out, _ = a.playbook(t, "--check", "--diff")
	if r := parseRecap(t, out); r.failed != 0 || r.changed != 0 {
		t.Errorf("--check --diff on the fixed node: %+v, want changed=0\n%s", r, out)
	}
	t.Logf("one node: first run %v (%+v), second run %v (%+v)", first.Round(10*time.Millisecond), r1, second.Round(10*time.Millisecond), r2)

	// apply's exits 3-5 (the node's own fix written, something left) are
	// changed, not failed, with the next step said. Rolled back to the loop
	// (the path unit stopped, so it does not apply first), a run with
	// --no-restart fixes the files only: exit 4.
	n.Run("systemctl", "stop", "unloop.path")
	n.Run("unloop", "rollback")
	out, _ = a.playbook(t, "--tags", "unloop_apply", "--diff", "-e", `{"unloop_args": ["--no-restart"]}`)
	if r := parseRecap(t, out); r.failed != 0 || r.changed != 1 {
		t.Errorf("--no-restart run: %+v, want changed=1, failed=0\n%s", r, out)
	}
	if want := "unloop apply exited 4 (not-in-effect): fixed in the files; not in effect until restarted (skipped: --no-restart): systemctl restart kubelet.service"; !strings.Contains(out, want) {
		t.Errorf("the --no-restart run does not say %q:\n%s", want, out)
	}
	// Its diff says the restart was skipped (skipped.reason), never "restarted".
	if !strings.Contains(out, "not restarted (skipped) kubelet.service") || strings.Contains(out, `"restarted kubelet.service"`) {
		t.Errorf("the --no-restart run's diff does not say kubelet.service's restart was skipped:\n%s", out)
	}
	if d, _ := n.ReadFile("/var/lib/kubelet/config.yaml"); !strings.Contains(string(d), "resolvConf: /run/systemd/resolve/resolv.conf") {
		t.Errorf("the --no-restart run did not fix kubelet's config:\n%s", d)
	}
}

// TestAnsiblePackageChecksum: the role installs a package only against the
// sha256 the user sets, checked on the controller before anything is copied:
// none or a wrong one fails the play and leaves the node as it was; the right
// one installs it.
func TestAnsiblePackageChecksum(t *testing.T) {
	deb, _ := buildPackages(t, "v1.2.3")
	data, err := os.ReadFile(deb)
	must(t, err)
	sum := sha256.Sum256(data)
	a := newAnsibleBed(t, map[string]node.File{})
	n := a.node
	for _, c := range []struct{ name, sha, want string }{
		{"no sha256", "", "unloop_package_sha256 must be the sha256 of"},
		{"wrong sha256", strings.Repeat("ab", 32), "not unloop_package_sha256 " + strings.Repeat("ab", 32) + ": not installing it"},
	} {
		out, err := a.run(t, "--tags", "unloop_install", "-e", "unloop_package="+deb, "-e", "unloop_package_sha256="+c.sha)
		if err == nil || !strings.Contains(strings.Join(strings.Fields(out), " "), c.want) {
			t.Errorf("%s: the play did not fail saying %q (err %v):\n%s", c.name, c.want, err, out)
		}
		if ls, _ := testbed.Exec(t, n, "sh", "-c", "ls /var/cache/ | grep -c unloop; dpkg -s unloop >/dev/null 2>&1 && echo installed"); strings.TrimSpace(ls) != "0" {
			t.Errorf("%s: the package reached the node: %q", c.name, ls)
		}
	}
	out, err := a.run(t, "--tags", "unloop_install", "-e", "unloop_package="+deb, "-e", "unloop_package_sha256="+strings.ToUpper(hex.EncodeToString(sum[:])))
	if err != nil {
		t.Fatalf("the right sha256: %v\n%s", err, out)
	}
	if v, _ := testbed.Exec(t, n, "dpkg-query", "-W", "-f", "${Version}", "unloop"); v != "1.2.3-1" {
		t.Errorf("after the play with the right sha256, unloop's package version is %q, want 1.2.3-1", v)
	}
}
