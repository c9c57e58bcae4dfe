// Package configs tests what ships in configs/ against the real programs that
// consume it: the systemd units on booted nodes, cloud-init's schema check,
// Ansible over SSH, dpkg with the built package, and the monitoring formats.
package configs

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
)

// binDir holds the unloop binary built for this run; nodes get it read-only
// at /opt/unloop and find it at /usr/bin/unloop, where the units look.
var binDir string

// repo is the repository's root (configs/ is read from there).
var repo string

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	repo = filepath.Join(filepath.Dir(file), "..", "..")
	dir, err := os.MkdirTemp("", "unloop-configs-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-X main.version=configs-test",
		"-o", filepath.Join(dir, "unloop"), "github.com/unloop/unloop/cmd/unloop")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building unloop: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
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
func bootNode(t *testing.T, opts node.Options) *node.Node {
	t.Helper()
	if opts.Binds == nil {
		opts.Binds = map[string]string{}
	}
	opts.Binds[binDir] = "/opt/unloop"
	if opts.Files == nil {
		opts.Files = map[string]node.File{}
	}
	opts.Files["/usr/bin/unloop"] = node.File{Link: "/opt/unloop/unloop"}
	return node.Boot(t, opts)
}

// installUnits writes configs/'s units and default config where a package
// or cloud-init puts them, and reloads systemd.
func installUnits(t *testing.T, n *node.Node) {
	t.Helper()
	for _, u := range []string{"unloop.service", "unloop-reapply.service", "unloop.path"} {
		must(t, n.WriteFile("/etc/systemd/system/"+u, configFile(t, u), 0o644))
	}
	must(t, n.WriteFile("/etc/unloop/unloop.yaml", configFile(t, "unloop.yaml"), 0o644))
	n.Run("systemctl", "daemon-reload")
}

// A stand-in kubelet: it prints the config it starts with (so the journal
// shows what kubelet would have read) and sleeps.
const (
	kubeletUnit = `[Unit]
Description=stand-in kubelet: prints its config and sleeps
After=network-online.target
[Service]
ExecStart=/bin/sh -c 'echo "kubelet starting with:"; cat /var/lib/kubelet/config.yaml; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`
	kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
clusterDNS:
- 10.96.0.10
`
)

// A net is a pair of network namespaces made by the test: the node's side
// (its eth0 at 10.98.N.2) and the network's side, where a real CoreDNS
// answers as the upstream at 10.98.N.1. Nothing reaches this machine's own
// network; the namespaces outlive the node's reboots.
type net struct {
	t        *testing.T
	id       int
	NodeNS   string
	NetNS    string
	Upstream string
	NodeAddr string
}

var netCount atomic.Int32

func newNet(t *testing.T) *net {
	t.Helper()
	// 10.98.0.0/16 is this package's; the pid spreads concurrent runs.
	id := (int(netCount.Add(1)) + os.Getpid()%40*5) % 200
	nw := &net{t: t, id: id,
		NodeNS: fmt.Sprintf("ulcfg-node%d", id), NetNS: fmt.Sprintf("ulcfg-net%d", id),
		Upstream: fmt.Sprintf("10.98.%d.1", id), NodeAddr: fmt.Sprintf("10.98.%d.2", id)}
	for _, ns := range []string{nw.NetNS, nw.NodeNS} {
		_ = exec.Command("ip", "netns", "delete", ns).Run() // a leftover of a killed run
		nw.ip("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	}
	nw.ip("-n", nw.NetNS, "link", "add", "net0", "type", "veth", "peer", "name", "eth0", "netns", nw.NodeNS)
	nw.ip("-n", nw.NetNS, "addr", "add", nw.Upstream+"/24", "dev", "net0")
	nw.ip("-n", nw.NodeNS, "addr", "add", nw.NodeAddr+"/24", "dev", "eth0")
	for _, l := range [][2]string{{nw.NetNS, "net0"}, {nw.NetNS, "lo"}, {nw.NodeNS, "eth0"}, {nw.NodeNS, "lo"}} {
		nw.ip("-n", l[0], "link", "set", l[1], "up")
	}
	corefile := filepath.Join(t.TempDir(), "Corefile")
	must(t, os.WriteFile(corefile, []byte(fmt.Sprintf(`example.test:53 {
	bind %[1]s
	template IN A example.test {
		answer "{{ .Name }} 60 IN A 192.0.2.10"
	}
}
.:53 {
	bind %[1]s
	template ANY ANY {
		rcode NXDOMAIN
	}
}
`, nw.Upstream)), 0o644))
	daemon(t, "upstream coredns", "ip", "netns", "exec", nw.NetNS, node.CoreDNS(t), "-conf", corefile)
	return nw
}

func (nw *net) ip(args ...string) {
	nw.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		nw.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// daemon starts a process of the test's and ends it, by its PID, at cleanup.
func daemon(t *testing.T, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	must(t, err)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", name, data)
		}
	})
	return cmd
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
func journal(t *testing.T, n *node.Node, args ...string) []entry {
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

// waitFor polls cond every 100ms until it holds or timeout passes.
func waitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// nodeExec runs args in the node with a timeout and returns stdout and the
// exit status (a failure to run at all fails the test).
func nodeExec(t *testing.T, n *node.Node, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.Exec(ctx, args...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		return out, ee.ExitCode()
	}
	t.Fatalf("%s: %v", strings.Join(args, " "), err)
	return "", 0
}
