package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// watchListen is where the watch serves /metrics in the node's network
// namespace (the DaemonSet's $(NODE_IP):9958; the node's DHCP address is
// not known in advance).
const watchListen = "127.0.0.1:9958"

// dhclientClean is dhclientConf without the line Kubespray's users add: a
// renew writes the DHCP server's nameserver alone.
var dhclientClean = strings.Replace(dhclientConf, "prepend domain-name-servers 169.254.25.10;\n", "", 1)

// newWatchBed is fieldReport's node (no resolved, a plain /etc/resolv.conf
// that dhclient-script owns, kubelet and node-local-dns's units), clean: the
// DHCP server hands out the upstream alone.
func newWatchBed(t testing.TB) *bed {
	t.Helper()
	b := newBed(t, node.Options{Release: "bookworm", Ready: []string{"dbus.service"}}, "")
	n := b.Node
	n.Run("systemctl", "disable", "--now", "systemd-resolved.service")
	must(t, os.Remove(filepath.Join(must1(n.Path("/etc")), "resolv.conf")))
	must(t, n.WriteFile("/etc/resolv.conf", nil, 0o644))
	must(t, n.WriteFile("/etc/dhcp/dhclient.conf", []byte(dhclientClean), 0o644))
	b.installNodeLocalDNS()
	b.startDHCP(b.Upstream)
	return b
}

// startWatch runs `unloop watch` in the node as the DaemonSet's container
// does (JSON report and log, /metrics), as the unit unloop-watch, with
// bin (unloop or unloop-crash), env and more args.
func (b *bed) startWatch(bin string, env []string, args ...string) {
	b.t.Helper()
	b.startWatchNoWait(bin, env, args...)
	testbed.WaitFor(b.t, time.Minute, "watch's /healthz", func() bool {
		return strings.HasPrefix(b.fetch("/healthz"), "ok")
	})
}

func startUnitArgs(t testing.TB, n *node.Node, args []string) {
	t.Helper()
	if out, err := n.Exec(t.Context(), args...); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// stopWatch stops the watch as kubelet stops a pod (SIGTERM) and returns
// its log.
func (b *bed) stopWatch() string {
	b.t.Helper()
	_, _ = b.Node.Exec(context.Background(), "systemctl", "stop", "unloop-watch.service")
	return b.Node.Run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", "unloop-watch.service")
}

// fetch GETs path from the watch, from inside the node's network namespace.
func (b *bed) fetch(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+b.NodeNS, "curl", "-sf", "http://"+watchListen+path).Output()
	return string(out)
}

// waitMetrics waits until /metrics has a line matching each of res and
// returns the metrics.
func (b *bed) waitMetrics(what string, res ...string) string {
	b.t.Helper()
	var m string
	ok := testbed.Poll(time.Minute, func() bool {
		m = b.fetch("/metrics")
		for _, re := range res {
			if !regexp.MustCompile("(?m)" + re).MatchString(m) {
				return false
			}
		}
		return true
	})
	if !ok {
		b.t.Fatalf("%s: /metrics never matched %q:\n%s\nwatch's log:\n%s", what, res, m,
			b.Node.Run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", "unloop-watch.service"))
	}
	return m
}

// renew is a new DHCP run (dhclient restarted), hooks and all.
func (b *bed) renew() {
	b.t.Helper()
	bound := dhcpCount(b)
	// A benchmark renews more often than systemd's start limit allows.
	_, _ = b.Node.Exec(context.Background(), "systemctl", "reset-failed", "dhclient.service")
	startUnit(b.t, b.Node, "restart", "dhclient.service")
	testbed.WaitFor(b.t, 30*time.Second, "a new DHCP lease", func() bool { return dhcpCount(b) > bound })
}

func dhcpCount(b *bed) int {
	log, _ := b.Node.Exec(context.Background(), "journalctl", "-b", "-u", "dhclient.service", "--no-pager", "-o", "cat")
	return strings.Count(log, "bound to")
}

// kubespray adds node-local-dns's address to dhclient.conf: the next renew
// writes it into the pod file.
func (b *bed) kubespray() {
	must(b.t, b.Node.WriteFile("/etc/dhcp/dhclient.conf", []byte(dhclientConf), 0o644))
}

// watchCPU is the CPU time (user and system) the watch's process used so far.
func (b *bed) watchCPU() time.Duration {
	b.t.Helper()
	pid := strings.TrimSpace(b.Node.Run("systemctl", "show", "--value", "-p", "MainPID", "unloop-watch.service"))
	stat, err := b.Node.ReadFile("/proc/" + pid + "/stat")
	must(b.t, err)
	// After the command's name in parentheses: utime and stime are the
	// 12th and 13th fields, in clock ticks (100 a second).
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	u, _ := strconv.Atoi(f[11])
	s, _ := strconv.Atoi(f[12])
	return time.Duration(u+s) * 10 * time.Millisecond
}

// TestWatchOnNode is `unloop watch` on a real booted node, run as the
// DaemonSet's container runs it: a DHCP renew that writes node-local-dns's
// address back shows in /metrics; a file rewritten in a tight loop backs it
// off instead of making it spin; SIGTERM in the middle of an apply leaves
// all of the run or none; with --apply the renew is fixed.
func TestWatchOnNode(t *testing.T) {
	b := newWatchBed(t)
	n := b.Node

	b.startWatch("unloop", nil)
	b.renewShows()

	// A tight loop rewriting a watched file: the checks back off and the
	// watch's CPU stays low. Measured: about 3.5% of a core; 10.6% when the
	// inotify reads are not held to 20 a second, what 8% tells apart.
	share, m := b.loopCPU()
	if share > 0.08 {
		t.Errorf("watch used %.0f%% of a core while a file was rewritten in a loop: it spins\n%s", 100*share, m)
	}
	log := b.stopWatch()
	if !strings.Contains(log, "rewritten in a loop") || !strings.Contains(log, `"msg":"stopping"`) {
		t.Errorf("watch's log: want the loop reported and a clean stop:\n%s", log)
	}

	// SIGTERM at the apply's first step after the journal: all of the run
	// or none, and the watch stops.
	before := watchFiles(t, n)
	b.startWatchNoWait("unloop-crash", []string{"UNLOOP_TERM_AT=journaled"}, "--apply", "--strategy", "dhclient")
	testbed.WaitFor(t, time.Minute, "the watch stopping on SIGTERM", func() bool {
		st, _ := n.Exec(context.Background(), "systemctl", "is-active", "unloop-watch.service")
		return strings.TrimSpace(st) != "active" && strings.TrimSpace(st) != "activating"
	})
	log = n.Run("journalctl", "-b", "--no-pager", "-o", "cat", "-u", "unloop-watch.service")
	runs := n.Run("/opt/unloop/unloop", "runs")
	after := watchFiles(t, n)
	t.Logf("SIGTERM at the journaled step: %s", strings.TrimSpace(runs))
	switch {
	case strings.Contains(runs, "rolled-back"):
		if d := diffFiles(before, after); d != "" {
			t.Errorf("the run was rolled back, but the files differ:\n%s", d)
		}
	case strings.Contains(runs, "applied"):
		if strings.Contains(after["/etc/resolv.conf"], "169.254.25.10") || after["/etc/dhcp/dhclient-enter-hooks.d/unloop"] == "" {
			t.Errorf("the run was applied, but not all of it: %v", after)
		}
		if out, code := testbed.Unloop(t, n, "rollback"); code != 0 {
			t.Fatalf("rollback: exit %d\n%s", code, out)
		}
	default:
		t.Fatalf("the run under SIGTERM is neither applied nor rolled back:\n%s\nwatch's log:\n%s", runs, log)
	}
	if !strings.Contains(log, `"msg":"stopping"`) {
		t.Errorf("watch's log: want a clean stop:\n%s", log)
	}
	_, _ = n.Exec(context.Background(), "systemctl", "reset-failed", "unloop-watch.service")

	// --apply: the clean node, then a renew that writes the address back is fixed.
	b.clean()
	b.startWatch("unloop", nil, "--apply", "--strategy", "dhclient")
	b.renewFixed()
	b.renew()
	if got := string(must1(n.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") {
		t.Errorf("the next renew brought node-local-dns's address back:\n%s", got)
	}
	b.stopWatch()
}

// startWatchNoWait is startWatch for a watch that may stop at once.
func (b *bed) startWatchNoWait(bin string, env []string, args ...string) {
	b.t.Helper()
	cmd := []string{"systemd-run", "--unit", "unloop-watch", "--collect"}
	for _, e := range env {
		cmd = append(cmd, "--setenv="+e)
	}
	cmd = append(cmd, "/opt/unloop/"+bin, "watch", "--listen", watchListen, "--output", "json", "--log-format", "json")
	startUnitArgs(b.t, b.Node, append(cmd, args...))
}

// watchFiles are the files the dhclient strategy changes ("" when absent).
func watchFiles(t *testing.T, n *node.Node) map[string]string {
	files := map[string]string{}
	for _, p := range []string{"/etc/resolv.conf", "/etc/dhcp/dhclient.conf", "/etc/dhcp/dhclient-enter-hooks.d/unloop"} {
		data, _ := n.ReadFile(p)
		files[p] = string(data)
	}
	return files
}

func diffFiles(a, b map[string]string) string {
	var d []string
	for p := range a {
		if a[p] != b[p] {
			d = append(d, p+":\n"+a[p]+"\n--- now:\n"+b[p])
		}
	}
	return strings.Join(d, "\n")
}

// clean puts dhclient.conf back as it was and has a renew write a clean
// /etc/resolv.conf.
func (b *bed) clean() {
	b.t.Helper()
	must(b.t, b.Node.WriteFile("/etc/dhcp/dhclient.conf", []byte(dhclientClean), 0o644))
	b.renew()
}

// renewShows: with a checking watch on a clean node, a renew that writes
// node-local-dns's address back shows in /metrics. It returns how long that
// took from the renew's start.
func (b *bed) renewShows() time.Duration {
	b.t.Helper()
	b.waitMetrics("the clean node", `^unloop_check_status\{status="ok"\} 1$`)
	start := time.Now()
	b.kubespray()
	b.renew()
	if got := string(must1(b.Node.ReadFile("/etc/resolv.conf"))); !strings.Contains(got, "169.254.25.10") {
		b.t.Fatalf("the renew did not write node-local-dns's address:\n%s", got)
	}
	b.waitMetrics("after the renew", `^unloop_check_status\{status="error"\} 1$`,
		`^unloop_findings\{code="nameserver-node-local-dns",severity="error"\} 1$`,
		`^unloop_watch_checks_total\{trigger="change"\} [1-9]`)
	return time.Since(start)
}

// renewFixed: with an applying watch on a clean node, a renew that writes
// node-local-dns's address back is fixed. It returns how long that took
// from the renew's start.
func (b *bed) renewFixed() time.Duration {
	b.t.Helper()
	b.waitMetrics("the clean node, applying", `^unloop_check_status\{status="ok"\} 1$`)
	start := time.Now()
	b.kubespray()
	b.renew()
	// Fixed: the file pods get is clean and /metrics says so. The file
	// first: an apply on dhclient.conf's change may have come before the
	// renew wrote, and the renew's write is then fixed by the next one.
	testbed.WaitFor(b.t, time.Minute, "a clean /etc/resolv.conf", func() bool {
		got, _ := b.Node.ReadFile("/etc/resolv.conf")
		return !strings.Contains(string(got), "169.254.25.10")
	})
	b.waitMetrics("the renew fixed", `^unloop_last_apply_success 1$`, `^unloop_check_status\{status="ok"\} 1$`)
	took := time.Since(start)
	if got := string(must1(b.Node.ReadFile("/etc/resolv.conf"))); strings.Contains(got, "169.254.25.10") || !strings.Contains(got, b.Upstream) {
		b.t.Errorf("after the watch applied, /etc/resolv.conf is:\n%s", got)
	}
	return took
}

// loopCPU rewrites a watched file in a tight loop (in the node, as fast as
// sh can) and measures the running watch's CPU over 10 s once it backed
// off: the share of a core, and its metrics at the end.
func (b *bed) loopCPU() (float64, string) {
	b.t.Helper()
	n := b.Node
	startUnitArgs(b.t, n, []string{"systemd-run", "--unit", "rewrite-loop", "--collect", "sh", "-c",
		`while :; do cp /etc/dhcp/dhclient.conf /etc/dhcp/dhclient.conf.new; mv /etc/dhcp/dhclient.conf.new /etc/dhcp/dhclient.conf; done`})
	defer func() { _, _ = n.Exec(context.Background(), "systemctl", "stop", "rewrite-loop.service") }()
	b.waitMetrics("the rewrite loop", `^unloop_watch_backoff_seconds [1-9]`)
	cpu0, wall0 := b.watchCPU(), time.Now()
	time.Sleep(10 * time.Second) // the window the CPU is measured over; nothing is timed
	cpu, wall := b.watchCPU()-cpu0, time.Since(wall0)
	share := float64(cpu) / float64(wall)
	b.t.Logf("the rewrite loop: watch used %v of CPU in %v (%.1f%% of a core)", cpu, wall.Round(time.Millisecond), 100*share)
	return share, b.fetch("/metrics")
}

// BenchmarkWatchOnNode: how long a renew that writes node-local-dns's
// address back takes to show in /metrics (renew-to-metrics-s), and to be
// fixed by watch --apply (renew-to-fixed-s: /etc/resolv.conf clean and
// /metrics saying so), each from the renew's start (the DHCP exchange
// included), medians with min and max over b.N runs; and the watch's CPU
// while a file is rewritten in a tight loop (loop-cpu-%), once. Each fixed
// run logs the watch's own timeline (change seen, check, writes, verify).
func BenchmarkWatchOnNode(b *testing.B) {
	bd := newWatchBed(b)
	var shows, fixed []float64
	for i := 0; i < b.N; i++ {
		bd.startWatch("unloop", nil)
		shows = append(shows, bd.renewShows().Seconds())
		if i == 0 {
			share, _ := bd.loopCPU()
			b.ReportMetric(100*share, "loop-cpu-%")
		}
		bd.stopWatch()
		bd.clean()
		bd.startWatch("unloop", nil, "--apply", "--strategy", "dhclient")
		start := time.Now()
		took := bd.renewFixed()
		fixed = append(fixed, took.Seconds())
		b.Logf("run %d: renew → /metrics %.3f s, renew → fixed %.3f s; the watch, from the renew's start:\n%s",
			i+1, shows[i], took.Seconds(), watchTimeline(bd.stopWatch(), start))
		if out, code := testbed.Unloop(b, bd.Node, "rollback"); code != 0 {
			b.Fatalf("rollback: exit %d\n%s", code, out)
		}
		bd.clean()
	}
	reportSpread(b, shows, "renew-to-metrics-s")
	reportSpread(b, fixed, "renew-to-fixed-s")
	b.ReportMetric(0, "ns/op")
}

// reportSpread reports the median of xs as name, and its min and max.
func reportSpread(b *testing.B, xs []float64, name string) {
	xs = slices.Sorted(slices.Values(xs))
	b.ReportMetric(xs[len(xs)/2], name)
	b.ReportMetric(xs[0], name+"-min")
	b.ReportMetric(xs[len(xs)-1], name+"-max")
}

// watchTimeline is the watch's JSON log from start on, the steps between a
// change and its fix, in ms after start (the node shares this machine's
// clock).
func watchTimeline(log string, start time.Time) string {
	var sb strings.Builder
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Time  time.Time `json:"time"`
			Msg   string    `json:"msg"`
			Paths []string  `json:"paths"`
			Path  string    `json:"path"`
			Took  string    `json:"took"`
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Time.Before(start) {
			continue
		}
		switch {
		case e.Msg == "changed", e.Msg == "wrote", e.Msg == "checked", strings.HasPrefix(e.Msg, "a looping address"),
			strings.HasPrefix(e.Msg, "every input holds"):
			fmt.Fprintf(&sb, "  %+7.0f ms %s %s%s %s\n", float64(e.Time.Sub(start).Microseconds())/1000, e.Msg, e.Path, strings.Join(e.Paths, ","), e.Took)
		}
	}
	return sb.String()
}
