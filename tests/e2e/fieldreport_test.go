package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
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

// TestFieldReport is the field's loop on a real node with the real kubelet
// (v1.34.4 on containerd): dhclient writes node-local-dns's own address into
// the node's /etc/resolv.conf, kubelet copies it into node-local-dns's
// sandbox (a static pod, hostNetwork, dnsPolicy: Default), and CoreDNS's loop
// plugin ends the container at every start: a real CrashLoopBackOff (restart
// count, the FATAL line in its log, kubelet's back-off). check names the pod
// (CRI gives its labels); apply fixes the file at its source and recreates
// the pod through CRI; it answers, and still does after a DHCP run and a
// reboot; rollback brings the file back byte for byte, and the next sandbox
// dies of the loop again. `make demo` is this test on bookworm, narrated.
func TestFieldReport(t *testing.T) {
	if os.Getenv("UNLOOP_DEMO") != "" {
		t.Run(testbed.Releases[0], func(t *testing.T) { fieldReport(t, testbed.Releases[0]) })
		return
	}
	testbed.ForEachRelease(t, fieldReport)
}

func fieldReport(t *testing.T, release string) {
	say("Booting a throwaway %s node with dhclient, containerd and a real kubelet (v1.34.4), next to a DHCP server that also hands out node-local-dns's address; kubelet runs node-local-dns (CoreDNS with the loop plugin on 169.254.25.10) as a static pod", release)
	b, sb, last := fieldReportKubelet(t, release)
	n := b.Node
	before := string(must1(n.ReadFile("/etc/resolv.conf")))
	say("dhclient wrote the node's /etc/resolv.conf, which kubelet copies into the pod:")
	show(before)

	say("node-local-dns crash-loops")
	log := n.Run(testbed.Crictl, "logs", last.ID)
	if !strings.Contains(log, "[FATAL] plugin/loop: Loop (169.254.25.10:") || !strings.Contains(log, nodeCacheLoop) {
		t.Fatalf("the crashed container's log has no FATAL loop line:\n%s", log)
	}
	show(n.Run(testbed.Crictl, "ps", "-a", "--pod", sb.ID))
	show(lastLine(log, "[FATAL]"))
	kl := n.Run("journalctl", "-b", "-u", "kubelet.service", "--no-pager", "-o", "cat")
	if !strings.Contains(kl, "back-off") {
		t.Errorf("kubelet logs no back-off for the pod")
	}
	show(lastLine(kl, "CrashLoopBackOff"))

	say("unloop check (online: it asks containerd, over CRI, which pods hold a copy of the file)")
	out, code := testbed.Unloop(t, n, "check")
	show(out)
	if code != 2 {
		t.Fatalf("check exited %d, want 2", code)
	}
	pod := "kube-system/" + sb.Name
	r := decode(t, must1s(testbed.Unloop(t, n, "check", "--output", "json")))
	if !r.has("nameserver-node-local-dns", "169.254.25.10") || !r.has("dhclient-injects-nameserver", "169.254.25.10") ||
		!slices.ContainsFunc(r.Findings, func(f finding) bool {
			return f.Code == "pod-resolv-conf-stale" && f.Pod == pod && strings.Contains(f.File, sb.ID)
		}) {
		t.Fatalf("check does not name the loop and %s's stale copy: %v", pod, r.codes())
	}

	say("unloop plan --strategy dhclient: what apply would change, as diffs")
	confBefore := must1(n.ReadFile("/etc/dhcp/dhclient.conf"))
	resolvBefore := must1(n.ReadFile("/etc/resolv.conf"))
	out, code = testbed.Unloop(t, n, "plan", "--strategy", "dhclient", "--detailed-exitcode")
	show(out[strings.Index(out, "Plan ("):])
	if code != 2 || !strings.Contains(out, "+# unloop: prepend domain-name-servers 169.254.25.10;") || !strings.Contains(out, "recreate pod "+pod+"\n") {
		t.Fatalf("plan exited %d (want 2: changes, the hook and the pod):\n%s", code, out)
	}
	if got := must1(n.ReadFile("/etc/resolv.conf")); string(got) != string(resolvBefore) {
		t.Fatal("plan changed /etc/resolv.conf")
	}

	say("unloop apply --strategy dhclient: the same plan, carried out; then the pod is recreated through CRI")
	start := time.Now()
	out, code = testbed.Unloop(t, n, "apply", "--strategy", "dhclient", "--output", "json")
	if code != 0 {
		t.Fatalf("apply exited %d:\n%s", code, out)
	}
	var res struct {
		Verified      bool
		PodsRecreated []string `json:"pods_recreated"`
		PodsStale     []string `json:"pods_stale"`
	}
	must(t, json.Unmarshal([]byte(out), &res))
	if !res.Verified || !slices.Equal(res.PodsRecreated, []string{pod}) || len(res.PodsStale) > 0 {
		t.Fatalf("apply: verified %v, recreated %q, stale %q; want %s recreated:\n%s", res.Verified, res.PodsRecreated, res.PodsStale, pod, out)
	}
	show(fmt.Sprintf("verified: %v; pods recreated: %s", res.Verified, strings.Join(res.PodsRecreated, ", ")))
	if got := string(must1(n.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") || !strings.Contains(got, b.Upstream) {
		t.Fatalf("after apply /etc/resolv.conf is:\n%s", got)
	}
	sb = newSandbox(t, n, "node-local-dns", sb.ID)
	if cp := string(must1(n.ReadFile(sandboxCopy(sb.ID)))); strings.Contains(cp, "169.254.25.10") {
		t.Fatalf("the new sandbox's copy still names 169.254.25.10:\n%s", cp)
	}
	answered := podAnswers(t, n, sb, "169.254.25.10")
	t.Logf("apply → %s answers: %v", pod, answered.Sub(start).Round(100*time.Millisecond))
	ans, _ := testbed.Dig(n, "169.254.25.10")
	say("node-local-dns's new pod answers example.test through the real upstream: %s", ans)
	if out, code := testbed.Unloop(t, n, "check"); code != 0 {
		t.Errorf("check after apply exited %d:\n%s", code, out)
	}

	say("A new DHCP run (dhclient restarted): the hook keeps the address out")
	bound := dhcpRuns(t, b)
	startUnit(t, n, "restart", "dhclient.service")
	waitDHCP(t, b, bound)
	after := string(must1(n.ReadFile("/etc/resolv.conf")))
	show(after)
	if strings.Contains(after, "169.254.25.10") || !strings.Contains(after, b.Upstream) {
		t.Fatalf("after a new DHCP run /etc/resolv.conf is:\n%s", after)
	}
	podAnswers(t, n, sb, "169.254.25.10")

	say("Rebooting the node: kubelet makes node-local-dns's pod again, from the clean file")
	n.Reboot()
	waitDHCP(t, b, 0)
	if got := string(must1(n.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") {
		t.Fatalf("after reboot /etc/resolv.conf is:\n%s", got)
	}
	testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok after the reboot", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
	var rebooted testbed.Sandbox
	testbed.WaitFor(t, 2*time.Minute, "node-local-dns's sandbox after the reboot", func() bool {
		sbs := testbed.Sandboxes(t, n, "node-local-dns")
		if len(sbs) == 0 || sbs[0].State != "SANDBOX_READY" {
			return false
		}
		rebooted = sbs[0]
		return true
	})
	podAnswers(t, n, rebooted, "169.254.25.10")
	if out, code := testbed.Unloop(t, n, "check"); code != 0 {
		t.Fatalf("check after reboot exited %d:\n%s", code, out)
	}
	say("Still clean after the reboot; node-local-dns answers")

	say("unloop rollback: the files come back byte for byte, and with them the loop")
	// dhclient is stopped meanwhile: a renew whose script sourced the hook
	// before the rollback removed it would write a clean file after it.
	startUnit(t, n, "stop", "dhclient.service")
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
	// The running pod keeps its clean copy; its next sandbox (as after
	// `kubectl delete pod`) gets the looping file again and dies of it.
	bound = dhcpRuns(t, b)
	startUnit(t, n, "start", "dhclient.service")
	waitDHCP(t, b, bound)
	if got := string(must1(n.ReadFile("/etc/resolv.conf"))); !strings.Contains(got, "nameserver 169.254.25.10\n") {
		t.Fatalf("dhclient without the hook wrote:\n%s", got)
	}
	if ok, log := nextDiesOfLoop(t, n, "node-local-dns", rebooted.ID); !ok {
		t.Fatalf("after rollback node-local-dns's next sandbox does not die of the loop:\n%s", log)
	} else {
		show(lastLine(log, "[FATAL]"))
	}
}

// sandboxCopy is where containerd keeps a sandbox's copy of the pod file.
func sandboxCopy(id string) string {
	return "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + id + "/resolv.conf"
}

// diesOfLoop waits for a sandbox of pod that is none of before (kubelet's
// next one) and for a run of its container to exit with plugin/loop's FATAL
// line (loopExit); it returns that run's log, or on a timeout what the newest
// sandbox's copy of the pod file says.
func diesOfLoop(t testing.TB, n *node.Node, pod string, before []string) (bool, string) {
	t.Helper()
	sb, _, log, ok := loopExit(t, n, pod, before, 0, 2*time.Minute)
	if !ok && sb.ID != "" {
		cp, _ := n.ReadFile(sandboxCopy(sb.ID))
		log = fmt.Sprintf("sandbox %s, its copy of the pod file:\n%s\nits last run's log:\n%s", sb.ID, cp, log)
	}
	return ok, log
}

// nextDiesOfLoop removes the pod's sandbox id, as `kubectl delete pod` or an
// eviction would, and waits for kubelet's next sandbox to die of the loop
// (diesOfLoop).
func nextDiesOfLoop(t testing.TB, n *node.Node, pod, id string) (bool, string) {
	t.Helper()
	var before []string
	for _, sb := range testbed.Sandboxes(t, n, pod) {
		before = append(before, sb.ID)
	}
	removeSandbox(t, n, id)
	return diesOfLoop(t, n, pod, before)
}

// lastLine is the last line of s that contains sub ("" when none does).
func lastLine(s, sub string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	return ""
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
