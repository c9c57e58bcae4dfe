package e2e

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// Issue 12 on real booted nodes: kubelet's --config-dir drop-ins, on the real
// kubelet (v1.34.4), and k3s's config.yaml.d. k3s cannot be built or
// installed here: its stand-in reads the same files in the same order as k3s
// and prints the flag it would hand kubelet.

// nodeadm's kubelet config (EKS AL2023: /etc/kubernetes/kubelet/config.json,
// JSON) and its drop-in, under the standalone keys the test bed's kubelet
// needs (cgroupfs, not nodeadm's systemd driver: the nodes' cgroups are v1
// hierarchies of their own).
var (
	nodeadmConfig = map[string]any{"address": "0.0.0.0", "clusterDNS": []any{"172.20.0.10"}, "maxPods": 29}
	nodeadmDropIn = `{
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "maxPods": 110
}
`
	// siteDropIn is a site's own drop-in that names the stub's file.
	siteDropIn = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /etc/resolv.conf\n"
	// nodeadmExec is how nodeadm's kubelet.service starts kubelet, without
	// the API server's flags.
	nodeadmExec = "[Service]\nExecStart=\nExecStart=" + testbed.KubeBin +
		"/kubelet --config=/etc/kubernetes/kubelet/config.json --config-dir=/etc/kubernetes/kubelet/config.json.d\n"
)

// TestConfigDirDropIn: the real kubelet runs with --config and --config-dir
// as on EKS AL2023, and the pod file is resolved's stub /etc/resolv.conf,
// which the site's own drop-ins name too: custom.conf and site/10-dns.conf,
// both merged after 99-unloop-resolvconf.conf. apply writes unloop's own
// drop-in under a name kubelet merges after them, changes no base file, and
// restarts kubelet; kubelet merges it (its /configz shows the uplink file and
// nodeadm's maxPods). Rollback removes the drop-in and kubelet is back on
// the stub.
func TestConfigDirDropIn(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newPodNetBed(t, release, "ulk", "10.98")
		n := b.Node
		base := standaloneBase(n)
		maps.Copy(base, nodeadmConfig)
		must(t, n.WriteFile("/etc/kubernetes/kubelet/config.json", append(must1(json.MarshalIndent(base, "", "    ")), '\n'), 0o644))
		must(t, n.WriteFile("/etc/kubernetes/kubelet/config.json.d/40-nodeadm.conf", []byte(nodeadmDropIn), 0o644))
		for _, site := range []string{"custom.conf", "site/10-dns.conf"} {
			must(t, n.WriteFile("/etc/kubernetes/kubelet/config.json.d/"+site, []byte(siteDropIn), 0o644))
		}
		must(t, n.WriteFile("/etc/systemd/system/kubelet.service.d/10-nodeadm.conf", []byte(nodeadmExec), 0o644))
		testbed.StartKubelet(t, n, "")
		onConfig := func(when, want string) {
			t.Helper()
			testbed.WaitFor(t, time.Minute, when+": kubelet healthy on "+want, func() bool {
				return testbed.KubeletHealthz(t, n, 10248) == "ok" && testbed.KubeletResolvConf(t, n) == want
			})
		}
		onConfig("before apply", "/etc/resolv.conf")

		out, code := testbed.Unloop(t, n, "check", "--output", "json")
		if r := decode(t, out); code != 2 || !r.has("nameserver-resolved-stub", "127.0.0.53") {
			t.Fatalf("check: exit %d, findings %v", code, r.codes())
		}
		const dropIn = "/etc/kubernetes/kubelet/config.json.d/zz-unloop-resolvconf.conf"
		planShows(t, n, []string{"--strategy", "kubelet"}, "create "+dropIn, "+resolvConf: /run/systemd/resolve/resolv.conf")
		before := snapshotTree(t, n, kubeletNodeDirs...)
		kubeletID := prop(t, n, "kubelet.service", "InvocationID")

		out, code = testbed.Unloop(t, n, "apply", "--strategy", "kubelet", "--output", "json")
		r := decode(t, out)
		if code != 0 || !r.Changed || !r.Verified {
			t.Fatalf("apply: exit %d, changed %v, verified %v\n%s", code, r.Changed, r.Verified, out)
		}
		if a, skipped, _ := r.change("unit", "kubelet.service"); a != "restart" || skipped != "" {
			t.Errorf("apply's JSON: kubelet.service %q (skipped %q), want a restart", a, skipped)
		}
		// Only the drop-in is new: nodeadm's files, which it rewrites at
		// every boot, are left as they were.
		if d := paths(before.diff(snapshotTree(t, n, kubeletNodeDirs...))); !slices.Equal(d, []string{dropIn}) {
			t.Errorf("apply changed %v, want only %s", d, dropIn)
		}
		if id := prop(t, n, "kubelet.service", "InvocationID"); id == kubeletID {
			t.Errorf("kubelet was not restarted")
		}
		onConfig("after apply", "/run/systemd/resolve/resolv.conf")
		if mp := fmt.Sprint(testbed.KubeletConfigz(t, n)["maxPods"]); mp != "110" {
			t.Errorf("kubelet's maxPods after apply is %s, want nodeadm's drop-in's 110 (merged with unloop's)", mp)
		}
		if out, code := testbed.Unloop(t, n, "check"); code != 0 {
			t.Errorf("check after apply exited %d:\n%s", code, out)
		}

		if out, code := testbed.Unloop(t, n, "rollback"); code != 0 {
			t.Fatalf("rollback: exit %d: %s", code, out)
		}
		if d := before.diff(snapshotTree(t, n, kubeletNodeDirs...)); len(d) > 0 {
			t.Errorf("after rollback the node differs:\n%s", strings.Join(d, "\n"))
		}
		onConfig("after rollback", "/etc/resolv.conf")
	})
}

const (
	// k3s.service as k3s-io/k3s install.sh (commit 0136cf258954) writes it
	// for a server installed with no options. k3s cannot be installed here:
	// /usr/local/bin/k3s is a stand-in.
	k3sInstallUnit = `[Unit]
Description=Lightweight Kubernetes
Documentation=https://k3s.io
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-/etc/systemd/system/k3s.service.env
KillMode=process
Delegate=yes
User=root
# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=/usr/local/bin/k3s \
    server \

`
	// The stand-in does not speak sd_notify: a drop-in of the test's makes
	// the unit Type=exec, and unloop reads the unit with it.
	k3sStandinDropIn = "[Service]\nType=exec\n"

	// The stand-in k3s: config.yaml, then config.yaml.d/*.yaml in lexical
	// order (pkg/configfilearg), for resolv-conf and the kubelet-arg (or
	// kubelet-arg+) items that set resolv-conf; a "kubelet-arg:" without "+"
	// replaces the list of the files before it (k3s v1.30–v1.34,
	// readConfigFile); a kubelet-arg beats resolv-conf (pkg/util/args.go),
	// then K3S_RESOLV_CONF. Unset, it prints "autodetect": the tests here
	// always set one.
	k3sStandinScript = `#!/bin/sh
set -eu
rc= karg=
for f in /etc/rancher/k3s/config.yaml $(ls /etc/rancher/k3s/config.yaml.d/*.yaml 2>/dev/null | LC_ALL=C sort); do
	[ -f "$f" ] || continue
	v=$(sed -n 's/^resolv-conf:[[:space:]]*"\{0,1\}\([^"[:space:]]*\)"\{0,1\}[[:space:]]*$/\1/p' "$f" | tail -n 1)
	if [ -n "$v" ]; then rc=$v; fi
	if grep -q '^kubelet-arg:' "$f"; then karg=; fi
	v=$(sed -n 's/^[[:space:]]*-[[:space:]]*"\{0,1\}resolv-conf=\([^"[:space:]]*\)"\{0,1\}[[:space:]]*$/\1/p' "$f" | tail -n 1)
	if [ -n "$v" ]; then karg=$v; fi
done
pod=${karg:-${rc:-${K3S_RESOLV_CONF:-autodetect}}}
echo "k3s $1: kubelet --resolv-conf=$pod"
echo "$pod" > /run/k3s-standin.resolvconf
exec sleep infinity
`
)

// TestK3sConfigD: a k3s server whose config.yaml.d names the stub's
// /etc/resolv.conf, and whose custom.yaml says "kubelet-arg:" without "+":
// read after 99-unloop-resolvconf.yaml, it would drop unloop's kubelet arg.
// apply writes unloop's own config.yaml.d file under a name read after it,
// and restarts k3s.service; the restarted k3s hands kubelet the uplink
// file. Rollback removes the file and restarts k3s again.
func TestK3sConfigD(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newBed(t, node.Options{Release: release}, "")
		b.staticNet()
		b.resolvedDNS("upstream.conf", b.Upstream)
		n := b.Node
		must(t, n.WriteFile("/etc/systemd/system/k3s.service", []byte(k3sInstallUnit), 0o644))
		must(t, n.WriteFile("/etc/systemd/system/k3s.service.d/standin.conf", []byte(k3sStandinDropIn), 0o644))
		must(t, n.WriteFile("/etc/systemd/system/k3s.service.env", nil, 0o600))
		must(t, n.WriteFile("/usr/local/bin/k3s", []byte(k3sStandinScript), 0o755))
		must(t, n.WriteFile("/etc/rancher/k3s/config.yaml", []byte("write-kubeconfig-mode: \"0644\"\nnode-name: k3s-node-1\n"), 0o644))
		must(t, n.WriteFile("/etc/rancher/k3s/config.yaml.d/50-dns.yaml", []byte("resolv-conf: /etc/resolv.conf\n"), 0o644))
		must(t, n.WriteFile("/etc/rancher/k3s/config.yaml.d/custom.yaml", []byte("kubelet-arg:\n  - \"max-pods=150\"\n"), 0o644))
		n.Run("systemctl", "daemon-reload")
		c := cursor(t, n)
		startUnit(t, n, "enable --now", "k3s.service")
		waitK3s(t, n, c, "/etc/resolv.conf")

		out, code := testbed.Unloop(t, n, "check", "--output", "json")
		if r := decode(t, out); code != 2 || !r.has("nameserver-resolved-stub", "127.0.0.53") {
			t.Fatalf("check: exit %d, findings %v", code, r.codes())
		}
		const own = "/etc/rancher/k3s/config.yaml.d/zz-unloop-resolvconf.yaml"
		planShows(t, n, []string{"--strategy", "kubelet"}, "create "+own, "resolv-conf=/run/systemd/resolve/resolv.conf")
		before := snapshotTree(t, n, unloopDirs...)
		k3sID := prop(t, n, "k3s.service", "InvocationID")

		c = cursor(t, n)
		out, code = testbed.Unloop(t, n, "apply", "--strategy", "kubelet", "--output", "json")
		r := decode(t, out)
		if code != 0 || !r.Changed || !r.Verified {
			t.Fatalf("apply: exit %d, changed %v, verified %v\n%s", code, r.Changed, r.Verified, out)
		}
		if a, skipped, _ := r.change("unit", "k3s.service"); a != "restart" || skipped != "" {
			t.Errorf("apply's JSON: k3s.service %q (skipped %q), want a restart", a, skipped)
		}
		if d := paths(before.diff(snapshotTree(t, n, unloopDirs...))); !slices.Equal(d, []string{own}) {
			t.Errorf("apply changed %v, want only %s", d, own)
		}
		if id := prop(t, n, "k3s.service", "InvocationID"); id == k3sID {
			t.Errorf("k3s.service was not restarted")
		}
		if kubelet := prop(t, n, "kubelet.service", "LoadState"); kubelet != "not-found" {
			t.Errorf("kubelet.service is %q: apply made a unit k3s does not have", kubelet)
		}
		waitK3s(t, n, c, "/run/systemd/resolve/resolv.conf")
		if out, code := testbed.Unloop(t, n, "check"); code != 0 {
			t.Errorf("check after apply exited %d:\n%s", code, out)
		}

		k3sID = prop(t, n, "k3s.service", "InvocationID")
		c = cursor(t, n)
		if out, code := testbed.Unloop(t, n, "rollback"); code != 0 {
			t.Fatalf("rollback: exit %d: %s", code, out)
		}
		if id := prop(t, n, "k3s.service", "InvocationID"); id == k3sID {
			t.Errorf("rollback did not restart k3s.service")
		}
		if d := before.diff(snapshotTree(t, n, unloopDirs...)); len(d) > 0 {
			t.Errorf("after rollback the node differs:\n%s", strings.Join(d, "\n"))
		}
		waitK3s(t, n, c, "/etc/resolv.conf")
	})
}

// waitK3s waits for the stand-in k3s, started after cursor c, to log the
// pod file it hands kubelet.
func waitK3s(t *testing.T, n *node.Node, c, want string) {
	t.Helper()
	line := "kubelet --resolv-conf=" + want
	testbed.WaitFor(t, 30*time.Second, "the stand-in k3s logs "+line, func() bool {
		return strings.Contains(logSince(t, n, "k3s.service", c), line)
	})
}
