package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
)

// A bed is a node joined by a veth pair to a second network namespace that
// plays the network: a DHCP server (dnsmasq, DHCP only) and an upstream DNS
// server (a real CoreDNS answering example.test). Everything lives in
// namespaces the test made; nothing reaches this machine's own network.
type bed struct {
	t        *testing.T
	id       string
	netNS    string // the network's side
	nodeNS   string // the node's side (its eth0)
	Upstream string // the upstream DNS server's address, 10.99.N.1
	Node     *node.Node
	opts     node.Options
}

var bedCount atomic.Int32

// dhcpDNS is what the DHCP server hands out as domain-name-servers ("" for
// the upstream alone; UPSTREAM in it stands for the upstream's address).
// opts is the node's: Release and Ready are taken from it.
func newBed(t *testing.T, opts node.Options, dhcpDNS string) *bed {
	t.Helper()
	n := int(bedCount.Add(1)) + (os.Getpid()%50)*4
	b := &bed{t: t, id: fmt.Sprintf("%d", n%200+20)}
	b.netNS, b.nodeNS = "ulnet"+b.id, "ulnode"+b.id
	b.Upstream = "10.99." + b.id + ".1"
	sub := "10.99." + b.id + "."
	dhcpDNS = strings.ReplaceAll(dhcpDNS, "UPSTREAM", b.Upstream)
	if dhcpDNS == "" {
		dhcpDNS = b.Upstream
	}
	for _, ns := range []string{b.netNS, b.nodeNS} {
		_ = exec.Command("ip", "netns", "delete", ns).Run() // a leftover of a killed run
		b.ip("netns", "add", ns)
		ns := ns
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	}
	b.ip("-n", b.netNS, "link", "add", "net0", "type", "veth", "peer", "name", "eth0", "netns", b.nodeNS)
	b.ip("-n", b.netNS, "addr", "add", b.Upstream+"/24", "dev", "net0")
	b.ip("-n", b.netNS, "link", "set", "net0", "up")
	b.ip("-n", b.netNS, "link", "set", "lo", "up")
	b.ip("-n", b.nodeNS, "link", "set", "eth0", "up")
	b.ip("-n", b.nodeNS, "link", "set", "lo", "up")

	tmp := t.TempDir()
	b.daemon("dnsmasq", "ip", "netns", "exec", b.netNS, "dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--interface=net0", "--bind-interfaces", "--log-dhcp",
		"--dhcp-range="+sub+"50,"+sub+"99,255.255.255.0,2m",
		"--dhcp-option=option:dns-server,"+dhcpDNS,
		"--dhcp-option=option:domain-name,example.internal",
		"--dhcp-leasefile="+filepath.Join(tmp, "leases"), "--pid-file=")
	corefile := filepath.Join(tmp, "Corefile")
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
`, b.Upstream)), 0o644))
	b.daemon("upstream coredns", "ip", "netns", "exec", b.netNS, node.CoreDNS(t), "-conf", corefile)

	b.opts = node.Options{Release: opts.Release, Ready: opts.Ready, NetNS: b.nodeNS, Overlay: t.TempDir(), Capabilities: []string{"CAP_NET_ADMIN"},
		Binds: map[string]string{filepath.Dir(node.CoreDNS(t)): "/opt/coredns"}}
	b.Node = boot(t, b.opts)
	return b
}

func (b *bed) ip(args ...string) {
	b.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		b.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// daemon starts a process of the bed's and ends it (by its PID) at cleanup.
func (b *bed) daemon(name string, args ...string) {
	b.t.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	log, err := os.Create(filepath.Join(b.t.TempDir(), "log"))
	must(b.t, err)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	must(b.t, cmd.Start())
	b.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if b.t.Failed() {
			data, _ := os.ReadFile(log.Name())
			b.t.Logf("%s log:\n%s", name, data)
		}
	})
}

// The node's side of the story: a dhclient unit, node-local-dns played by a
// real CoreDNS that sees the pod file as its /etc/resolv.conf, and a stand-in
// kubelet whose config names that file.
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

// installNodeLocalDNS writes the units and the stand-in kubelet into the node.
func (b *bed) installNodeLocalDNS() {
	n := b.Node
	must(b.t, n.WriteFile("/etc/systemd/system/kubelet.service", []byte(kubeletUnit), 0o644))
	must(b.t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(kubeletConfig), 0o644))
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

// coreDNSLoops starts node-local-dns and reports whether it died of the loop
// (the FATAL line in its journal and a failed unit) within 15 seconds.
func (b *bed) nodeLocalDNSExitsWithLoop() (bool, string) {
	b.t.Helper()
	n := b.Node
	_, _ = n.Exec(context.Background(), "systemctl", "reset-failed", "nodelocaldns.service") // not loaded yet: fine
	_, _ = n.Exec(context.Background(), "systemctl", "restart", "nodelocaldns.service")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		state, _ := n.Exec(context.Background(), "systemctl", "is-failed", "nodelocaldns.service")
		if strings.TrimSpace(state) == "failed" {
			log := n.Run("journalctl", "-b", "-u", "nodelocaldns.service", "--no-pager", "-o", "cat")
			return strings.Contains(log, "[FATAL] plugin/loop: Loop (169.254.25.10:") && strings.Contains(log, "-> 169.254.25.10:53) detected"), log
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false, n.Run("journalctl", "-b", "-u", "nodelocaldns.service", "--no-pager", "-o", "cat")
}

// answers asks node-local-dns (169.254.25.10, inside the node's network
// namespace) for example.test and returns the answer.
func (b *bed) answers() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+b.nodeNS, "dig", "+short", "+time=2", "+tries=1", "@169.254.25.10", "example.test", "A").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// servesFor waits until node-local-dns answers example.test, then checks it
// is still running a few seconds later (the loop plugin would have ended it).
func (b *bed) serves() {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var ans string
	var err error
	for time.Now().Before(deadline) {
		if ans, err = b.answers(); err == nil && ans == "192.0.2.10" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ans != "192.0.2.10" {
		b.t.Fatalf("node-local-dns does not answer example.test: %q %v\n%s", ans, err,
			b.Node.Run("journalctl", "-b", "-u", "nodelocaldns.service", "--no-pager", "-o", "cat"))
	}
	time.Sleep(3 * time.Second)
	if st, _ := b.Node.Exec(context.Background(), "systemctl", "is-active", "nodelocaldns.service"); strings.TrimSpace(st) != "active" {
		b.t.Fatalf("node-local-dns stopped after answering (%s):\n%s", st, b.Node.Run("journalctl", "-b", "-u", "nodelocaldns.service", "--no-pager", "-o", "cat"))
	}
}
