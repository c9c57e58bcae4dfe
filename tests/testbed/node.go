package testbed

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
)

// Boot boots a node with binDir (Build's folder) bound read-only at
// /opt/unloop: the node runs the binaries of this run, never a copy of its
// own.
func Boot(t testing.TB, binDir string, opts node.Options) *node.Node {
	t.Helper()
	binds := map[string]string{binDir: "/opt/unloop"}
	for k, v := range opts.Binds {
		binds[k] = v
	}
	opts.Binds = binds
	return node.Boot(t, opts)
}

// Exec runs args in n, bounded by two minutes, and returns its stdout and
// exit status. A command that could not run at all fails the test.
func Exec(t testing.TB, n *node.Node, args ...string) (string, int) {
	t.Helper()
	out, code, _ := run(t, n, args)
	return out, code
}

// Unloop is Exec of /opt/unloop/unloop (the binary Boot bound) with args. A
// non-zero exit is logged with unloop's stderr, its log: what explains a
// failure that follows.
func Unloop(t testing.TB, n *node.Node, args ...string) (string, int) {
	t.Helper()
	out, code, err := run(t, n, append([]string{"/opt/unloop/unloop"}, args...))
	if code != 0 {
		t.Logf("unloop %s: exit %d: %v", strings.Join(args, " "), code, err)
	}
	return out, code
}

// run is Exec that also returns node.Exec's error, which holds stderr.
func run(t testing.TB, n *node.Node, args []string) (string, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.Exec(ctx, args...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0, nil
	case errors.As(err, &ee):
		return out, ee.ExitCode(), err
	}
	t.Fatalf("%s: %v", strings.Join(args, " "), err)
	return "", 0, err
}

// Poll calls cond every 100ms until it holds or timeout passes, and says
// whether it held. A node's files and units change on their own time (resolved
// rewrites its files, units start): a test waits for them, with a bound.
func Poll(timeout time.Duration, cond func() bool) bool {
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

// WaitFor is Poll that fails the test when cond never held; what names cond
// in the message.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("%s: not within %v", what, timeout)
	}
}

// KubeletConfig is the stand-in kubelet's config: a cluster DNS address and no
// resolvConf, so kubelet gives pods the node's /etc/resolv.conf, the case
// unloop is about. Each package's stand-in kubelet unit reads it its own way.
// The stand-in serves no /healthz: healthzPort 0 says so (as it turns a real
// kubelet's off), and apply then watches the restarted unit for a fixed 2 s.
// apply's healthz watch runs against the real kubelet (KubeletConfigFor).
const KubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
clusterDNS:
- 10.96.0.10
healthzPort: 0
`

// Releases are the node releases a test runs on: systemd 252 and 257, whose
// resolved and unit handling differ.
var Releases = []string{"bookworm", "trixie"}

// ForEachRelease runs f on each of Releases, in parallel: a node is mostly
// idle waiting on timeouts, and two of them fit on CI's two cores.
func ForEachRelease(t *testing.T, f func(t *testing.T, release string)) {
	for _, release := range Releases {
		t.Run(release, func(t *testing.T) {
			t.Parallel()
			f(t, release)
		})
	}
}
