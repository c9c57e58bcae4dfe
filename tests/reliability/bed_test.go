package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// A bed is a booted node (tests/node) on a testbed.Net of its own: a real
// CoreDNS answers as the upstream DNS server on the far side of a veth pair,
// and online apply asks it a real question before it installs it. The node
// runs the stub case of the field (the rootfs's /etc/resolv.conf is the stub
// link), resolved is told the upstream, and a stand-in kubelet runs with a
// config that names no resolvConf.
type bed struct {
	*testbed.Net // urnetN and urnodeN, 10.97.N.0/24: apart from tests/e2e's
	t            testing.TB
	Node         *node.Node
}

// The stand-in kubelet: reads its config (as kubelet does at start) and sleeps.
// The crash, concurrency and bus-fault suites keep it, for CI's time: they
// boot node after node and restart kubelet at every crash point and fault,
// and a real kubelet node (testbed.KubeletOptions: containerd, images, ~20 s
// to running pods) would multiply their run. They test unloop's journal,
// locks and bus, not kubelet; the real kubelet's side (it takes every edit,
// apply's healthz watch, a refused config rolled back) is tests/e2e's
// TestRealKubelet*.
const (
	// It keeps a copy of the config it started with: the node is consistent
	// when that is the config on disk.
	// Tests restart it (and resolved) far more often than the field does:
	// no start limit.
	kubeletUnit = `[Unit]
Description=stand-in kubelet
StartLimitIntervalSec=0
[Service]
ExecStart=/bin/sh -c 'cp /var/lib/kubelet/config.yaml /run/kubelet-running.yaml; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`
)

// newBed boots a bed's node of release. The node's /opt/unloop holds unloop,
// unloop-crash and benchrun; /opt/coredns holds CoreDNS.
func newBed(t testing.TB, release string) *bed {
	t.Helper()
	return newBedWith(t, release, nil)
}

// newBedWith is newBed with more files in the node (they win over the
// bed's), made by more(b) once the bed's network is known, and more units to
// wait for.
func newBedWith(t testing.TB, release string, more func(b *bed) map[string]node.File, ready ...string) *bed {
	t.Helper()
	b := &bed{Net: testbed.NewNet(t, "ur", "10.97"), t: t}
	b.AddNodeAddr()
	files := map[string]node.File{
		"/etc/systemd/system/kubelet.service":                         {Data: []byte(kubeletUnit)},
		"/etc/systemd/system/multi-user.target.wants/kubelet.service": {Link: "/etc/systemd/system/kubelet.service"},
		"/var/lib/kubelet/config.yaml":                                {Data: []byte(testbed.KubeletConfig)},
		"/etc/systemd/resolved.conf.d/upstream.conf":                  {Data: []byte("[Resolve]\nDNS=" + b.Upstream + "\n")},
		"/etc/systemd/system/systemd-resolved.service.d/test.conf":    {Data: []byte("[Unit]\nStartLimitIntervalSec=0\n")},
	}
	if more != nil {
		maps.Copy(files, more(b))
	}
	b.Node = testbed.Boot(t, binDir, node.Options{
		Release: release, NetNS: b.NodeNS, Capabilities: []string{"CAP_NET_ADMIN"},
		Binds: map[string]string{filepath.Dir(node.CoreDNS(t)): "/opt/coredns"},
		Files: files,
		Ready: append([]string{"dbus.service", "systemd-resolved.service", "kubelet.service"}, ready...),
	})
	// resolved writes its uplink file once it has the server.
	testbed.WaitFor(t, 20*time.Second, "resolved's uplink file", func() bool {
		d, _ := b.Node.ReadFile("/run/systemd/resolve/resolv.conf")
		return strings.Contains(string(d), b.Upstream)
	})
	return b
}

// unloop runs /opt/unloop/BIN inside the node with env (VAR=value) and args,
// bounded by timeout, and returns its output, exit status and wall time (as
// seen from the host: nsenter adds a few ms).
func (b *bed) unloop(timeout time.Duration, bin string, env []string, args ...string) result {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(append([]string{"env"}, env...), append([]string{"/opt/unloop/" + bin}, args...)...)
	start := time.Now()
	out, err := b.Node.Exec(ctx, argv...)
	r := result{Stdout: out, Dur: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		b.t.Fatalf("unloop %s: still running after %v: a hang", strings.Join(args, " "), timeout)
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.Signal = ws.Signal()
		}
		r.Stderr = err.Error() // Exec puts stderr in the error
	default:
		b.t.Fatalf("unloop %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// report is the part of check's, plan's and apply's JSON these tests read.
type report struct {
	Status   string   `json:"status"`
	Online   bool     `json:"online"`
	Notes    []string `json:"notes"`
	Changed  bool     `json:"changed"`
	Verified bool     `json:"verified"`
	Run      string   `json:"run"`
	Findings []struct {
		Code string `json:"code"`
	} `json:"findings"`
	Changes []struct {
		Kind string `json:"kind"`
		Path string `json:"path"`
		Unit string `json:"unit"`
		// Skipped is why a change is skipped (JSON version 2): a code
		// and words; nil when it is carried out.
		Skipped *struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"skipped"`
	} `json:"changes"`
}

func decode(t testing.TB, r result) report {
	t.Helper()
	var rep report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("unloop's JSON: %v\n%s", err, r)
	}
	return rep
}

func (r report) has(code string) bool {
	return slices.ContainsFunc(r.Findings, func(f struct {
		Code string `json:"code"`
	}) bool {
		return f.Code == code
	})
}

func (r report) note(sub string) bool {
	return slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, sub) })
}

// nodeState describes the node's files apply may touch, by path.
func (b *bed) nodeState() map[string]string {
	b.t.Helper()
	s := map[string]string{}
	for _, p := range []string{"/etc/resolv.conf", "/var/lib/kubelet/config.yaml", "/etc/unloop/resolv.conf", "/etc/systemd/resolved.conf.d/90-unloop.conf"} {
		dir, err := b.Node.Path(filepath.Dir(p))
		must(b.t, err)
		hp := filepath.Join(dir, filepath.Base(p))
		if target, err := os.Readlink(hp); err == nil {
			s[p] = "link " + target
			continue
		}
		data, err := os.ReadFile(hp)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		must(b.t, err)
		s[p] = "file " + string(data)
	}
	return s
}

// active says whether a unit of the node is active.
func (b *bed) active(unit string) bool {
	out, _ := b.Node.Exec(context.Background(), "systemctl", "is-active", unit)
	return strings.TrimSpace(out) == "active"
}

// kubeletConsistent says whether the running kubelet started with the config
// that is on disk now (kubelet reads it only at start).
// A simple service is "started" when forked: give its copy a moment.
func (b *bed) kubeletConsistent() (bool, string) {
	var running, disk []byte
	var err1, err2 error
	for range 50 {
		running, err1 = b.Node.ReadFile("/run/kubelet-running.yaml")
		disk, err2 = b.Node.ReadFile("/var/lib/kubelet/config.yaml")
		if err1 == nil && err2 == nil && string(running) == string(disk) {
			return true, ""
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false, fmt.Sprintf("running:\n%s\non disk:\n%s", running, disk)
}

// journal is the tail of a unit's journal in this boot, for failure messages.
func (b *bed) journal(unit string) string {
	out, _ := b.Node.Exec(context.Background(), "journalctl", "-b", "-u", unit, "--no-pager", "-n", "40")
	return out
}
