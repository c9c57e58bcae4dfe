package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
)

// A bed is a booted node (tests/node) in a network namespace of its own,
// joined by a veth pair to a second namespace where a real CoreDNS answers as
// the upstream DNS server: online apply asks it a real question before it
// installs it. The node runs the stub case of the field (the rootfs's
// /etc/resolv.conf is the stub link), resolved is told the upstream, and a
// stand-in kubelet runs with a config that names no resolvConf.
type bed struct {
	t        testing.TB
	netNS    string
	nodeNS   string
	Upstream string
	Node     *node.Node
}

var bedCount atomic.Int32

// The stand-in kubelet: reads its config (as kubelet does at start) and sleeps.
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
	kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
clusterDNS:
- 10.96.0.10
`
)

// newBed boots a bed's node of release. The node's /opt/unloop holds unloop,
// unloop-crash and benchrun; /opt/coredns holds CoreDNS.
func newBed(t testing.TB, release string) *bed {
	t.Helper()
	// Names and addresses of its own, apart from tests/e2e's (10.99.N).
	n := int(bedCount.Add(1)) + (os.Getpid()%40)*5
	id := fmt.Sprintf("%d", n%200+20)
	b := &bed{t: t, netNS: "urnet" + id, nodeNS: "urnode" + id, Upstream: "10.97." + id + ".1"}
	for _, ns := range []string{b.netNS, b.nodeNS} {
		_ = exec.Command("ip", "netns", "delete", ns).Run() // a leftover of a killed run
		b.ip("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	}
	b.ip("-n", b.netNS, "link", "add", "net0", "type", "veth", "peer", "name", "eth0", "netns", b.nodeNS)
	b.ip("-n", b.netNS, "addr", "add", b.Upstream+"/24", "dev", "net0")
	b.ip("-n", b.nodeNS, "addr", "add", "10.97."+id+".2/24", "dev", "eth0")
	for _, l := range [][2]string{{b.netNS, "net0"}, {b.netNS, "lo"}, {b.nodeNS, "eth0"}, {b.nodeNS, "lo"}} {
		b.ip("-n", l[0], "link", "set", l[1], "up")
	}
	corefile := filepath.Join(t.TempDir(), "Corefile")
	must(t, os.WriteFile(corefile, []byte(fmt.Sprintf(".:53 {\n\tbind %s\n\ttemplate ANY ANY {\n\t\trcode NXDOMAIN\n\t}\n}\n", b.Upstream)), 0o644))
	b.daemon("ip", "netns", "exec", b.netNS, node.CoreDNS(t), "-conf", corefile)

	b.Node = node.Boot(t, node.Options{
		Release: release, NetNS: b.nodeNS, Capabilities: []string{"CAP_NET_ADMIN"},
		Binds: map[string]string{binDir: "/opt/unloop", filepath.Dir(node.CoreDNS(t)): "/opt/coredns"},
		Files: map[string]node.File{
			"/etc/systemd/system/kubelet.service":                         {Data: []byte(kubeletUnit)},
			"/etc/systemd/system/multi-user.target.wants/kubelet.service": {Link: "/etc/systemd/system/kubelet.service"},
			"/var/lib/kubelet/config.yaml":                                {Data: []byte(kubeletConfig)},
			"/etc/systemd/resolved.conf.d/upstream.conf":                  {Data: []byte("[Resolve]\nDNS=" + b.Upstream + "\n")},
			"/etc/systemd/system/systemd-resolved.service.d/test.conf":    {Data: []byte("[Unit]\nStartLimitIntervalSec=0\n")},
		},
		Ready: []string{"dbus.service", "systemd-resolved.service", "kubelet.service"},
	})
	// resolved writes its uplink file once it has the server.
	b.waitFor("resolved's uplink file", func() bool {
		d, _ := b.Node.ReadFile("/run/systemd/resolve/resolv.conf")
		return strings.Contains(string(d), b.Upstream)
	})
	return b
}

func (b *bed) ip(args ...string) {
	b.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		b.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// daemon starts a process of the bed's and ends it, by its PID, at cleanup.
func (b *bed) daemon(args ...string) {
	b.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(b.t, cmd.Start())
	b.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

func (b *bed) waitFor(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("%s: not within 20s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
		Kind    string `json:"kind"`
		Path    string `json:"path"`
		Unit    string `json:"unit"`
		Skipped string `json:"skipped"`
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
