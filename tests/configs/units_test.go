package configs

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// TestUnitsVerify runs systemd-analyze verify on the units inside real nodes,
// where the binary they name exists: any output at all fails (verify only
// warns, exit 0, on an unknown key). Enabling the boot unit must hook it into
// kubelet and the boot.
func TestUnitsVerify(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		// The real kubelet's unit (not started: only its ordering counts).
		n := bootNode(t, testbed.KubeletOptions(t, node.Options{Release: release}))
		installUnits(t, n)
		out, code := testbed.Exec(t, n, "sh", "-c", "systemd-analyze verify --man=no "+
			"/etc/systemd/system/unloop.service /etc/systemd/system/unloop-reapply.service /etc/systemd/system/unloop.path 2>&1")
		if code != 0 || strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify: exit %d:\n%s", code, out)
		}
		n.Run("systemctl", "enable", "unloop.service", "unloop.path")
		for _, l := range []string{
			"/etc/systemd/system/multi-user.target.wants/unloop.service",
			"/etc/systemd/system/multi-user.target.wants/unloop.path",
		} {
			if _, code := testbed.Exec(t, n, "test", "-L", l); code != 0 {
				t.Errorf("systemctl enable made no link %s", l)
			}
		}
		// kubelet must not require unloop (a failed unloop must not keep it
		// down), nor want it (a kubelet restart by apply would pull in a start
		// of unloop.service ordered before it: see TestAnsible).
		if deps := strings.TrimSpace(n.Run("systemctl", "show", "-p", "Requires", "-p", "Requisite", "-p", "BindsTo", "-p", "Wants", "kubelet.service")); strings.Contains(deps, "unloop") {
			t.Errorf("kubelet depends on unloop: %s", deps)
		}
		if after := n.Run("systemctl", "show", "--value", "-p", "After", "kubelet.service"); !strings.Contains(after, "unloop.service") {
			t.Errorf("kubelet is not ordered after unloop: After=%s", after)
		}
		// The units that run kubelet elsewhere (issue 12) start after unloop
		// too, installed or not: systemd keeps the ordering of a unit it has
		// not found, and applies it once the unit is installed.
		for _, u := range []string{"k3s.service", "k3s-agent.service", "rke2-server.service", "rke2-agent.service",
			"snap.microk8s.daemon-kubelite.service", "snap.k8s.kubelet.service", "k0sworker.service", "k0scontroller.service"} {
			if after := n.Run("systemctl", "show", "--value", "-p", "After", u); !strings.Contains(after, "unloop.service") {
				t.Errorf("%s is not ordered after unloop: After=%s", u, after)
			}
		}
	})
}

// bootTimes is one boot's numbers, in microseconds since the node's
// systemd started.
type bootTimes struct {
	unloopTook   int64 // unloop.service from leaving inactive to active
	unloopRan    int64 // unloop's own process, start to exit
	kubeletStart int64 // kubelet's main process started
	// toKubelet is from unloop's exit to kubelet's start: systemd's own
	// step from the unit kubelet is ordered after to kubelet.
	toKubelet int64
}

// readBoot checks that unloop ran before kubelet in the current boot, reading
// the order from the journal, and returns the boot's times. With unloop off
// (disabled) it returns kubelet's start only.
func readBoot(t testing.TB, n *node.Node, unloopOn bool) bootTimes {
	t.Helper()
	var unloopDone, unloopStarting, kubeletStarted, kubeletFirstLine int64
	// kubelet's output reaches the journal a moment after it is active.
	testbed.Poll(10*time.Second, func() bool { return len(journal(t, n, "_SYSTEMD_UNIT=kubelet.service")) > 0 })
	for _, e := range journal(t, n) {
		switch {
		case e.str("UNIT") == "unloop.service" && e.str("MESSAGE_ID") == msgUnitStarting && unloopStarting == 0:
			unloopStarting = e.mono()
		case e.str("UNIT") == "unloop.service" && e.str("MESSAGE_ID") == msgUnitStarted && unloopDone == 0:
			unloopDone = e.mono()
		case e.str("UNIT") == "kubelet.service" && e.str("MESSAGE_ID") == msgUnitStarted && kubeletStarted == 0:
			kubeletStarted = e.mono()
		case e.str("_SYSTEMD_UNIT") == "kubelet.service" && kubeletFirstLine == 0:
			kubeletFirstLine = e.mono()
		}
	}
	if kubeletStarted == 0 || kubeletFirstLine == 0 {
		t.Fatalf("the journal shows no kubelet start (started %d, first line %d)", kubeletStarted, kubeletFirstLine)
	}
	if unloopOn {
		if unloopStarting == 0 || unloopDone == 0 {
			t.Fatalf("the journal shows no unloop run (starting %d, finished %d):\n%s", unloopStarting, unloopDone,
				n.Run("journalctl", "-b", "--no-pager", "-n", "80"))
		}
		if !(unloopStarting < unloopDone && unloopDone < kubeletStarted && unloopDone < kubeletFirstLine) {
			t.Fatalf("unloop did not finish before kubelet started: unloop starting %d, finished %d; kubelet started %d, first line %d",
				unloopStarting, unloopDone, kubeletStarted, kubeletFirstLine)
		}
	}
	prop := func(unit, p string) int64 {
		args := []string{"systemctl", "show", "--value", "-p", p}
		if unit != "" {
			args = append(args, unit)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(n.Run(args...)), 10, 64)
		if err != nil {
			t.Fatalf("%s %s: %v", unit, p, err)
		}
		return v
	}
	userspace := prop("", "UserspaceTimestampMonotonic")
	bt := bootTimes{kubeletStart: prop("kubelet.service", "ExecMainStartTimestampMonotonic") - userspace}
	if unloopOn {
		bt.unloopTook = prop("unloop.service", "ActiveEnterTimestampMonotonic") - prop("unloop.service", "InactiveExitTimestampMonotonic")
		exit := prop("unloop.service", "ExecMainExitTimestampMonotonic")
		bt.unloopRan = exit - prop("unloop.service", "ExecMainStartTimestampMonotonic")
		bt.toKubelet = bt.kubeletStart + userspace - exit
	}
	return bt
}

// unloopLog is what unloop printed in the current boot's run of unit.
func unloopLog(t testing.TB, n *node.Node, unit string) string {
	t.Helper()
	return n.Run("journalctl", "-b", "-u", unit, "--no-pager", "-o", "cat")
}

// TestBootUnit boots a node that loops (resolved's stub link, the real
// kubelet's config without resolvConf, resolved's upstream a real DNS server
// on the test's own network) with unloop.service enabled: on its first boot
// unloop runs before kubelet and kubelet starts with the fixed config (its
// /configz); on the next boot it runs before kubelet again and changes
// nothing. What the unit costs at boot is BenchmarkBootUnit's (`make bench`).
func TestBootUnit(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		n := loopingBootNode(t, release)
		out, code := testbed.Exec(t, n, "unloop", "check")
		if code != 2 || !strings.Contains(out, "nameserver-resolved-stub") {
			t.Fatalf("the node should loop before unloop runs: exit %d\n%s", code, out)
		}
		n.Run("systemctl", "enable", "unloop.service")
		for i := range 2 {
			n.Reboot()
			waitActive(t, n, "unloop.service", "kubelet.service")
			bt := readBoot(t, n, true)
			log := unloopLog(t, n, "unloop.service")
			kubelet := kubeletRunsWith(t, n)
			if i == 0 {
				// The first boot fixes the node, and kubelet starts with the fix.
				if !strings.Contains(log, "Applied run") {
					t.Fatalf("first boot: unloop did not apply:\n%s", log)
				}
				if kubelet != "/run/systemd/resolve/resolv.conf" {
					t.Fatalf("first boot: kubelet started with resolvConf %q, not the fix", kubelet)
				}
				if out, code := testbed.Exec(t, n, "unloop", "check"); code != 0 {
					t.Fatalf("after the first boot, check: exit %d\n%s", code, out)
				}
				t.Logf("first boot: unloop.service took %v (apply with a change)", time.Duration(bt.unloopTook)*time.Microsecond)
				t.Logf("blame: %s", blame(t, n))
				continue
			}
			if !strings.Contains(log, "No change") || kubelet != "/run/systemd/resolve/resolv.conf" {
				t.Fatalf("boot %d: unloop should find the node clean and kubelet keep the fix (resolvConf %q):\n%s", i+1, kubelet, log)
			}
		}
	})
}

// loopingBootNode is TestBootUnit's node, with the units installed, not
// enabled.
func loopingBootNode(t testing.TB, release string) *node.Node {
	t.Helper()
	nw := newNet(t)
	n, _ := kubeletNode(t, node.Options{Release: release, NetNS: nw.NodeNS, Overlay: t.TempDir(),
		Files: map[string]node.File{
			"/etc/systemd/resolved.conf.d/upstream.conf": {Data: []byte("[Resolve]\nDNS=" + nw.Upstream + "\n")},
		}}, "")
	installUnits(t, n)
	return n
}

// BenchmarkBootUnit: what unloop.service costs a boot, from systemd's own
// timestamps of each boot (a boot varies by more than the unit costs, so
// kubelet's start after boot cannot show it): unloop's process from
// ExecMainStart to ExecMainExit (ms-run), from that exit to kubelet's
// ExecMainStart (ms-to-kubelet: systemd's step from the unit kubelet is
// ordered after to kubelet), and the unit's activation, InactiveExit to
// ActiveEnter (ms-unit). TestBootUnit's node: the first boot applies the fix
// (not counted); each iteration is one more boot of the clean node, where
// the unit changes nothing, as on every boot of a node once fixed. Then
// the unit is started again as many times, with kubelet stopped, in turn
// with a twin that runs /bin/true in the same sandbox (ms-rerun, ms-floor:
// sandboxFloor): what of ms-run is systemd's sandbox and exec, not unloop's.
// `make bench` runs it with -benchtime 5x.
func BenchmarkBootUnit(b *testing.B) {
	for _, release := range testbed.Releases {
		b.Run(release, func(b *testing.B) {
			n := loopingBootNode(b, release)
			n.Run("systemctl", "enable", "unloop.service")
			n.Reboot()
			waitActive(b, n, "unloop.service", "kubelet.service")
			var run, toKubelet, unit, boot, delay []float64
			for b.Loop() {
				start := time.Now()
				n.Reboot()
				waitActive(b, n, "unloop.service", "kubelet.service")
				boot = append(boot, float64(time.Since(start).Microseconds())/1000)
				bt := readBoot(b, n, true)
				if log := unloopLog(b, n, "unloop.service"); !strings.Contains(log, "No change") {
					b.Fatalf("unloop changed the clean node at boot:\n%s", log)
				}
				delay = append(delay, float64(kubeletWaitedOnUnloop(b, n))/1000)
				run = append(run, float64(bt.unloopRan)/1000)
				toKubelet = append(toKubelet, float64(bt.toKubelet)/1000)
				unit = append(unit, float64(bt.unloopTook)/1000)
			}
			b.Logf("%s, ms per boot: unloop's run %v; its exit → kubelet's start %v; kubelet held back by unloop %v; the unit %v; reboot → both active %v",
				release, run, toKubelet, delay, unit, boot)
			reportSpread(b, run, "ms-run")
			reportSpread(b, toKubelet, "ms-to-kubelet")
			reportSpread(b, unit, "ms-unit")
			reportSpread(b, delay, "ms-kubelet-delay")
			rerun, floor := sandboxFloor(b, n, b.N)
			b.Logf("%s, ms per run, the unit started again with kubelet stopped (as at boot): unloop's run %v; the same unit running /bin/true %v",
				release, rerun, floor)
			reportSpread(b, rerun, "ms-rerun")
			reportSpread(b, floor, "ms-floor")
		})
	}
}

// sandboxFloor is how much of unloop.service's run is systemd's, not
// unloop's: ExecMainStartTimestamp is taken when systemd forks, before the
// child sets up the unit's sandbox (ProtectSystem=strict, PrivateTmp,
// PrivateDevices... a mount namespace of its own) and execs. It starts
// unloop.service and a twin unit that differs only in running /bin/true,
// in turn, runs times each, with kubelet stopped as at boot, and returns
// both runs' ExecMainStart → ExecMainExit in ms: unloop's own cost is the
// difference.
func sandboxFloor(b *testing.B, n *node.Node, runs int) (unloop, floor []float64) {
	b.Helper()
	unit := string(configFile(b, "unloop.service"))
	twin := strings.Replace(unit, "ExecStart=/usr/bin/unloop apply", "ExecStart=/bin/true", 1)
	if twin == unit {
		b.Fatal("configs/unloop.service has no ExecStart=/usr/bin/unloop apply line")
	}
	must(b, n.WriteFile("/etc/systemd/system/unloop-floor.service", []byte(twin), 0o644))
	n.Run("systemctl", "daemon-reload")
	n.Run("systemctl", "stop", "kubelet.service")
	ran := func(u string) float64 {
		// Ten starts in a row are more than systemd's default start limit
		// (5 in 10 s; trixie's systemd 257 counts the boot's own). A unit
		// not started yet has no state to reset: that error is no matter.
		testbed.Exec(b, n, "systemctl", "reset-failed", u)
		n.Run("systemctl", "restart", u)
		var ts [2]int64
		for i, p := range []string{"ExecMainStartTimestampMonotonic", "ExecMainExitTimestampMonotonic"} {
			v, err := strconv.ParseInt(strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", p, u)), 10, 64)
			if err != nil {
				b.Fatalf("%s %s: %v", u, p, err)
			}
			ts[i] = v
		}
		return float64(ts[1]-ts[0]) / 1000
	}
	for range runs {
		unloop = append(unloop, ran("unloop.service"))
		floor = append(floor, ran("unloop-floor.service"))
	}
	return unloop, floor
}

// kubeletWaitedOnUnloop is how long kubelet's start waited on unloop.service
// in the current boot, in µs: how much later unloop became active than the
// last of kubelet's other After= units (containerd, the test bed's image
// import), 0 when unloop was not the last. The rest of the gap from unloop's
// exit to kubelet's start is theirs and kubelet's ExecStartPre.
func kubeletWaitedOnUnloop(b *testing.B, n *node.Node) int64 {
	b.Helper()
	at := func(unit string) int64 {
		v, err := strconv.ParseInt(strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", "ActiveEnterTimestampMonotonic", unit)), 10, 64)
		if err != nil {
			b.Fatalf("%s: %v", unit, err)
		}
		return v
	}
	var last int64
	for _, u := range strings.Fields(n.Run("systemctl", "show", "--value", "-p", "After", "kubelet.service")) {
		if u != "unloop.service" && strings.HasSuffix(u, ".service") {
			last = max(last, at(u))
		}
	}
	return max(0, at("unloop.service")-last)
}

// reportSpread reports the median, the smallest and the largest of ms as
// name-median, name-min and name-max.
func reportSpread(b *testing.B, ms []float64, name string) {
	ms = slices.Sorted(slices.Values(ms))
	b.ReportMetric(ms[len(ms)/2], name+"-median")
	b.ReportMetric(ms[0], name+"-min")
	b.ReportMetric(ms[len(ms)-1], name+"-max")
}

// TestBootUnitFailure: when apply fails at boot (resolved's only upstream
// doesn't answer, so apply refuses to trade the loop for a black hole),
// unloop.service fails visibly and the real kubelet starts anyway, healthy,
// on the node as it was: ordered after unloop, never blocked by it.
func TestBootUnitFailure(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		n, config := kubeletNode(t, node.Options{Release: release, Overlay: t.TempDir(),
			Files: map[string]node.File{
				// Nothing answers there: the node has only lo.
				"/etc/systemd/resolved.conf.d/upstream.conf": {Data: []byte("[Resolve]\nDNS=10.98.250.1\n")},
			}}, "")
		installUnits(t, n)
		n.Run("systemctl", "enable", "unloop.service")
		n.Reboot()
		waitActive(t, n, "kubelet.service")
		if !testbed.Poll(30*time.Second, func() bool {
			out, _ := testbed.Exec(t, n, "systemctl", "is-failed", "unloop.service")
			return strings.TrimSpace(out) == "failed"
		}) {
			t.Fatalf("unloop.service did not fail:\n%s", n.Run("systemctl", "status", "--no-pager", "unloop.service"))
		}
		log := unloopLog(t, n, "unloop.service")
		if !strings.Contains(log, "black hole") {
			t.Errorf("unloop's journal does not say why it refused:\n%s", log)
		}
		if d, _ := n.ReadFile("/var/lib/kubelet/config.yaml"); string(d) != config {
			t.Errorf("a refused apply changed kubelet's config:\n%s", d)
		}
		if rc := kubeletRunsWith(t, n); rc != "/etc/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after the failed boot run, want the old /etc/resolv.conf", rc)
		}
		bt := readBoot(t, n, false)
		prop := func(p string) int64 {
			v, _ := strconv.ParseInt(strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", p, "unloop.service")), 10, 64)
			return v
		}
		took := time.Duration(prop("InactiveEnterTimestampMonotonic")-prop("InactiveExitTimestampMonotonic")) * time.Microsecond
		t.Logf("%s: unloop.service failed after %v; kubelet started %v after boot", release, took.Round(time.Millisecond), (time.Duration(bt.kubeletStart) * time.Microsecond).Round(time.Millisecond))
	})
}

// TestBootUnitLeavesDNSPodLoop: a kube-system CoreDNS pod's Corefile that
// unloop can't read does not stop the boot run from fixing the node: apply
// fixes kubelet's config, leaves the Corefile to the admin and exits 5, which
// unloop.service takes for success (SuccessExitStatus=3 4 5): the unit is
// active, not failed, its journal says what is left, and kubelet starts with
// the fix.
func TestBootUnitLeavesDNSPodLoop(t *testing.T) {
	const uid = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1b"
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		nw := newNet(t)
		n, _ := kubeletNode(t, node.Options{Release: release, NetNS: nw.NodeNS, Overlay: t.TempDir(),
			Files: map[string]node.File{
				"/etc/systemd/resolved.conf.d/upstream.conf": {Data: []byte("[Resolve]\nDNS=" + nw.Upstream + "\n")},
			}}, "")
		installUnits(t, n)
		n.Run("systemctl", "enable", "unloop.service")
		// Written after kubelet's first start: kubelet removes no pod folder
		// before unloop runs at the next boot, which is ordered before it.
		must(t, n.WriteFile("/var/lib/kubelet/pods/"+uid+"/volumes/kubernetes.io~configmap/config-volume/Corefile", []byte(". {\n"), 0o644))
		must(t, n.WriteFile("/var/log/pods/kube-system_coredns-5d78c9869d-q2x8z_"+uid+"/coredns/0.log", nil, 0o644))
		n.Reboot()
		waitActive(t, n, "unloop.service", "kubelet.service")
		if st := strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", "ExecMainStatus", "unloop.service")); st != "5" {
			t.Errorf("unloop apply exited %s at boot, want 5 (the node fixed, the pod's Corefile left)", st)
		}
		log := unloopLog(t, n, "unloop.service")
		for _, want := range []string{"Applied run", "LEFT FOR YOU dns-pod-unreadable", "left for you"} {
			if !strings.Contains(log, want) {
				t.Errorf("unloop's journal does not say %q:\n%s", want, log)
			}
		}
		if rc := kubeletRunsWith(t, n); rc != "/run/systemd/resolve/resolv.conf" {
			t.Errorf("kubelet started with resolvConf %q, not the fix", rc)
		}
	})
}

// waitActive waits until every unit is active; a failed one fails the test.
func waitActive(t testing.TB, n *node.Node, units ...string) {
	t.Helper()
	var last string
	if !testbed.Poll(30*time.Second, func() bool {
		out, _ := testbed.Exec(t, n, append([]string{"systemctl", "is-active"}, units...)...)
		last = strings.Join(strings.Fields(out), " ")
		return last == strings.TrimSpace(strings.Repeat("active ", len(units)))
	}) {
		t.Fatalf("%v not active (%s):\n%s", units, last, n.Run("journalctl", "-b", "--no-pager", "-n", "60"))
	}
}

// blame is systemd-analyze blame's line for unloop.service.
func blame(t *testing.T, n *node.Node) string {
	t.Helper()
	out, _ := testbed.Exec(t, n, "systemd-analyze", "blame", "--no-pager")
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "unloop.service") {
			return strings.TrimSpace(l)
		}
	}
	return "(no line for unloop.service)"
}

// TestPathUnit: with unloop.path enabled, a looping line written into the
// node's /etc/resolv.conf (as a DHCP client would write it) is gone again
// within seconds, twice in a row, and unloop's own writes settle: a few runs
// of unloop-reapply at most, the last one changing nothing, and no run after.
func TestPathUnit(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		nw := newNet(t)
		clean := "; generated by /usr/sbin/dhclient-script\nsearch example.internal\nnameserver " + nw.Upstream + "\n"
		n, _ := kubeletNode(t, node.Options{Release: release, NetNS: nw.NodeNS,
			Files: map[string]node.File{"/etc/resolv.conf": {Data: []byte(clean)}}}, "")
		installUnits(t, n)
		n.Run("systemctl", "enable", "--now", "unloop.path")
		if out, code := testbed.Exec(t, n, "unloop", "check"); code != 0 {
			t.Fatalf("the node should start clean: exit %d\n%s", code, out)
		}

		for round := 1; round <= 2; round++ {
			before := reapplyStarts(t, n)
			looping := "; generated by /usr/sbin/dhclient-script\nsearch example.internal\nnameserver 169.254.25.10\nnameserver " + nw.Upstream + "\n"
			start := time.Now()
			must(t, n.WriteFile("/etc/resolv.conf", []byte(looping), 0o644))
			var got []byte
			if !testbed.Poll(20*time.Second, func() bool {
				got, _ = n.ReadFile("/etc/resolv.conf")
				return !strings.Contains(string(got), "169.254.25.10")
			}) {
				t.Fatalf("round %d: the looping line is still there after 20s:\n%s\n%s", round, got, unloopLog(t, n, "unloop-reapply.service"))
			}
			gone := time.Since(start)
			if string(got) != clean {
				t.Errorf("round %d: /etc/resolv.conf is\n%s\nwant\n%s", round, got, clean)
			}

			// Settle: the reapply unit and the path back at rest, then no
			// further run for a while.
			if !testbed.Poll(30*time.Second, func() bool {
				a, _ := testbed.Exec(t, n, "systemctl", "is-active", "unloop-reapply.service")
				p, _ := testbed.Exec(t, n, "systemctl", "is-active", "unloop.path")
				return strings.TrimSpace(a) == "inactive" && strings.TrimSpace(p) == "active"
			}) {
				t.Fatalf("round %d: unloop-reapply or unloop.path did not settle:\n%s", round, n.Run("systemctl", "status", "--no-pager", "unloop-reapply.service", "unloop.path"))
			}
			runs := reapplyStarts(t, n) - before
			time.Sleep(5 * time.Second)
			if more := reapplyStarts(t, n) - before; more != runs {
				t.Fatalf("round %d: unloop-reapply keeps running (%d runs, then %d 5s later):\n%s", round, runs, more, unloopLog(t, n, "unloop-reapply.service"))
			}
			if runs < 1 || runs > 3 {
				t.Errorf("round %d: %d runs of unloop-reapply for one change, want 1 to 3", round, runs)
			}
			if res := strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", "Result", "unloop-reapply.service")); res != "success" {
				t.Errorf("round %d: unloop-reapply result %q", round, res)
			}
			t.Logf("%s round %d: looping line gone after %v; %d run(s) of unloop-reapply", release, round, gone.Round(10*time.Millisecond), runs)
		}
		log := unloopLog(t, n, "unloop-reapply.service")
		if c := strings.Count(log, "Applied run"); c != 2 {
			t.Errorf("%d applies with a change, want 2 (one per injected line):\n%s", c, log)
		}
		if _, code := testbed.Exec(t, n, "test", "-f", "/etc/dhcp/dhclient-enter-hooks.d/unloop"); code != 0 {
			t.Errorf("no dhclient hook: the line would come back at the next renew")
		}
	})
}

// reapplyStarts counts the runs of unloop-reapply.service in this boot.
func reapplyStarts(t *testing.T, n *node.Node) int {
	t.Helper()
	c := 0
	for _, e := range journal(t, n, "UNIT=unloop-reapply.service") {
		if e.str("MESSAGE_ID") == msgUnitStarting {
			c++
		}
	}
	return c
}

// TestPathUnitKubeletConfig: kubelet's config rewritten without resolvConf
// after install (as `kubeadm upgrade` does) on a node with resolved's stub:
// unloop.path runs apply from its hardened unit, which points the real
// kubelet at resolved's uplink file again, restarts it over D-Bus and
// watches its /healthz; kubelet runs with the fix.
func TestPathUnitKubeletConfig(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		nw := newNet(t)
		n, _ := kubeletNode(t, node.Options{Release: release, NetNS: nw.NodeNS,
			Files: map[string]node.File{
				"/etc/systemd/resolved.conf.d/upstream.conf": {Data: []byte("[Resolve]\nDNS=" + nw.Upstream + "\n")},
			}}, "resolvConf: /run/systemd/resolve/resolv.conf\n")
		installUnits(t, n)
		n.Run("systemctl", "enable", "--now", "unloop.path")
		if out, code := testbed.Exec(t, n, "unloop", "check"); code != 0 {
			t.Fatalf("the node should start clean: exit %d\n%s", code, out)
		}
		pid := prop(t, n, "kubelet.service", "MainPID")

		start := time.Now()
		must(t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(testbed.KubeletConfigFor(n, "")), 0o644))
		if !testbed.Poll(20*time.Second, func() bool {
			d, _ := n.ReadFile("/var/lib/kubelet/config.yaml")
			p := prop(t, n, "kubelet.service", "MainPID")
			return strings.Contains(string(d), "resolvConf: /run/systemd/resolve/resolv.conf") && p != pid && p != "0"
		}) {
			d, _ := n.ReadFile("/var/lib/kubelet/config.yaml")
			t.Fatalf("kubelet's config not fixed or kubelet not restarted after 20s:\n%s\n%s", d, unloopLog(t, n, "unloop-reapply.service"))
		}
		t.Logf("%s: kubelet's config fixed and kubelet restarted %v after the rewrite", release, time.Since(start).Round(10*time.Millisecond))
		// apply logs the restart once systemd's job is done: a moment later.
		var log string
		if !testbed.Poll(10*time.Second, func() bool {
			log = unloopLog(t, n, "unloop-reapply.service")
			return strings.Contains(log, "msg=restarted unit=kubelet.service")
		}) {
			t.Errorf("unloop's journal does not show kubelet's restart:\n%s", log)
		}
		// The run ends (its check after the restart) before the node goes down.
		if !testbed.Poll(30*time.Second, func() bool {
			a, _ := testbed.Exec(t, n, "systemctl", "is-active", "unloop-reapply.service")
			return strings.TrimSpace(a) == "inactive"
		}) {
			t.Errorf("unloop-reapply still running:\n%s", n.Run("systemctl", "status", "--no-pager", "unloop-reapply.service"))
		}
		if res := prop(t, n, "unloop-reapply.service", "Result"); res != "success" {
			t.Errorf("unloop-reapply result %q:\n%s", res, unloopLog(t, n, "unloop-reapply.service"))
		}
		if rc := kubeletRunsWith(t, n); rc != "/run/systemd/resolve/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after the reapply", rc)
		}
	})
}

// prop is a unit's property as systemctl shows it.
func prop(t *testing.T, n *node.Node, unit, name string) string {
	t.Helper()
	return strings.TrimSpace(n.Run("systemctl", "show", "--value", "-p", name, unit))
}

// TestBootUnitRestartByHand: `systemctl restart unloop` on a running node whose
// fix restarts kubelet. unloop.service is ordered before kubelet, so a kubelet
// restart queued in systemd's default mode would wait for unloop.service, which
// waits for that restart: unloop restarts units ignoring ordering.
func TestBootUnitRestartByHand(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		nw := newNet(t)
		n, _ := kubeletNode(t, node.Options{Release: release, NetNS: nw.NodeNS,
			Files: map[string]node.File{
				"/etc/systemd/resolved.conf.d/upstream.conf": {Data: []byte("[Resolve]\nDNS=" + nw.Upstream + "\n")},
			}}, "")
		installUnits(t, n)
		pid := prop(t, n, "kubelet.service", "MainPID")
		start := time.Now()
		out, code := testbed.Exec(t, n, "systemctl", "restart", "unloop.service")
		took := time.Since(start)
		if code != 0 {
			t.Fatalf("systemctl restart unloop: exit %d after %v\n%s\n%s", code, took, out, unloopLog(t, n, "unloop.service"))
		}
		if took > 20*time.Second {
			t.Errorf("systemctl restart unloop took %v: it waited on itself", took)
		}
		d, _ := n.ReadFile("/var/lib/kubelet/config.yaml")
		if !strings.Contains(string(d), "resolvConf: /run/systemd/resolve/resolv.conf") {
			t.Errorf("kubelet's config not fixed:\n%s", d)
		}
		if p := prop(t, n, "kubelet.service", "MainPID"); p == pid || p == "0" {
			t.Errorf("kubelet not restarted (MainPID %s, was %s)", p, pid)
		}
		if rc := kubeletRunsWith(t, n); rc != "/run/systemd/resolve/resolv.conf" {
			t.Errorf("kubelet runs with resolvConf %q after the restart", rc)
		}
		t.Logf("%s: systemctl restart unloop fixed the node and restarted kubelet in %v", release, took.Round(10*time.Millisecond))
	})
}
