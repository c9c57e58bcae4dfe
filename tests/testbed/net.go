package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/unloop/unloop/tests/node"
)

// A Net is a pair of network namespaces the test made, joined by a veth pair:
// the node's side (its eth0, for node.Options.NetNS) and the network's side
// (net0), where a real CoreDNS answers as the upstream DNS server. Nothing
// reaches this machine's own network, and the namespaces outlive the node's
// reboots. Both are deleted at cleanup.
type Net struct {
	t        testing.TB
	subnet   string // "10.99.N."
	NetNS    string // the network's side
	NodeNS   string // the node's side
	Upstream string // the upstream DNS server, 10.S.N.1
	NodeAddr string // the node's static address, 10.S.N.2, once AddNodeAddr put it on eth0
}

var netCount atomic.Int32

// NewNet makes a Net named prefix+"net"+N and prefix+"node"+N in the subnet
// 10.S.N.0/24 (subnet "10.S"). Each test package has a prefix and a subnet of
// its own; N is one no other running test holds (netID).
func NewNet(t testing.TB, prefix, subnet string) *Net {
	t.Helper()
	return newNet(t, prefix, subnet, netID(t, prefix))
}

// lockDir holds a lock file per network number in use.
const lockDir = "/run/unloop-testbed"

// netID takes a network number 20..219 for prefix that no running test
// holds, and holds it (an flock on its lock file) until t's cleanup, after
// the namespaces are gone. Namespaces named for a number nobody holds are
// then a killed run's leftovers, safe to delete. The PID spreads where each
// process starts looking.
func netID(t testing.TB, prefix string) int {
	t.Helper()
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	start := int(netCount.Add(1)) + os.Getpid()%40*5
	for i := range 200 {
		id := (start+i)%200 + 20
		f, err := os.OpenFile(filepath.Join(lockDir, fmt.Sprintf("%s%d.lock", prefix, id)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		// Registered before the namespaces' cleanups, so it runs after them.
		t.Cleanup(func() { f.Close() })
		return id
	}
	t.Fatalf("no free test network number for %q: 200 held", prefix)
	return 0
}

// newNet makes the Net of number id (held by the caller).
func newNet(t testing.TB, prefix, subnet string, id int) *Net {
	t.Helper()
	nw := &Net{t: t, subnet: fmt.Sprintf("%s.%d.", subnet, id),
		NetNS: fmt.Sprintf("%snet%d", prefix, id), NodeNS: fmt.Sprintf("%snode%d", prefix, id)}
	nw.Upstream, nw.NodeAddr = nw.Addr(1), nw.Addr(2)
	for _, ns := range []string{nw.NetNS, nw.NodeNS} {
		_ = exec.Command("ip", "netns", "delete", ns).Run() // a leftover of a killed run
		nw.IP("netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })
	}
	nw.IP("-n", nw.NetNS, "link", "add", "net0", "type", "veth", "peer", "name", "eth0", "netns", nw.NodeNS)
	nw.IP("-n", nw.NetNS, "addr", "add", nw.Upstream+"/24", "dev", "net0")
	for _, l := range [][2]string{{nw.NetNS, "net0"}, {nw.NetNS, "lo"}, {nw.NodeNS, "eth0"}, {nw.NodeNS, "lo"}} {
		nw.IP("-n", l[0], "link", "set", l[1], "up")
	}
	corefile := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(corefile, []byte(fmt.Sprintf(upstreamCorefile, nw.Upstream)), 0o644); err != nil {
		t.Fatal(err)
	}
	nw.Daemon("upstream coredns", node.CoreDNS(t), "-conf", corefile)
	return nw
}

// upstreamCorefile gives example.test an address (what a test asks through
// the node's resolvers to see DNS work end to end) and answers NXDOMAIN for
// the rest: an answer all the same, so unloop's online check counts the
// server as working.
const upstreamCorefile = `example.test:53 {
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
`

// Addr is the address 10.S.N.host on the Net's subnet.
func (nw *Net) Addr(host int) string { return nw.subnet + fmt.Sprint(host) }

// AddNodeAddr puts NodeAddr on the node's eth0: the node's address when no
// DHCP client in the node gets one.
func (nw *Net) AddNodeAddr() {
	nw.t.Helper()
	nw.IP("-n", nw.NodeNS, "addr", "add", nw.NodeAddr+"/24", "dev", "eth0")
}

// DHCP starts a DHCP server on the network's side: dnsmasq with its DNS off,
// leasing .50 to .99 for two minutes, with options (dnsmasq's --dhcp-option
// values, "option:dns-server,10.99.20.1").
func (nw *Net) DHCP(options ...string) {
	nw.t.Helper()
	args := []string{"dnsmasq", "--no-daemon", "--conf-file=/dev/null",
		"--port=0", "--interface=net0", "--bind-interfaces", "--log-dhcp",
		"--dhcp-range=" + nw.Addr(50) + "," + nw.Addr(99) + ",255.255.255.0,2m"}
	for _, o := range options {
		args = append(args, "--dhcp-option="+o)
	}
	args = append(args, "--dhcp-leasefile="+filepath.Join(nw.t.TempDir(), "leases"), "--pid-file=")
	nw.Daemon("dnsmasq", args...)
}

// IP runs ip(8) with args on the host (-n names a namespace) and fails the
// test when it fails.
func (nw *Net) IP(args ...string) {
	nw.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		nw.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// Daemon starts args in the network's namespace and ends it, by its PID, at
// cleanup (before the namespaces go). Its output goes to a log that is shown
// when the test failed: the daemon's side of the story.
func (nw *Net) Daemon(name string, args ...string) {
	t := nw.t
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", nw.NetNS}, args...)...)
	log, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	// Should the test process die, the daemon goes with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log.Close()
		if t.Failed() {
			data, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", name, data)
		}
	})
}
