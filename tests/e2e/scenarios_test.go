package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// The scenarios of issue 4 beyond the field report, each on real bookworm
// (systemd 252) and trixie (systemd 257) nodes: the loop seen as the user sees
// it (CoreDNS's FATAL line, a crashed container or unit), unloop's exit codes
// and JSON, CoreDNS answering afterwards, and the node as it was after a
// rollback. The scenarios with kubelet (2, 3, 4, 6 and the black holes) run
// the real kubelet (v1.34.4 on containerd) and CoreDNS as its static pods
// (realpods_test.go); scenario 5 runs CoreDNS on the host, without kubelet.

// podCorefile is CoreDNS as the cluster runs it: no bind (every address of
// the pod), the pod file as its upstream, loop and reload. Mounted from
// /etc/pod-coredns, where a ConfigMap would be: not /etc/coredns/Corefile,
// which unloop reads as a CoreDNS run on the host.
const podCorefile = `.:53 {
    errors
    loop
    reload 2s
    forward . /etc/resolv.conf {
        policy sequential
    }
}
`

// staticNet gives the node a static address: no DHCP client, since dhclient
// and resolved disagree between the releases about who writes the file.
func (b *bed) staticNet() {
	b.t.Helper()
	b.AddNodeAddr()
}

// resolvedDNS gives systemd-resolved its upstreams in a drop-in of the
// node's and waits until its uplink file names them.
func (b *bed) resolvedDNS(name, servers string) {
	b.t.Helper()
	n := b.Node
	must(b.t, n.WriteFile("/etc/systemd/resolved.conf.d/"+name, []byte("[Resolve]\nDNS="+servers+"\n"), 0o644))
	startUnit(b.t, n, "restart", "systemd-resolved.service")
	testbed.WaitFor(b.t, resolvedSlow, "resolved's uplink file names "+servers, func() bool {
		d, _ := n.ReadFile("/run/systemd/resolve/resolv.conf")
		return strings.Contains(string(d), "nameserver "+strings.Fields(servers)[0]+"\n")
	})
}

// startUnit starts or restarts unit (systemctl verb: start, restart, enable
// --now); a failure shows the unit's status and log. My units are Type=exec,
// so a start that could not run the program fails here.
func startUnit(t testing.TB, n *node.Node, verb, unit string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := n.Exec(ctx, append(append([]string{"systemctl"}, strings.Fields(verb)...), unit)...); err != nil {
		status, _ := n.Exec(t.Context(), "systemctl", "status", "--no-pager", "-l", unit)
		log, _ := n.Exec(t.Context(), "journalctl", "-b", "--no-pager", "-n", "40")
		t.Fatalf("%v\n%s\n%s", err, status, log)
	}
}

// prop is a unit's property as systemd reports it.
func prop(t *testing.T, n *node.Node, unit, name string) string {
	t.Helper()
	return strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", name, unit))
}

// cursor is the journal's position now: what is logged later comes after it.
func cursor(t *testing.T, n *node.Node) string {
	t.Helper()
	out := n.Run("journalctl", "-n", "1", "--show-cursor", "--no-pager", "-o", "cat")
	_, c, ok := strings.Cut(out, "-- cursor: ")
	if !ok {
		t.Fatalf("journalctl showed no cursor: %q", out)
	}
	return strings.TrimSpace(c)
}

// logSince is what unit logged after cursor c.
func logSince(t *testing.T, n *node.Node, unit, c string) string {
	t.Helper()
	out, _ := n.Exec(t.Context(), "journalctl", "--no-pager", "-o", "cat", "-u", unit, "--after-cursor="+c)
	return out
}

// loopLine is the start of CoreDNS's loop detector's FATAL line.
const loopLine = "[FATAL] plugin/loop: Loop ("

// podLoop ends the FATAL line of a CoreDNS without bind: the loop plugin
// names the server's own listen address, every address of the pod.
const podLoop = " -> :53) detected for zone \".\""

// dig asks server for example.test from inside network namespace netns (a
// path) and returns the short answer.
func dig(netns, server string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", "--net="+netns, "dig", "+short", "+time=2", "+tries=1", "@"+server, "example.test", "A").CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// unitServes waits until the DNS server at server (in netns) answers
// example.test with the upstream's address, then checks that unit is still
// active a few seconds later (plugin/loop would have ended it). It returns
// when the first answer came.
func unitServes(t *testing.T, n *node.Node, unit, netns, server string) time.Time {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var ans string
	var err error
	for time.Now().Before(deadline) {
		if ans, err = dig(netns, server); err == nil && ans == "192.0.2.10" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ans != "192.0.2.10" {
		t.Fatalf("%s does not answer example.test: %q %v\n%s", unit, ans, err,
			n.Run("journalctl", "-b", "-u", unit, "--no-pager", "-o", "cat"))
	}
	answered := time.Now()
	time.Sleep(3 * time.Second)
	if st, _ := n.Exec(t.Context(), "systemctl", "is-active", unit); strings.TrimSpace(st) != "active" {
		t.Fatalf("%s stopped after answering (%s):\n%s", unit, st, n.Run("journalctl", "-b", "-u", unit, "--no-pager", "-o", "cat"))
	}
	return answered
}

// tree is what a node holds under some folders: for each path its kind,
// mode, link target or content hash. Two trees are equal when nothing under
// them was written, relinked, added or removed.
type tree map[string]string

// snapshotTree walks the node's folders (without following links).
func snapshotTree(t *testing.T, n *node.Node, dirs ...string) tree {
	t.Helper()
	out := tree{}
	for _, d := range dirs {
		hp, err := n.Path(d)
		must(t, err)
		err = filepath.WalkDir(hp, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if os.IsNotExist(err) {
					return nil
				}
				return err
			}
			rel := d + strings.TrimPrefix(p, hp)
			info, err := e.Info()
			if err != nil {
				return err
			}
			switch {
			case e.Type()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				out[rel] = "link " + target
			case e.Type().IsRegular():
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				sum := sha256.Sum256(data)
				out[rel] = fmt.Sprintf("file %v %s", info.Mode(), hex.EncodeToString(sum[:8]))
			default:
				out[rel] = fmt.Sprintf("%v", info.Mode())
			}
			return nil
		})
		must(t, err)
	}
	return out
}

// diff lists the paths whose state differs between two trees.
func (a tree) diff(b tree) []string {
	var out []string
	for p, v := range a {
		if w, ok := b[p]; !ok {
			out = append(out, "removed "+p)
		} else if v != w {
			out = append(out, fmt.Sprintf("changed %s: %s -> %s", p, v, w))
		}
	}
	for p := range b {
		if _, ok := a[p]; !ok {
			out = append(out, "added "+p+": "+b[p])
		}
	}
	slices.Sort(out)
	return out
}

// onlyAdded reports whether after is before with line added (once) and every
// other line kept as it was, in order.
func onlyAdded(before, after, line string) bool {
	lines := strings.SplitAfter(after, "\n")
	i := slices.Index(lines, line+"\n")
	return i >= 0 && strings.Join(slices.Delete(lines, i, i+1), "") == before
}

// paths are the paths a tree diff names, without what happened to them.
func paths(d []string) []string {
	var out []string
	for _, l := range d {
		p := strings.Fields(l)[1]
		out = append(out, strings.TrimSuffix(p, ":"))
	}
	slices.Sort(out)
	return out
}

// leftDirs drops from a tree diff the folders apply made (empty after the
// rollback) and logs them: the journal records files and links, not the
// folders made for them, so rollback leaves those folders behind.
func leftDirs(t *testing.T, d []string, dirs ...string) []string {
	t.Helper()
	return slices.DeleteFunc(d, func(l string) bool {
		for _, dir := range dirs {
			if strings.HasPrefix(l, "added "+dir+": d") {
				t.Logf("rollback left the empty folder %s that apply made", dir)
				return true
			}
		}
		return false
	})
}

// change finds the change of kind for path or unit in apply's JSON.
func (r report) change(kind, name string) (action, skipped string, ok bool) {
	for _, c := range r.Changes {
		if c.Kind == kind && (c.Path == name || c.Unit == name) {
			return c.Action, c.Skipped.String(), true
		}
	}
	return "", "", false
}

// resolvedSlow bounds a wait for resolved: on a loaded machine it takes its
// time to come back and rewrite its files.
const resolvedSlow = 30 * time.Second

// planShows runs plan --detailed-exitcode (exit 2: changes to make) and
// checks its diffs hold each of want.
func planShows(t *testing.T, n *node.Node, args []string, want ...string) {
	t.Helper()
	out, code := testbed.Unloop(t, n, append([]string{"plan", "--detailed-exitcode"}, args...)...)
	if code != 2 {
		t.Errorf("plan --detailed-exitcode exited %d, want 2:\n%s", code, out)
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("plan does not show %q:\n%s", w, out)
		}
	}
}

// unloopDirs are the folders unloop reads and may write (DESIGN.md §2a),
// besides its own journal.
var unloopDirs = []string{"/etc", "/var/lib/kubelet", "/run/systemd/resolve"}

// TestResolvedStubKubelet is scenario 2, on the real kubelet: /etc/resolv.conf
// is resolved's stub link and kubelet's resolvConf is unset, so CoreDNS in a
// pod (the pod network, dnsPolicy: Default) forwards to 127.0.0.53, itself,
// and crash-loops. `apply --strategy kubelet` points kubelet at resolved's
// uplink file, restarts it (healthy, /configz shows the file) and recreates
// the pod through CRI; the new pod answers, also after a reboot; the host
// keeps its stub. Rollback restarts kubelet on the old config.
func TestResolvedStubKubelet(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newPodNetBed(t, release, "ulk", "10.98")
		n := b.Node
		config := testbed.KubeletConfigFor(n, "")
		testbed.StartKubelet(t, n, config)
		addPod(t, n, corednsPod, podCorefile)

		sb, last := crashLoops(t, n, "coredns")
		if log := n.Run(testbed.Crictl, "logs", last.ID); !strings.Contains(log, loopLine) || !strings.Contains(log, podLoop) {
			t.Fatalf("CoreDNS in the pod did not exit with the loop:\n%s", log)
		}
		copy := sandboxCopy(sb.ID)
		if pf := string(must1(n.ReadFile(copy))); !strings.Contains(pf, "nameserver 127.0.0.53\n") {
			t.Fatalf("the pod's resolv.conf before the fix:\n%s", pf)
		}
		out, code := testbed.Unloop(t, n, "check", "--output", "json")
		if r := decode(t, out); code != 2 || !r.has("nameserver-resolved-stub", "127.0.0.53") {
			t.Fatalf("check: exit %d, findings %v", code, r.codes())
		}
		planShows(t, n, []string{"--strategy", "kubelet"}, "+resolvConf: /run/systemd/resolve/resolv.conf")
		dirs := kubeletNodeDirs
		before := snapshotTree(t, n, dirs...)
		kubeletID := prop(t, n, "kubelet.service", "InvocationID")
		resolvedID := prop(t, n, "systemd-resolved.service", "InvocationID")

		start := time.Now()
		out, code = testbed.Unloop(t, n, "apply", "--strategy", "kubelet", "--output", "json")
		applyTook := time.Since(start)
		r := decode(t, out)
		if code != 0 || !r.Changed || !r.Verified || r.Run == "" {
			t.Fatalf("apply: exit %d, changed %v, verified %v, run %q\n%s", code, r.Changed, r.Verified, r.Run, out)
		}
		if a, skipped, _ := r.change("unit", "kubelet.service"); a != "restart" || skipped != "" {
			t.Errorf("apply's JSON: kubelet.service %q (skipped %q), want a restart", a, skipped)
		}
		// The kubelet strategy writes kubelet's config and nothing else.
		if d := paths(before.diff(snapshotTree(t, n, dirs...))); !slices.Equal(d, []string{"/var/lib/kubelet/config.yaml"}) {
			t.Errorf("apply changed %v, want only kubelet's config", d)
		}
		if cfg := string(must1(n.ReadFile("/var/lib/kubelet/config.yaml"))); !onlyAdded(config, cfg, "resolvConf: /run/systemd/resolve/resolv.conf") {
			t.Errorf("kubelet config after apply:\n%s", cfg)
		}
		if id := prop(t, n, "kubelet.service", "InvocationID"); id == kubeletID || testbed.KubeletHealthz(t, n, 10248) != "ok" {
			t.Errorf("kubelet was not restarted, or is not healthy (invocation %s before, %s after)", kubeletID, id)
		}
		if rc := testbed.KubeletResolvConf(t, n); rc != "/run/systemd/resolve/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after apply", rc)
		}
		if id := prop(t, n, "systemd-resolved.service", "InvocationID"); id != resolvedID {
			t.Errorf("systemd-resolved was restarted by the kubelet strategy")
		}
		if target, err := os.Readlink(filepath.Join(must1(n.Path("/etc")), "resolv.conf")); err != nil || target != "../run/systemd/resolve/stub-resolv.conf" {
			t.Errorf("the host's /etc/resolv.conf is now %q (%v), want the stub link kept", target, err)
		}
		// The host's own lookups still go through resolved's stub.
		if out := n.Run("getent", "ahostsv4", "example.test"); !strings.HasPrefix(out, "192.0.2.10 ") {
			t.Errorf("the host does not resolve through its stub: %q", out)
		}

		// apply recreated the pod (a sandbox keeps its old copy): the new
		// one has the clean file and answers.
		sb = newSandbox(t, n, "coredns", sb.ID)
		copy = sandboxCopy(sb.ID)
		if pf := string(must1(n.ReadFile(copy))); strings.Contains(pf, "127.0.0.53") || !strings.Contains(pf, "nameserver "+b.Upstream+"\n") {
			t.Errorf("the new pod's resolv.conf after the fix:\n%s", pf)
		}
		answered := podAnswers(t, n, sb, sb.IP)
		t.Logf("apply took %v; apply → the recreated pod answers: %v", applyTook.Round(10*time.Millisecond), answered.Sub(start).Round(100*time.Millisecond))

		n.Reboot()
		testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok after the reboot", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
		var after testbed.Sandbox
		testbed.WaitFor(t, 2*time.Minute, "CoreDNS's sandbox after the reboot", func() bool {
			sbs := testbed.Sandboxes(t, n, "coredns")
			if len(sbs) == 0 || sbs[0].State != "SANDBOX_READY" || sbs[0].IP == "" {
				return false
			}
			after = sbs[0]
			return true
		})
		podAnswers(t, n, after, after.IP)
		if _, code := testbed.Unloop(t, n, "check"); code != 0 {
			t.Errorf("check after reboot exited %d", code)
		}

		kubeletID = prop(t, n, "kubelet.service", "InvocationID")
		out, code = testbed.Unloop(t, n, "rollback")
		if code != 0 {
			t.Fatalf("rollback: exit %d: %s", code, out)
		}
		if id := prop(t, n, "kubelet.service", "InvocationID"); id == kubeletID {
			t.Errorf("rollback did not restart kubelet, which the run restarted")
		}
		if d := before.diff(snapshotTree(t, n, dirs...)); len(d) > 0 {
			t.Errorf("after rollback the node differs:\n%s", strings.Join(d, "\n"))
		}
		testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok after the rollback", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
		if rc := testbed.KubeletResolvConf(t, n); rc != "/etc/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after the rollback, want the old /etc/resolv.conf", rc)
		}
	})
}

// resolvedProp reads one of systemd-resolved's properties over D-Bus, as
// busctl prints it (`s "no"`).
func resolvedProp(t *testing.T, n *node.Node, name string) string {
	t.Helper()
	return strings.TrimSpace(n.Run("busctl", "get-property", "org.freedesktop.resolve1", "/org/freedesktop/resolve1", "org.freedesktop.resolve1.Manager", name))
}

// stubAnswers reports, for each of resolved's stub addresses, whether it
// answers example.test from the node's network namespace.
func (b *bed) stubAnswers() map[string]bool {
	out := map[string]bool{}
	for _, a := range []string{"127.0.0.53", "127.0.0.54"} {
		ans, err := dig("/run/netns/"+b.NodeNS, a)
		out[a] = err == nil && ans == "192.0.2.10"
	}
	return out
}

// TestResolvedStubDisabled is scenario 3, on the real kubelet: the node of
// scenario 2 (the stub link, kubelet's resolvConf unset, CoreDNS in a pod
// crash-looping), fixed with `apply --strategy stub`: resolved's stub
// listener is gone (nothing answers on 127.0.0.53 or 127.0.0.54, resolved
// says so over D-Bus), the host resolves through the uplink file, kubelet is
// not restarted, and apply recreates the pod through CRI (its sandbox's copy
// named the stub); the new pod answers, and all of it survives a reboot.
// Rollback brings the stub back, and with it the loop: the pod's next
// sandbox dies of it.
func TestResolvedStubDisabled(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newPodNetBed(t, release, "ulk", "10.98")
		n := b.Node
		testbed.StartKubelet(t, n, testbed.KubeletConfigFor(n, ""))
		addPod(t, n, corednsPod, podCorefile)
		sb, last := crashLoops(t, n, "coredns")
		if log := n.Run(testbed.Crictl, "logs", last.ID); !strings.Contains(log, loopLine) || !strings.Contains(log, podLoop) {
			t.Fatalf("CoreDNS in the pod did not exit with the loop:\n%s", log)
		}
		if pf := string(must1(n.ReadFile(sandboxCopy(sb.ID)))); !strings.Contains(pf, "nameserver 127.0.0.53\n") {
			t.Fatalf("the pod's resolv.conf before the fix:\n%s", pf)
		}
		out, code := testbed.Unloop(t, n, "check", "--output", "json")
		if r := decode(t, out); code != 2 || !r.has("nameserver-resolved-stub", "127.0.0.53") {
			t.Fatalf("check: exit %d, findings %v", code, r.codes())
		}
		if st := b.stubAnswers(); !st["127.0.0.53"] || !st["127.0.0.54"] {
			t.Fatalf("resolved's stubs do not answer before the fix: %v", st)
		}
		pod := "kube-system/" + sb.Name
		planShows(t, n, []string{"--strategy", "stub"}, "+DNSStubListener=no", "+link to ../run/systemd/resolve/resolv.conf", "recreate pod "+pod)
		before := snapshotTree(t, n, kubeletNodeDirs...)
		kubeletID := prop(t, n, "kubelet.service", "InvocationID")
		resolvedID := prop(t, n, "systemd-resolved.service", "InvocationID")

		start := time.Now()
		out, code = testbed.Unloop(t, n, "apply", "--strategy", "stub", "--output", "json")
		applyTook := time.Since(start)
		r := decode(t, out)
		if code != 0 || !r.Changed || !r.Verified {
			t.Fatalf("apply: exit %d, changed %v, verified %v\n%s", code, r.Changed, r.Verified, out)
		}
		if a, skipped, _ := r.change("unit", "systemd-resolved.service"); a != "restart" || skipped != "" {
			t.Errorf("apply's JSON: systemd-resolved.service %q (skipped %q), want a restart", a, skipped)
		}
		if a, _, _ := r.change("link", "/etc/resolv.conf"); a != "relink" {
			t.Errorf("apply's JSON: /etc/resolv.conf %q, want relink", a)
		}
		if !slices.Equal(r.PodsRecreated, []string{pod}) || len(r.PodsStale) > 0 {
			t.Errorf("apply recreated %q (stale %q), want %s", r.PodsRecreated, r.PodsStale, pod)
		}
		if id := prop(t, n, "systemd-resolved.service", "InvocationID"); id == resolvedID {
			t.Errorf("systemd-resolved was not restarted")
		}
		if id := prop(t, n, "kubelet.service", "InvocationID"); id != kubeletID {
			t.Errorf("kubelet was restarted by the stub strategy")
		}
		if got := string(must1(n.ReadFile("/etc/systemd/resolved.conf.d/90-unloop.conf"))); !strings.Contains(got, "\nDNSStubListener=no\n") {
			t.Errorf("the drop-in:\n%s", got)
		}
		stubOff := func(when string) {
			t.Helper()
			if st := b.stubAnswers(); st["127.0.0.53"] || st["127.0.0.54"] {
				t.Errorf("%s: resolved's stubs still answer: %v", when, st)
			}
			if got := resolvedProp(t, n, "DNSStubListener"); got != `s "no"` {
				t.Errorf("%s: resolved says DNSStubListener %s", when, got)
			}
			if got := resolvedProp(t, n, "ResolvConfMode"); got != `s "uplink"` {
				t.Errorf("%s: resolved says ResolvConfMode %s", when, got)
			}
			if target, err := os.Readlink(filepath.Join(must1(n.Path("/etc")), "resolv.conf")); err != nil || target != "../run/systemd/resolve/resolv.conf" {
				t.Errorf("%s: /etc/resolv.conf links to %q (%v)", when, target, err)
			}
			// The host asks the upstream itself now, through the uplink file.
			if out := n.Run("getent", "ahostsv4", "example.test"); !strings.HasPrefix(out, "192.0.2.10 ") {
				t.Errorf("%s: the host does not resolve: %q", when, out)
			}
			// The pod's sandbox was made after the fix: its copy is the uplink file.
			old := sb.ID
			sb = newSandbox(t, n, "coredns", old)
			if pf := string(must1(n.ReadFile(sandboxCopy(sb.ID)))); strings.Contains(pf, "127.0.0.53") || !strings.Contains(pf, "nameserver "+b.Upstream+"\n") {
				t.Errorf("%s: the pod's resolv.conf:\n%s", when, pf)
			}
			answered := podAnswers(t, n, sb, sb.IP)
			if when == "after apply" {
				t.Logf("apply took %v; from its start to CoreDNS answering in the recreated pod: %v", applyTook.Round(10*time.Millisecond), answered.Sub(start).Round(100*time.Millisecond))
			}
		}
		stubOff("after apply")

		n.Reboot()
		// resolved may come up a moment after dbus: wait for its answer on the bus.
		testbed.WaitFor(t, resolvedSlow, "resolved says uplink after the reboot", func() bool {
			out, err := n.Exec(t.Context(), "busctl", "get-property", "org.freedesktop.resolve1", "/org/freedesktop/resolve1", "org.freedesktop.resolve1.Manager", "ResolvConfMode")
			return err == nil && strings.Contains(out, "uplink")
		})
		testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok after the reboot", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
		stubOff("after reboot")
		if _, code := testbed.Unloop(t, n, "check"); code != 0 {
			t.Errorf("check after reboot exited %d", code)
		}

		out, code = testbed.Unloop(t, n, "rollback")
		if code != 0 {
			t.Fatalf("rollback: exit %d: %s", code, out)
		}
		if d := before.diff(snapshotTree(t, n, kubeletNodeDirs...)); len(d) > 0 {
			t.Errorf("after rollback the node differs:\n%s", strings.Join(d, "\n"))
		}
		testbed.WaitFor(t, resolvedSlow, "127.0.0.53 answers after rollback", func() bool { return b.stubAnswers()["127.0.0.53"] })
		// The running pod keeps its clean copy; its next sandbox gets the
		// stub again, and dies of the loop.
		if ok, log := nextDiesOfLoop(t, n, "coredns", sb.ID); !ok || !strings.Contains(log, podLoop) {
			t.Errorf("after rollback CoreDNS in the pod's next sandbox does not die of the loop:\n%s", log)
		}
	})
}

// nodeCacheLoop ends node-local-dns's FATAL line: it names its bind address.
const nodeCacheLoop = " -> 169.254.25.10:53) detected for zone \".\""

// TestResolvedUpstreamLoop is scenario 4 (Kubespray on Ubuntu), on the real
// kubelet: a resolved drop-in lists node-local-dns's address before the real
// upstream, and kubelet hands pods resolved's uplink file, so node-local-dns
// (a hostNetwork static pod) forwards to itself and crash-loops. `apply`
// (auto) points kubelet at a file of unloop's built from the upstream that
// answers, restarts kubelet and recreates the pod, which answers, also after
// a reboot; the boot unit's next apply changes nothing. Rollback restores the
// node, and the pod's next sandbox loops again.
func TestResolvedUpstreamLoop(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newPodNetBed(t, release, "ulk", "10.98")
		n := b.Node
		b.resolvedDNS("upstream.conf", "169.254.25.10 "+b.Upstream)
		config := testbed.KubeletConfigFor(n, "resolvConf: /run/systemd/resolve/resolv.conf\n")
		testbed.StartKubelet(t, n, config)
		b.addNodeLocalDNS()

		sb, last := crashLoops(t, n, "node-local-dns")
		if log := n.Run(testbed.Crictl, "logs", last.ID); !strings.Contains(log, loopLine+"169.254.25.10:") || !strings.Contains(log, nodeCacheLoop) {
			t.Fatalf("node-local-dns did not exit with the loop before the fix:\n%s", log)
		}
		out, code := testbed.Unloop(t, n, "check", "--output", "json")
		r := decode(t, out)
		if code != 2 || !r.has("resolved-upstream-loop", "169.254.25.10") || !r.has("nameserver-node-local-dns", "169.254.25.10") {
			t.Fatalf("check: exit %d, findings %v", code, r.codes())
		}
		pod := "kube-system/" + sb.Name
		planShows(t, n, nil, "+resolvConf: /etc/unloop/resolv.conf", "+nameserver "+b.Upstream, "recreate pod "+pod)
		before := snapshotTree(t, n, kubeletNodeDirs...)
		kubeletID := prop(t, n, "kubelet.service", "InvocationID")

		start := time.Now()
		out, code = testbed.Unloop(t, n, "apply", "--output", "json")
		applyTook := time.Since(start)
		r = decode(t, out)
		if code != 0 || !r.Changed || !r.Verified {
			t.Fatalf("apply: exit %d, changed %v, verified %v\n%s", code, r.Changed, r.Verified, out)
		}
		if a, _, _ := r.change("file", "/etc/unloop/resolv.conf"); a != "create" {
			t.Errorf("apply's JSON: /etc/unloop/resolv.conf %q, want create", a)
		}
		if a, skipped, _ := r.change("unit", "kubelet.service"); a != "restart" || skipped != "" {
			t.Errorf("apply's JSON: kubelet.service %q (skipped %q), want a restart", a, skipped)
		}
		if !slices.Equal(r.PodsRecreated, []string{pod}) || len(r.PodsStale) > 0 {
			t.Errorf("apply recreated %q (stale %q), want %s", r.PodsRecreated, r.PodsStale, pod)
		}
		if id := prop(t, n, "kubelet.service", "InvocationID"); id == kubeletID || testbed.KubeletHealthz(t, n, 10248) != "ok" {
			t.Errorf("kubelet was not restarted, or is not healthy (invocation %s before, %s after)", kubeletID, id)
		}
		if rc := testbed.KubeletResolvConf(t, n); rc != "/etc/unloop/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after apply, want /etc/unloop/resolv.conf", rc)
		}
		cfg := string(must1(n.ReadFile("/var/lib/kubelet/config.yaml")))
		if want := testbed.KubeletConfigFor(n, "resolvConf: /etc/unloop/resolv.conf\n"); cfg != want {
			t.Errorf("kubelet config after apply:\n%s\nwant:\n%s", cfg, want)
		}
		own := string(must1(n.ReadFile("/etc/unloop/resolv.conf")))
		if !strings.Contains(own, "nameserver "+b.Upstream+"\n") || strings.Count(own, "nameserver") != 1 {
			t.Errorf("/etc/unloop/resolv.conf names other servers than the upstream:\n%s", own)
		}
		if d := paths(before.diff(snapshotTree(t, n, kubeletNodeDirs...))); !slices.Equal(d, []string{"/etc/unloop", "/etc/unloop/resolv.conf", "/var/lib/kubelet/config.yaml"}) {
			t.Errorf("apply changed %v, want kubelet's config and unloop's file", d)
		}
		sb = newSandbox(t, n, "node-local-dns", sb.ID)
		if pf := string(must1(n.ReadFile(sandboxCopy(sb.ID)))); strings.Contains(pf, "169.254.25.10") || !strings.Contains(pf, "nameserver "+b.Upstream+"\n") {
			t.Errorf("node-local-dns's new sandbox holds:\n%s\nwant unloop's file's server", pf)
		}
		answered := podAnswers(t, n, sb, "169.254.25.10")
		t.Logf("apply took %v; from its start to the recreated node-local-dns answering: %v", applyTook.Round(10*time.Millisecond), answered.Sub(start).Round(100*time.Millisecond))

		n.Reboot()
		testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok after the reboot", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
		sb = newSandbox(t, n, "node-local-dns", sb.ID)
		podAnswers(t, n, sb, "169.254.25.10")
		if _, code := testbed.Unloop(t, n, "check"); code != 0 {
			t.Errorf("check after reboot exited %d", code)
		}
		// The boot unit runs apply at every boot: unloop's file is rebuilt
		// the same, and kubelet and the pod are left alone.
		kubeletID = prop(t, n, "kubelet.service", "InvocationID")
		sbs := sandboxIDs(t, n)
		if r := decode(t, must1s(testbed.Unloop(t, n, "apply", "--output", "json"))); r.Changed || len(r.PodsRecreated) > 0 {
			t.Errorf("apply after reboot changed %+v, recreated %q", r.Changes, r.PodsRecreated)
		}
		if id := prop(t, n, "kubelet.service", "InvocationID"); id != kubeletID {
			t.Errorf("apply after reboot restarted kubelet")
		}
		if got := sandboxIDs(t, n); !slices.Equal(got, sbs) {
			t.Errorf("apply after reboot changed the sandboxes: %q, before %q", got, sbs)
		}

		out, code = testbed.Unloop(t, n, "rollback")
		if code != 0 {
			t.Fatalf("rollback: exit %d: %s", code, out)
		}
		if d := leftDirs(t, before.diff(snapshotTree(t, n, kubeletNodeDirs...)), "/etc/unloop"); len(d) > 0 {
			t.Errorf("after rollback the node differs:\n%s", strings.Join(d, "\n"))
		}
		testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok after the rollback", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
		if rc := testbed.KubeletResolvConf(t, n); rc != "/run/systemd/resolve/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after the rollback, want resolved's uplink file", rc)
		}
		if ok, log := nextDiesOfLoop(t, n, "node-local-dns", sb.ID); !ok || !strings.Contains(log, nodeCacheLoop) {
			t.Errorf("after rollback node-local-dns's next sandbox does not die of the loop:\n%s", log)
		}
	})
}

// The Docker-run case: CoreDNS on the host (network host) from a Corefile
// of its own, forwarding to the host's /etc/resolv.conf.
const (
	hostCorefilePath = "/srv/coredns/Corefile"
	hostCorefile     = `# CoreDNS for this host's containers (docker run --network host -v /srv/coredns:/srv/coredns).
.:53 {
    bind 169.254.25.10
    errors
    loop
    reload 2s
    # Ask the host's own resolvers, in the order it lists them.
    forward . /etc/resolv.conf {
        policy sequential
        max_fails 3
    }
}
`
	hostCoreDNSUnit = `[Unit]
Description=CoreDNS run on the host from /srv/coredns/Corefile (as docker run --network host)
[Service]
Type=exec
ExecStartPre=-/sbin/ip addr add 169.254.25.10/32 dev lo
ExecStart=/opt/coredns/coredns -conf /srv/coredns/Corefile
Restart=no
`
)

// freshStartLoops runs a second CoreDNS from the host's Corefile, as its next
// start would, in a scratch network namespace of the node's (its own
// 169.254.25.10 on lo, so the running one is left alone). It returns the
// output and whether it died of the loop.
func freshStartLoops(t *testing.T, n *node.Node) (bool, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	out, err := n.Exec(ctx, "unshare", "--net", "sh", "-c",
		"ip link set lo up && ip addr add 169.254.25.10/32 dev lo && exec /opt/coredns/coredns -conf "+hostCorefilePath+" 2>&1")
	return err != nil && ctx.Err() == nil && strings.Contains(out, loopLine+"169.254.25.10:") && strings.Contains(out, nodeCacheLoop), out
}

// reloads counts the configurations unit has loaded since cursor c.
func reloads(t *testing.T, n *node.Node, unit, c string) int {
	return strings.Count(logSince(t, n, unit, c), "plugin/reload: Running configuration SHA512")
}

// TestCorefileOnHost is scenario 5: a CoreDNS run on the host from a Corefile
// that forwards to /etc/resolv.conf, started while that file named the real
// upstream; then the host was pointed at the cache, so the file names the
// server's own address and its next start or reload dies of the loop.
// `apply --strategy corefile` rewrites the forward line alone; the running
// CoreDNS reloads it (same process) and keeps answering. Rollback: the reload
// brings the loop, and the FATAL exit, back.
func TestCorefileOnHost(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newBed(t, node.Options{Release: release, Ready: []string{"dbus.service"}}, "")
		n := b.Node
		b.staticNet()
		n.Run("systemctl", "disable", "--now", "systemd-resolved.service")
		must(t, os.Remove(filepath.Join(must1(n.Path("/etc")), "resolv.conf")))
		must(t, n.WriteFile("/etc/resolv.conf", []byte("nameserver "+b.Upstream+"\n"), 0o644))
		must(t, n.WriteFile(hostCorefilePath, []byte(hostCorefile), 0o644))
		must(t, n.WriteFile("/etc/systemd/system/coredns.service", []byte(hostCoreDNSUnit), 0o644))
		n.Run("systemctl", "daemon-reload")
		startUnit(t, n, "start", "coredns.service")
		nodeNS := "/run/netns/" + b.NodeNS
		unitServes(t, n, "coredns.service", nodeNS, "169.254.25.10")

		// The host is pointed at its cache: the next start or reload loops.
		must(t, n.WriteFile("/etc/resolv.conf", []byte("options edns0\nnameserver 169.254.25.10\nnameserver "+b.Upstream+"\n"), 0o644))
		if loops, out := freshStartLoops(t, n); !loops {
			t.Fatalf("a fresh start of the Corefile did not exit with the loop:\n%s", out)
		}
		out, code := testbed.Unloop(t, n, "check", "--corefile", hostCorefilePath, "--output", "json")
		r := decode(t, out)
		if code != 2 || !r.has("corefile-forward-loop", "169.254.25.10") {
			t.Fatalf("check: exit %d, findings %v", code, r.codes())
		}
		planShows(t, n, []string{"--corefile", hostCorefilePath, "--strategy", "corefile"},
			"-    forward . /etc/resolv.conf {", "+    forward . "+b.Upstream+" {")
		// resolved is off: its /run folder is gone after the reboot, not unloop's doing.
		dirs := []string{"/etc", "/srv"}
		before := snapshotTree(t, n, dirs...)
		pid := prop(t, n, "coredns.service", "MainPID")
		c := cursor(t, n)

		start := time.Now()
		out, code = testbed.Unloop(t, n, "apply", "--corefile", hostCorefilePath, "--strategy", "corefile", "--output", "json")
		applyTook := time.Since(start)
		r = decode(t, out)
		if code != 0 || !r.Changed || !r.Verified {
			t.Fatalf("apply: exit %d, changed %v, verified %v\n%s", code, r.Changed, r.Verified, out)
		}
		if a, skipped, _ := r.change("unit", "CoreDNS ("+hostCorefilePath+")"); a != "reload" || !strings.Contains(skipped, "reload plugin") {
			t.Errorf("apply's JSON: CoreDNS %q (%q), want a reload left to the reload plugin", a, skipped)
		}
		want := strings.Replace(hostCorefile, "forward . /etc/resolv.conf {", "forward . "+b.Upstream+" {", 1)
		if got := string(must1(n.ReadFile(hostCorefilePath))); got != want {
			t.Errorf("the Corefile after apply:\n%s\nwant (comments and options kept):\n%s", got, want)
		}
		if d := paths(before.diff(snapshotTree(t, n, dirs...))); !slices.Equal(d, []string{hostCorefilePath}) {
			t.Errorf("apply changed %v, want the Corefile alone", d)
		}
		// The reload plugin notices within its 2s; the process stays the same.
		deadline := time.Now().Add(15 * time.Second)
		for reloads(t, n, "coredns.service", c) == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if reloads(t, n, "coredns.service", c) == 0 {
			t.Fatalf("CoreDNS did not reload the Corefile:\n%s", n.Run("journalctl", "-b", "-u", "coredns.service", "--no-pager", "-o", "cat"))
		}
		t.Logf("apply took %v; from its start to CoreDNS running the new Corefile: %v", applyTook.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
		unitServes(t, n, "coredns.service", nodeNS, "169.254.25.10")
		if got := prop(t, n, "coredns.service", "MainPID"); got != pid {
			t.Errorf("CoreDNS was restarted (pid %s, then %s)", pid, got)
		}

		n.Reboot()
		startUnit(t, n, "start", "coredns.service")
		unitServes(t, n, "coredns.service", nodeNS, "169.254.25.10")
		if _, code := testbed.Unloop(t, n, "check", "--corefile", hostCorefilePath); code != 0 {
			t.Errorf("check after reboot exited %d", code)
		}

		out, code = testbed.Unloop(t, n, "rollback")
		if code != 0 {
			t.Fatalf("rollback: exit %d: %s", code, out)
		}
		if d := before.diff(snapshotTree(t, n, dirs...)); len(d) > 0 {
			t.Errorf("after rollback the node differs:\n%s", strings.Join(d, "\n"))
		}
		// The loop is back: a fresh start dies of it. (The running CoreDNS
		// reloads the old Corefile too, but the loop plugin's probe at a
		// reload may be answered by the outgoing instance, which forwards
		// to the upstream: that detection is a race, a fresh start is not.)
		if loops, out := freshStartLoops(t, n); !loops {
			t.Errorf("after rollback a fresh start of the Corefile does not loop:\n%s", out)
		}
	})
}

// units are the state of the node's units that unloop could restart or that
// serve DNS: a restart or a crash changes it.
func units(t *testing.T, n *node.Node, names ...string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, u := range names {
		out[u] = strings.Join(strings.Fields(n.Run("systemctl", "show", "-p", "ActiveState,SubState,InvocationID,MainPID,NRestarts", u)), " ")
	}
	return out
}

// runs lists the runs apply journaled.
func runs(t *testing.T, n *node.Node) []string {
	t.Helper()
	hp, err := n.Path("/var/lib/unloop/runs")
	must(t, err)
	ents, err := os.ReadDir(hp)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestHealthyNode is scenario 6, on the real kubelet: kubelet already hands
// pods resolved's clean uplink file and node-local-dns (a hostNetwork static
// pod) answers. check exits 0, plan has nothing to do, apply changes nothing
// (changed: false), journals no run, restarts no unit and recreates no pod
// (the same sandbox and container run after it).
func TestHealthyNode(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newPodNetBed(t, release, "ulk", "10.98")
		n := b.Node
		testbed.StartKubelet(t, n, testbed.KubeletConfigFor(n, "resolvConf: /run/systemd/resolve/resolv.conf\n"))
		b.addNodeLocalDNS()
		sb := newSandbox(t, n, "node-local-dns", "")
		podAnswers(t, n, sb, "169.254.25.10")

		out, code := testbed.Unloop(t, n, "check", "--output", "json")
		if r := decode(t, out); code != 0 || r.Status != "ok" {
			t.Fatalf("check: exit %d, status %s, findings %v", code, r.Status, r.codes())
		}
		if out, code := testbed.Unloop(t, n, "plan", "--detailed-exitcode"); code != 0 {
			t.Errorf("plan --detailed-exitcode exited %d:\n%s", code, out)
		}
		before := snapshotTree(t, n, kubeletNodeDirs...)
		unitsBefore := units(t, n, kubeletUnits...)
		sbs, runsBefore := sandboxIDs(t, n), testbed.Containers(t, n, sb.ID)

		out, code = testbed.Unloop(t, n, "apply", "--output", "json")
		r := decode(t, out)
		if code != 0 || r.Changed || len(r.Changes) != 0 || r.Run != "" {
			t.Fatalf("apply: exit %d, changed %v, run %q, changes %+v", code, r.Changed, r.Run, r.Changes)
		}
		if len(r.PodsRecreated)+len(r.PodsStale) > 0 {
			t.Errorf("apply recreated %q (stale %q) on a healthy node", r.PodsRecreated, r.PodsStale)
		}
		if got := runs(t, n); len(got) != 0 {
			t.Errorf("apply journaled runs %v for nothing", got)
		}
		if got := units(t, n, kubeletUnits...); !maps.Equal(got, unitsBefore) {
			t.Errorf("units after apply:\n%v\nbefore:\n%v", got, unitsBefore)
		}
		if d := before.diff(snapshotTree(t, n, kubeletNodeDirs...)); len(d) > 0 {
			t.Errorf("apply changed the node:\n%s", strings.Join(d, "\n"))
		}
		if got, run := sandboxIDs(t, n), testbed.Containers(t, n, sb.ID); !slices.Equal(got, sbs) || !slices.Equal(run, runsBefore) {
			t.Errorf("after apply the sandboxes are %q and node-local-dns's runs %+v; before %q and %+v", got, run, sbs, runsBefore)
		}
		if ans, err := testbed.Dig(n, "169.254.25.10"); ans != "192.0.2.10" {
			t.Errorf("node-local-dns after apply: %q %v", ans, err)
		}
	})
}

// TestBlackHole is scenario 7, on the real kubelet: the only upstream that
// is not a loop does not answer DNS (an address of the node's network nobody
// serves). Fixing the loop would leave pods with no DNS at all, so apply
// refuses: exit 1, no file written or relinked, no run journaled, no unit
// restarted, no pod's sandbox removed. Two nodes: resolved's stub as
// kubelet's pod file, CoreDNS in a pod looping through it (apply refuses
// both auto, which would point kubelet at the uplink file that names only the
// dead server, and --strategy stub, which would relink the host to it); and
// resolved's own DNS= naming node-local-dns (unloop's file would name the
// dead server).
func TestBlackHole(t *testing.T) {
	for _, tc := range []struct {
		name       string
		dns        string   // resolved's DNS=; DEAD is the address nobody serves
		kubelet    string   // appended to kubelet's config
		pod        string   // the DNS-server pod that loops: coredns or node-local-dns
		loop       string   // the end of its FATAL line
		strategies []string // apply --strategy, each refused on the same node; "" auto
	}{
		{name: "stub", dns: "DEAD", pod: "coredns", loop: podLoop, strategies: []string{"", "stub"}},
		{name: "resolved-dns", dns: "169.254.25.10 DEAD", kubelet: "resolvConf: /run/systemd/resolve/resolv.conf\n",
			pod: "node-local-dns", loop: nodeCacheLoop, strategies: []string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testbed.ForEachRelease(t, func(t *testing.T, release string) {
				b := newPodNetBed(t, release, "ulk", "10.98")
				n := b.Node
				dead := b.Addr(3)
				b.resolvedDNS("upstream.conf", strings.ReplaceAll(tc.dns, "DEAD", dead))
				testbed.StartKubelet(t, n, testbed.KubeletConfigFor(n, tc.kubelet))
				if tc.pod == "coredns" {
					addPod(t, n, corednsPod, podCorefile)
				} else {
					b.addNodeLocalDNS()
				}
				// The first run dead of the loop is enough: the back-off is kubelet's.
				newSandbox(t, n, tc.pod, "")
				if ok, log := diesOfLoop(t, n, tc.pod, nil); !ok || !strings.Contains(log, tc.loop) {
					t.Fatalf("%s did not die of the loop:\n%s", tc.pod, log)
				}
				if _, code := testbed.Unloop(t, n, "check"); code != 2 {
					t.Fatalf("check exited %d, want 2", code)
				}
				for _, strategy := range tc.strategies {
					before := snapshotTree(t, n, kubeletNodeDirs...)
					unitsBefore := units(t, n, kubeletUnits...)
					sbs := sandboxIDs(t, n)

					ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
					args := []string{"/opt/unloop/unloop", "apply", "--output", "json"}
					if strategy != "" {
						args = append(args, "--strategy", strategy)
					}
					out, err := n.Exec(ctx, args...)
					cancel()
					var ee *exec.ExitError
					if !errors.As(err, &ee) || ee.ExitCode() != 1 {
						t.Fatalf("apply %q: %v, want a refusal (exit 1)\n%s", strategy, err, out)
					}
					// A refusal while planning says why on stderr only (no JSON).
					msg := err.Error()
					if strings.TrimSpace(out) != "" {
						r := decode(t, out)
						if r.Changed || r.Run != "" {
							t.Errorf("the refused apply %q says changed %v, run %q", strategy, r.Changed, r.Run)
						}
						msg += r.Error
					}
					if !strings.Contains(msg, dead) || !strings.Contains(msg, "black hole") {
						t.Errorf("apply %q does not say the upstream %s does not answer: %s", strategy, dead, msg)
					}
					if d := before.diff(snapshotTree(t, n, kubeletNodeDirs...)); len(d) > 0 {
						t.Errorf("the refused apply %q changed the node:\n%s", strategy, strings.Join(d, "\n"))
					}
					if got := runs(t, n); len(got) != 0 {
						t.Errorf("the refused apply %q journaled runs %v", strategy, got)
					}
					if got := units(t, n, kubeletUnits...); !maps.Equal(got, unitsBefore) {
						t.Errorf("units after the refused apply %q:\n%v\nbefore:\n%v", strategy, got, unitsBefore)
					}
					if got := sandboxIDs(t, n); !slices.Equal(got, sbs) {
						t.Errorf("the refused apply %q changed the sandboxes: %q, before %q", strategy, got, sbs)
					}
					if _, code := testbed.Unloop(t, n, "check"); code != 2 {
						t.Errorf("check after the refused apply %q exited %d, want 2 (the loop is still there)", strategy, code)
					}
				}
			})
		})
	}
}
