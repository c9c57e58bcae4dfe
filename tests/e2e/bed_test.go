package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// A bed is a node on a testbed.Net (an upstream CoreDNS answering
// example.test on the far side) where a DHCP server (dnsmasq, DHCP only) also
// runs. Everything lives in namespaces the test made; nothing reaches this
// machine's own network.
type bed struct {
	*testbed.Net // ulnetN and ulnodeN, 10.99.N.0/24
	t            testing.TB
	Node         *node.Node
}

// dhcpDNS is what the DHCP server hands out as domain-name-servers ("" for
// the upstream alone; UPSTREAM in it stands for the upstream's address).
// opts is the node's: Release and Ready are taken from it.
func newBed(t testing.TB, opts node.Options, dhcpDNS string) *bed {
	t.Helper()
	b := &bed{Net: testbed.NewNet(t, "ul", "10.99"), t: t}
	dhcpDNS = strings.ReplaceAll(dhcpDNS, "UPSTREAM", b.Upstream)
	if dhcpDNS == "" {
		dhcpDNS = b.Upstream
	}
	b.DHCP("option:dns-server,"+dhcpDNS, "option:domain-name,example.internal")
	b.Node = testbed.Boot(t, binDir, node.Options{Release: opts.Release, Ready: opts.Ready, NetNS: b.NodeNS, Overlay: t.TempDir(), Capabilities: []string{"CAP_NET_ADMIN"},
		Binds: map[string]string{filepath.Dir(node.CoreDNS(t)): "/opt/coredns"}})
	return b
}

// The nodes' dhclient unit, and the watch's bed (TestWatchOnNode): node-local-dns
// played by a real CoreDNS unit that sees the pod file as its
// /etc/resolv.conf, and a stand-in kubelet whose config names that file.
const (
	dhclientUnit = `[Unit]
Description=dhclient on eth0
Wants=network.target
Before=network-online.target
[Service]
ExecStart=/sbin/dhclient -d -4 -v eth0
[Install]
WantedBy=multi-user.target
`
	// A pod's sandbox gets a copy of the pod file when it is created: so does
	// this unit, at each start, mounted over its own /etc/resolv.conf.
	nodeLocalDNSUnit = `[Unit]
Description=node-local-dns (CoreDNS on 169.254.25.10, hostNetwork, dnsPolicy: Default)
After=network-online.target dhclient.service kubelet.service
[Service]
ExecStartPre=-/sbin/ip addr add 169.254.25.10/32 dev lo
ExecStart=/usr/bin/unshare --mount --propagation private /usr/local/bin/pod-sandbox /opt/coredns/coredns -conf /etc/coredns/Corefile
Restart=no
[Install]
WantedBy=multi-user.target
`
	// podSandbox is the runtime's part: copy the pod file kubelet names and
	// show it to the pod as /etc/resolv.conf.
	podSandbox = `#!/bin/sh
set -eu
f=$(sed -n 's/^resolvConf: *//p' /var/lib/kubelet/config.yaml | tr -d '"')
cp -L "${f:-/etc/resolv.conf}" /run/pod-resolv.conf
mount --bind -o ro /run/pod-resolv.conf /etc/resolv.conf
exec "$@"
`
	// policy sequential: with forward's default (random) the loop is caught
	// only when the looping server is picked first, as in the field ("works
	// after one reboot, fails after the next"); the test wants it every time.
	nodeLocalCorefile = `.:53 {
    errors
    bind 169.254.25.10
    loop
    reload 2s
    forward . /etc/resolv.conf {
        policy sequential
    }
}
`
)

// kubeletUnit is the stand-in kubelet (its config read, then sleep) of the
// watch's bed (TestWatchOnNode: what it measures is the watch, for CI's
// time); TestRestartFails has stand-ins of its own, kubelets whose restart
// goes wrong on purpose. Every scenario whose story is kubelet and its pods
// runs the real kubelet (testbed.KubeletOptions).
const kubeletUnit = `[Unit]
Description=stand-in kubelet: reads its config and sleeps
[Service]
ExecStart=/bin/sh -c 'cat /var/lib/kubelet/config.yaml; exec sleep infinity'
[Install]
WantedBy=multi-user.target
`

// installNodeLocalDNS writes the units and the stand-in kubelet into the node.
func (b *bed) installNodeLocalDNS() {
	n := b.Node
	must(b.t, n.WriteFile("/etc/systemd/system/kubelet.service", []byte(kubeletUnit), 0o644))
	must(b.t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(testbed.KubeletConfig), 0o644))
	must(b.t, n.WriteFile("/etc/systemd/system/nodelocaldns.service", []byte(nodeLocalDNSUnit), 0o644))
	must(b.t, n.WriteFile("/etc/coredns/Corefile", []byte(nodeLocalCorefile), 0o644))
	must(b.t, n.WriteFile("/usr/local/bin/pod-sandbox", []byte(podSandbox), 0o755))
	n.Run("systemctl", "daemon-reload")
	startUnit(b.t, n, "enable --now", "kubelet.service")
}

// startDHCP installs and starts dhclient on eth0 and waits for the file it writes.
func (b *bed) startDHCP(want string) {
	n := b.Node
	must(b.t, n.WriteFile("/etc/systemd/system/dhclient.service", []byte(dhclientUnit), 0o644))
	n.Run("systemctl", "daemon-reload")
	startUnit(b.t, n, "enable --now", "dhclient.service")
	b.waitResolv(want)
}

// waitResolv waits until the node's /etc/resolv.conf contains want.
func (b *bed) waitResolv(want string) string {
	b.t.Helper()
	var data []byte
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		data, _ = b.Node.ReadFile("/etc/resolv.conf")
		if strings.Contains(string(data), want) {
			return string(data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("/etc/resolv.conf never contained %q:\n%s\njournal:\n%s", want, data, b.Node.Run("journalctl", "-b", "--no-pager", "-n", "60"))
	return ""
}
