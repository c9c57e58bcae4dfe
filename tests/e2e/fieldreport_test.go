package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// say narrates the story for `make demo` (UNLOOP_DEMO=1); tests stay quiet.
func say(format string, args ...any) {
	if os.Getenv("UNLOOP_DEMO") != "" {
		fmt.Printf("\n==> "+format+"\n", args...)
	}
}

func show(s string) {
	if os.Getenv("UNLOOP_DEMO") != "" {
		fmt.Println(strings.TrimRight(s, "\n"))
	}
}

const dhclientConf = `# Debian's default, plus the line Kubespray's users add for node-local-dns.
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
send host-name = gethostname();
prepend domain-name-servers 169.254.25.10;
request subnet-mask, broadcast-address, time-offset, routers,
	domain-name, domain-name-servers, domain-search, host-name,
	rfc3442-classless-static-routes;
`

// TestFieldReport is the field's loop on a real node: dhclient writes
// node-local-dns's own address into the file kubelet hands to pods, and
// node-local-dns (a real CoreDNS) exits with plugin/loop. unloop finds it,
// fixes it at the source, and the fix holds across a DHCP run and a reboot;
// rollback brings the loop back byte for byte.
func TestFieldReport(t *testing.T) {
	releases := testbed.Releases
	if os.Getenv("UNLOOP_DEMO") != "" {
		releases = releases[:1]
	}
	for _, release := range releases {
		t.Run(release, func(t *testing.T) { fieldReport(t, release) })
	}
}

func fieldReport(t *testing.T, release string) {
	say("Booting a throwaway %s node (systemd, systemd-resolved, dhclient) next to a DHCP server and an upstream DNS server", release)
	// The DHCP server hands out the node cache too (as a cloud's DHCP options
	// set by Kubespray's users do): only the hook can keep it out at a renew.
	// A node without systemd-resolved, as on RHEL: trixie's dhclient hands its
	// servers to resolved instead of writing the file when resolved is enabled.
	b := newBed(t, node.Options{Release: release, Ready: []string{"dbus.service"}}, "169.254.25.10,UPSTREAM")
	n := b.Node
	n.Run("systemctl", "disable", "--now", "systemd-resolved.service")
	// Like RHEL: a plain /etc/resolv.conf that dhclient-script owns.
	// (n.Path follows the link; the link itself is in /etc.)
	must(t, os.Remove(filepath.Join(must1(n.Path("/etc")), "resolv.conf")))
	must(t, n.WriteFile("/etc/resolv.conf", nil, 0o644))
	must(t, n.WriteFile("/etc/dhcp/dhclient.conf", []byte(dhclientConf), 0o644))
	b.installNodeLocalDNS()
	b.startDHCP(b.Upstream)
	before := b.waitResolv("169.254.25.10")
	say("dhclient wrote the node's /etc/resolv.conf (kubelet hands it to pods):")
	show(before)

	say("Starting node-local-dns (CoreDNS with the loop plugin, forwarding '.' to that file)")
	loops, log := b.nodeLocalDNSExitsWithLoop()
	show(log)
	if !loops {
		t.Fatalf("node-local-dns did not exit with the loop before the fix:\n%s", log)
	}

	say("unloop check")
	out, code := testbed.Unloop(t, n, "check")
	show(out)
	if code != 2 {
		t.Fatalf("check exited %d, want 2", code)
	}
	r := decode(t, must1s(testbed.Unloop(t, n, "check", "--output", "json")))
	if !r.has("nameserver-node-local-dns", "169.254.25.10") || !r.has("dhclient-injects-nameserver", "169.254.25.10") {
		t.Fatalf("check found %v", r.codes())
	}

	say("unloop plan --strategy dhclient: what apply would change, as diffs")
	confBefore := must1(n.ReadFile("/etc/dhcp/dhclient.conf"))
	resolvBefore := must1(n.ReadFile("/etc/resolv.conf"))
	out, code = testbed.Unloop(t, n, "plan", "--strategy", "dhclient", "--detailed-exitcode")
	show(out[strings.Index(out, "Plan ("):])
	if code != 2 || !strings.Contains(out, "+# unloop: prepend domain-name-servers 169.254.25.10;") {
		t.Fatalf("plan exited %d (want 2: changes):\n%s", code, out)
	}
	if got := must1(n.ReadFile("/etc/resolv.conf")); string(got) != string(resolvBefore) {
		t.Fatal("plan changed /etc/resolv.conf")
	}

	say("unloop apply --strategy dhclient: the same plan, carried out")
	out, code = testbed.Unloop(t, n, "apply", "--strategy", "dhclient")
	show(out[strings.LastIndex(strings.TrimRight(out, "\n"), "\n")+1:])
	if code != 0 {
		t.Fatalf("apply exited %d:\n%s", code, out)
	}
	if got := string(must1(n.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") || !strings.Contains(got, b.Upstream) {
		t.Fatalf("after apply /etc/resolv.conf is:\n%s", got)
	}

	say("Recreating node-local-dns (a pod keeps the file it started with)")
	n.Run("systemctl", "restart", "nodelocaldns.service")
	b.serves()
	ans, _ := b.answers()
	say("node-local-dns answers example.test through the real upstream: %s", ans)

	say("A new DHCP run (dhclient restarted): the hook keeps the address out")
	bound := dhcpRuns(t, b)
	startUnit(t, n, "restart", "dhclient.service")
	waitDHCP(t, b, bound)
	after := string(must1(n.ReadFile("/etc/resolv.conf")))
	show(after)
	if strings.Contains(after, "169.254.25.10") || !strings.Contains(after, b.Upstream) {
		t.Fatalf("after a new DHCP run /etc/resolv.conf is:\n%s", after)
	}

	say("Rebooting the node")
	n.Reboot()
	waitDHCP(t, b, 0)
	if got := string(must1(n.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") {
		t.Fatalf("after reboot /etc/resolv.conf is:\n%s", got)
	}
	n.Run("systemctl", "restart", "nodelocaldns.service")
	b.serves()
	r = decode(t, must1s(testbed.Unloop(t, n, "check", "--output", "json")))
	if r.Status == "error" {
		t.Fatalf("check after reboot: %v", r.codes())
	}
	say("Still clean after the reboot; node-local-dns answers")

	say("unloop rollback: the loop comes back, byte for byte")
	out, code = testbed.Unloop(t, n, "rollback")
	show(out)
	if code != 0 {
		t.Fatalf("rollback exited %d", code)
	}
	if got := must1(n.ReadFile("/etc/dhcp/dhclient.conf")); string(got) != string(confBefore) {
		t.Errorf("dhclient.conf after rollback:\n%s\nwant:\n%s", got, confBefore)
	}
	if got := must1(n.ReadFile("/etc/resolv.conf")); string(got) != string(resolvBefore) {
		t.Errorf("resolv.conf after rollback:\n%s\nwant:\n%s", got, resolvBefore)
	}
	if _, err := n.ReadFile("/etc/dhcp/dhclient-enter-hooks.d/unloop"); err == nil {
		t.Errorf("the hook is still there after rollback")
	}
	if loops, log := b.nodeLocalDNSExitsWithLoop(); !loops {
		t.Fatalf("after rollback node-local-dns does not loop again:\n%s", log)
	}
}

// dhcpRuns counts the leases dhclient got in this boot.
func dhcpRuns(t *testing.T, b *bed) int {
	log, _ := b.Node.Exec(t.Context(), "journalctl", "-b", "-u", "dhclient.service", "--no-pager", "-o", "cat")
	return strings.Count(log, "bound to")
}

// waitDHCP waits until dhclient got more than after leases in this boot: a
// new run of dhclient-script, hooks and all, has written the file.
func waitDHCP(t *testing.T, b *bed, after int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		// dhclient logs "bound to" after dhclient-script (hooks and all) has
		// written the file.
		if dhcpRuns(t, b) > after {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("dhclient did not get a new lease:\n%s", b.Node.Run("journalctl", "-b", "-u", "dhclient.service", "--no-pager", "-o", "cat"))
}

func must1[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func must1s(s string, _ int) string { return s }
