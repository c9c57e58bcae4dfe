package configs

import (
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// buildPackages builds the .deb and .rpm as `make package` does, from the
// test's unloop binary and the pages cmd/unloop-man writes, into a folder of
// the test's.
func buildPackages(t *testing.T, version string) (deb, rpm string) {
	t.Helper()
	dir := t.TempDir()
	man, compl, dist := filepath.Join(dir, "man"), filepath.Join(dir, "completion"), filepath.Join(dir, "dist")
	bin := filepath.Join(binDir, "unloop")
	gen := exec.Command("go", "run", "./cmd/unloop-man", "-version", "configs-test", man)
	gen.Dir = repo
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("cmd/unloop-man: %v: %s", err, out)
	}
	pages, _ := filepath.Glob(filepath.Join(man, "*.1"))
	for _, p := range pages {
		gzipFile(t, p)
	}
	must(t, os.MkdirAll(compl, 0o755))
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, err := exec.Command(bin, "completion", sh).Output()
		if err != nil {
			t.Fatalf("unloop completion %s: %v", sh, err)
		}
		must(t, os.WriteFile(filepath.Join(compl, "unloop."+sh), out, 0o644))
	}
	cmd := exec.Command("go", "run", ".", "-version", version, "-bin", bin, "-man", man, "-completion", compl, "-out", dist)
	cmd.Dir = filepath.Join(repo, "configs", "packaging")
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("building the packages: %v\n%s%s", err, out, stderr)
	}
	for _, p := range strings.Fields(string(out)) {
		if !filepath.IsAbs(p) {
			p = filepath.Join(cmd.Dir, p)
		}
		switch filepath.Ext(p) {
		case ".deb":
			deb = p
		case ".rpm":
			rpm = p
		}
	}
	if deb == "" || rpm == "" {
		t.Fatalf("the packager printed no .deb and .rpm: %s", out)
	}
	return deb, rpm
}

// gzipFile compresses p to p.gz as gzip -9n does (no name, no time) and
// removes p.
func gzipFile(t *testing.T, p string) {
	t.Helper()
	data, err := os.ReadFile(p)
	must(t, err)
	f, err := os.Create(p + ".gz")
	must(t, err)
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	must(t, err)
	_, err = zw.Write(data)
	must(t, err)
	must(t, zw.Close())
	must(t, f.Close())
	must(t, os.Remove(p))
}

// The files both packages must hold, with their modes.
var packageFiles = map[string]string{
	"/usr/bin/unloop":                                  "755",
	"/usr/lib/systemd/system/unloop.service":           "644",
	"/usr/lib/systemd/system/unloop-reapply.service":   "644",
	"/usr/lib/systemd/system/unloop.path":              "644",
	"/etc/unloop/unloop.yaml":                          "644",
	"/usr/share/man/man1/unloop.1.gz":                  "644",
	"/usr/share/man/man1/unloop-apply.1.gz":            "644",
	"/usr/share/bash-completion/completions/unloop":    "644",
	"/usr/share/zsh/vendor-completions/_unloop":        "644",
	"/usr/share/fish/vendor_completions.d/unloop.fish": "644",
}

// TestRPM reads the .rpm back (there is no rpm on a Debian machine): name,
// version, arch, every file with its mode, the config as a noreplace
// conffile, and the scripts that enable and disable the units.
func TestRPM(t *testing.T) {
	_, rpm := buildPackages(t, "v1.2.3")
	if filepath.Base(rpm) != "unloop-1.2.3-1.x86_64.rpm" {
		t.Errorf("rpm named %s, want unloop-1.2.3-1.x86_64.rpm (the cloud-init user-data downloads that name)", filepath.Base(rpm))
	}
	cmd := exec.Command("go", "run", ".", "-list", rpm)
	cmd.Dir = filepath.Join(repo, "configs", "packaging")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("listing the rpm: %v", err)
	}
	var r struct {
		Name, Version, Release, Arch string
		Files                        []struct {
			Path, Mode, Owner string
			Config, NoReplace bool
		}
		Scripts map[string]string
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if r.Name != "unloop" || r.Version != "1.2.3" || r.Release != "1" || r.Arch != "x86_64" {
		t.Errorf("rpm is %s %s-%s %s", r.Name, r.Version, r.Release, r.Arch)
	}
	got := map[string]string{}
	for _, f := range r.Files {
		got[f.Path] = strings.TrimPrefix(f.Mode, "100")
		if f.Owner != "root:root" {
			t.Errorf("%s owned by %s", f.Path, f.Owner)
		}
		if (f.Path == "/etc/unloop/unloop.yaml") != (f.Config && f.NoReplace) {
			t.Errorf("%s: config %v, noreplace %v", f.Path, f.Config, f.NoReplace)
		}
	}
	for p, mode := range packageFiles {
		if got[p] != mode {
			t.Errorf("rpm: %s mode %q, want %s", p, got[p], mode)
		}
	}
	if !strings.Contains(r.Scripts["postin"], "systemctl enable unloop.service unloop.path") ||
		!strings.Contains(r.Scripts["preun"], "systemctl disable unloop.service unloop.path") ||
		!strings.Contains(r.Scripts["postun"], "daemon-reload") {
		t.Errorf("rpm scripts: %v", r.Scripts)
	}
}

// TestDeb installs the .deb with the real dpkg on a real node that loops:
// the units are enabled, the binary and man page are there, the config is
// a conffile; after a reboot unloop.service has fixed the node before
// kubelet started. dpkg -r removes everything but the config and the run
// journal, and dpkg -P those too.
func TestDeb(t *testing.T) {
	deb, _ := buildPackages(t, "v1.2.3")
	if filepath.Base(deb) != "unloop_1.2.3-1_amd64.deb" {
		t.Errorf("deb named %s, want unloop_1.2.3-1_amd64.deb (the cloud-init user-data downloads that name)", filepath.Base(deb))
	}
	nw := newNet(t)
	n := node.Boot(t, node.Options{Release: "bookworm", NetNS: nw.NodeNS, Overlay: t.TempDir(),
		Binds: map[string]string{filepath.Dir(deb): "/opt/pkg"},
		Files: map[string]node.File{
			"/etc/systemd/resolved.conf.d/upstream.conf": {Data: []byte("[Resolve]\nDNS=" + nw.Upstream + "\n")},
			"/etc/systemd/system/kubelet.service":        {Data: []byte(kubeletUnit)},
			"/var/lib/kubelet/config.yaml":               {Data: []byte(testbed.KubeletConfig)},
		}})
	n.Run("systemctl", "enable", "kubelet.service")
	n.Run("dpkg", "-i", "/opt/pkg/"+filepath.Base(deb))

	if st := strings.Fields(n.Run("systemctl", "is-enabled", "unloop.service", "unloop.path")); !slices.Equal(st, []string{"enabled", "enabled"}) {
		t.Errorf("after dpkg -i: unloop.service, unloop.path %v, want enabled", st)
	}
	if st, _ := testbed.Exec(t, n, "systemctl", "is-active", "unloop.service"); strings.TrimSpace(st) != "inactive" {
		t.Errorf("installing the package ran unloop (%s): it should wait for the boot or the admin", strings.TrimSpace(st))
	}
	listed := n.Run("dpkg", "-L", "unloop")
	for p := range packageFiles {
		if !strings.Contains(listed, p+"\n") {
			t.Errorf("dpkg -L unloop lacks %s", p)
		}
	}
	if v := n.Run("unloop", "--version"); !strings.HasPrefix(v, "unloop configs-test (commit") {
		t.Errorf("unloop --version: %q", v)
	}
	if cf := n.Run("dpkg-query", "-W", "-f=${Conffiles}", "unloop"); !strings.Contains(cf, "/etc/unloop/unloop.yaml ") {
		t.Errorf("conffiles: %q", cf)
	}
	if man := n.Run("sh", "-c", "zcat /usr/share/man/man1/unloop.1.gz | head -3"); !strings.Contains(man, `.TH "UNLOOP" "1"`) {
		t.Errorf("man page: %q", man)
	}
	out, code := testbed.Exec(t, n, "sh", "-c", "systemd-analyze verify --man=no unloop.service unloop-reapply.service unloop.path 2>&1")
	if code != 0 || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify of the installed units: exit %d\n%s", code, out)
	}
	if _, code := testbed.Exec(t, n, "unloop", "check"); code != 2 {
		t.Fatalf("the node should loop before the reboot: check exit %d", code)
	}

	// The next boot runs the installed, enabled unit before kubelet.
	n.Reboot()
	waitActive(t, n, "unloop.service", "kubelet.service")
	readBoot(t, n, true)
	if d, _ := n.ReadFile("/var/lib/kubelet/config.yaml"); !strings.Contains(string(d), "resolvConf: /run/systemd/resolve/resolv.conf") {
		t.Errorf("the boot after install did not fix kubelet's config:\n%s\n%s", d, unloopLog(t, n, "unloop.service"))
	}

	n.Run("dpkg", "-r", "unloop")
	for _, p := range []string{"/usr/bin/unloop", "/usr/lib/systemd/system/unloop.service", "/usr/lib/systemd/system/unloop.path",
		"/usr/lib/systemd/system/unloop-reapply.service", "/usr/share/man/man1/unloop.1.gz"} {
		if _, code := testbed.Exec(t, n, "test", "-e", p); code == 0 {
			t.Errorf("dpkg -r left %s", p)
		}
	}
	if left := strings.TrimSpace(n.Run("find", "/etc/systemd/system", "-name", "unloop*")); left != "" {
		t.Errorf("dpkg -r left enablement links:\n%s", left)
	}
	if units, _ := testbed.Exec(t, n, "systemctl", "list-unit-files", "--no-legend", "unloop*"); strings.TrimSpace(units) != "" {
		t.Errorf("systemd still knows unloop's units after dpkg -r:\n%s", units)
	}
	if st := n.Run("dpkg-query", "-W", "-f=${Status}", "unloop"); st != "deinstall ok config-files" {
		t.Errorf("after dpkg -r: status %q", st)
	}
	for _, p := range []string{"/etc/unloop/unloop.yaml", "/var/lib/unloop/runs"} {
		if _, code := testbed.Exec(t, n, "test", "-e", p); code != 0 {
			t.Errorf("dpkg -r removed %s (only a purge should)", p)
		}
	}
	n.Run("dpkg", "-P", "unloop")
	for _, p := range []string{"/etc/unloop", "/var/lib/unloop"} {
		if _, code := testbed.Exec(t, n, "test", "-e", p); code == 0 {
			t.Errorf("dpkg -P left %s", p)
		}
	}
	if out, code := testbed.Exec(t, n, "dpkg-query", "-W", "unloop"); code == 0 {
		t.Errorf("dpkg still knows unloop after the purge: %s", out)
	}
	// The fix stays: removing the tool does not undo what it changed
	// (`unloop rollback` before removal does).
	if d, _ := n.ReadFile("/var/lib/kubelet/config.yaml"); !strings.Contains(string(d), "resolvConf:") {
		t.Errorf("removing the package changed kubelet's config:\n%s", d)
	}
}

// TestMakePackageBothArches runs `make package` as a user does and reads back
// what it made for each architecture: the .deb's control Architecture, the
// ELF machine of the binary inside it, and the .rpm's name.
func TestMakePackageBothArches(t *testing.T) {
	dist := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "package", "PKG_VERSION=1.2.3")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	for _, c := range []struct {
		goarch, rpmArch string
		machine         elf.Machine
	}{
		{"amd64", "x86_64", elf.EM_X86_64},
		{"arm64", "aarch64", elf.EM_AARCH64},
	} {
		deb := filepath.Join(repo, "dist", "unloop_1.2.3-1_"+c.goarch+".deb")
		out, err := exec.Command("dpkg-deb", "-f", deb, "Architecture").Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", deb, err)
		}
		if got := strings.TrimSpace(string(out)); got != c.goarch {
			t.Errorf("%s: Architecture %q, want %q", deb, got, c.goarch)
		}
		x := filepath.Join(dist, c.goarch)
		if out, err := exec.Command("dpkg-deb", "-x", deb, x).CombinedOutput(); err != nil {
			t.Fatalf("dpkg-deb -x %s: %v\n%s", deb, err, out)
		}
		f, err := elf.Open(filepath.Join(x, "usr/bin/unloop"))
		if err != nil {
			t.Fatal(err)
		}
		if f.Machine != c.machine {
			t.Errorf("%s: /usr/bin/unloop is built for %v, want %v", deb, f.Machine, c.machine)
		}
		f.Close()
		if _, err := os.Stat(filepath.Join(repo, "dist", "unloop-1.2.3-1."+c.rpmArch+".rpm")); err != nil {
			t.Errorf("no %s rpm: %v", c.rpmArch, err)
		}
	}
}
