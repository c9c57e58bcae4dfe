// Package configs tests what ships in configs/ against the real programs that
// consume it: the systemd units on booted nodes, cloud-init's schema check,
// Ansible over SSH, dpkg with the built package, and the monitoring formats.
package configs

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// binDir holds the unloop binary built for this run; nodes get it read-only
// at /opt/unloop and find it at /usr/bin/unloop, where the units look.
var binDir string

// repo is the repository's root (configs/ is read from there).
var repo string

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repo = filepath.Join(filepath.Dir(file), "..", "..")
	binDir = testbed.Build("configs", testbed.Binary{Name: "unloop", Flags: []string{"-ldflags", "-X main.version=configs-test"}})
	os.Exit(testbed.Run(m, binDir))
}

// configFile reads a file of configs/.
func configFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repo, "configs", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// bootNode boots a node with the unloop binary at /usr/bin/unloop (a link to
// the read-only bind at /opt/unloop) and files written before boot.
func bootNode(t testing.TB, opts node.Options) *node.Node {
	t.Helper()
	if opts.Files == nil {
		opts.Files = map[string]node.File{}
	}
	opts.Files["/usr/bin/unloop"] = node.File{Link: "/opt/unloop/unloop"}
	return testbed.Boot(t, binDir, opts)
}

// kubeletNode is bootNode of a node that runs the real kubelet
// (testbed.KubeletOptions), started and healthy on a standalone config
// without resolvConf (pods get the node's /etc/resolv.conf) plus extra. It
// returns the config.
func kubeletNode(t testing.TB, opts node.Options, extra string) (*node.Node, string) {
	t.Helper()
	n := bootNode(t, testbed.KubeletOptions(t, opts))
	config := testbed.KubeletConfigFor(n, extra)
	testbed.StartKubelet(t, n, config)
	return n, config
}

// kubeletRunsWith waits until the running kubelet is healthy and returns the
// resolvConf it runs with (its /configz).
func kubeletRunsWith(t testing.TB, n *node.Node) string {
	t.Helper()
	testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
	return testbed.KubeletResolvConf(t, n)
}

// installUnits writes configs/'s units and default config where a package
// or cloud-init puts them, and reloads systemd.
func installUnits(t testing.TB, n *node.Node) {
	t.Helper()
	for _, u := range []string{"unloop.service", "unloop-reapply.service", "unloop.path"} {
		must(t, n.WriteFile("/etc/systemd/system/"+u, configFile(t, u), 0o644))
	}
	must(t, n.WriteFile("/etc/unloop/unloop.yaml", configFile(t, "unloop.yaml"), 0o644))
	n.Run("systemctl", "daemon-reload")
}

// A stand-in kubelet: it prints the config it starts with (so the journal
// shows what kubelet would have read) and sleeps. The boot and path unit
// tests run the real kubelet instead (kubeletNode); cloud-init, Ansible, the
// package and the manifests keep the stand-in: they test how unloop gets
// installed and run, and a real kubelet node would add ~20 s to each.
const (
	kubeletUnit = `[Unit]
Description=stand-in kubelet: prints its config and sleeps
After=network-online.target
[Service]
ExecStart=/bin/sh -c 'echo "kubelet starting with:"; cat /var/lib/kubelet/config.yaml; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`
)

// newNet makes the test's network: ulcfg-netN and ulcfg-nodeN, with the
// node at 10.98.N.2 and the upstream CoreDNS at 10.98.N.1.
func newNet(t testing.TB) *testbed.Net {
	t.Helper()
	nw := testbed.NewNet(t, "ulcfg-", "10.98")
	nw.AddNodeAddr()
	return nw
}

// entry is one journal entry, as `journalctl -o json` prints it.
type entry map[string]any

func (e entry) str(k string) string {
	s, _ := e[k].(string)
	return s
}

func (e entry) mono() int64 {
	v, _ := strconv.ParseInt(e.str("__MONOTONIC_TIMESTAMP"), 10, 64)
	return v
}

// journal reads the current boot's journal entries matching the given
// journalctl arguments (e.g. "UNIT=kubelet.service"), oldest first.
func journal(t testing.TB, n *node.Node, args ...string) []entry {
	t.Helper()
	out := n.Run(append([]string{"journalctl", "-b", "-o", "json", "--no-pager"}, args...)...)
	var es []entry
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("journal entry: %v: %s", err, sc.Text())
		}
		es = append(es, e)
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].mono() < es[j].mono() })
	return es
}

// Message IDs of systemd's job messages (sd-messages.h).
const (
	msgUnitStarting = "7d4958e842da4a758f6c1cdc7b36dcc5" // "Starting X..."
	msgUnitStarted  = "39f53479d3a045ac8e11786248231fbf" // "Started X" / "Finished X"
)
