package reliability

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The benchmarks run inside a booted node (the bed of the node tests), where
// unloop runs for real: benchrun, copied in, times each run and reads its peak
// RSS, so nsenter's own cost is not in the numbers. Each iteration is one run;
// the metrics are the median and 90th percentile of the runs' wall times and
// the largest peak RSS. Run them with `make bench`.

// inNode runs benchrun -n 1 for args inside the node and returns the run.
func inNode(b *testing.B, bd *bed, until string, args ...string) benchRun {
	b.Helper()
	argv := []string{"/opt/unloop/benchrun", "-n", "1", "-warmup", "0"}
	if until != "" {
		argv = append(argv, "-until-output", until)
	}
	out, err := bd.Node.Exec(context.Background(), append(append(argv, "--"), args...)...)
	if err != nil {
		b.Fatal(err)
	}
	var runs []benchRun
	if err := json.Unmarshal([]byte(out), &runs); err != nil || len(runs) != 1 {
		b.Fatalf("benchrun: %v: %s", err, out)
	}
	return runs[0]
}

type benchRun struct {
	Millis    float64 `json:"ms"`
	Exit      int     `json:"exit"`
	MaxRSSKiB int64   `json:"max_rss_kib"`
	Matched   bool    `json:"matched"`
}

// stats are the runs' median, 90th percentile and largest peak RSS.
type stats struct {
	median, p90 float64
	rssMB       float64
}

func summarize(runs []benchRun) stats {
	ms := make([]float64, 0, len(runs))
	var rss int64
	for _, r := range runs {
		ms = append(ms, r.Millis)
		rss = max(rss, r.MaxRSSKiB)
	}
	slices.Sort(ms)
	return stats{median: ms[len(ms)/2], p90: ms[len(ms)*9/10], rssMB: float64(rss) / 1024}
}

func mean(runs []benchRun) float64 {
	var sum float64
	for _, r := range runs {
		sum += r.Millis
	}
	return sum / float64(len(runs))
}

func (s stats) report(b *testing.B, prefix string) {
	b.ReportMetric(s.median, prefix+"ms-median")
	b.ReportMetric(s.p90, prefix+"ms-p90")
	b.ReportMetric(s.rssMB, prefix+"MB-peak-rss")
}

// loadNote logs the load average next to the numbers: other work on the
// machine makes them worse.
func loadNote(b *testing.B) {
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average: %s", strings.Join(strings.Fields(string(data))[:3], " "))
	}
}

// benchCommand measures args (exiting with want) on a fresh bed node.
func benchCommand(b *testing.B, bd *bed, want int, args ...string) stats {
	b.Helper()
	for range 3 { // warm the page cache and resolved
		inNode(b, bd, "", args...)
	}
	var runs []benchRun
	for b.Loop() {
		r := inNode(b, bd, "", args...)
		if r.Exit != want {
			b.Fatalf("%s exited %d, want %d", strings.Join(args, " "), r.Exit, want)
		}
		runs = append(runs, r)
	}
	return summarize(runs)
}

// BenchmarkNodeCheckOnline: `unloop check` on a booted node (the stub case),
// with its D-Bus reads of systemd-resolved and systemd and the interfaces.
// Target: 25 ms median, 30 MB.
func BenchmarkNodeCheckOnline(b *testing.B) {
	bd := newBed(b, "bookworm")
	loadNote(b)
	benchCommand(b, bd, 2, "/opt/unloop/unloop", "check").report(b, "")
}

// BenchmarkNodeApplyNoop: `unloop apply` on a node it already fixed (what the
// boot unit does at every boot). Target: 30 ms median.
func BenchmarkNodeApplyNoop(b *testing.B) {
	bd := newBed(b, "bookworm")
	if r := bd.unloop(time.Minute, "unloop", nil, "apply"); r.Code != 0 {
		b.Fatalf("apply: %s", r)
	}
	loadNote(b)
	benchCommand(b, bd, 0, "/opt/unloop/unloop", "apply").report(b, "")
}

// BenchmarkNodeStartup is what any unloop command pays before it does
// anything: exec, the Go runtime, package init (`unloop version`).
func BenchmarkNodeStartup(b *testing.B) {
	bd := newBed(b, "bookworm")
	loadNote(b)
	benchCommand(b, bd, 0, "/opt/unloop/unloop", "version").report(b, "")
}

// BenchmarkNodeCheckOffline: the same node read from its files only, to
// tell the bus's share of an online check. Target: 10 ms median.
func BenchmarkNodeCheckOffline(b *testing.B) {
	bd := newBed(b, "bookworm")
	loadNote(b)
	benchCommand(b, bd, 2, "/opt/unloop/unloop", "check", "--offline").report(b, "")
}

// BenchmarkNodeResolvectlStatus is the yardstick: systemd's own tool asking
// resolved for its state, on the same node.
func BenchmarkNodeResolvectlStatus(b *testing.B) {
	bd := newBed(b, "bookworm")
	loadNote(b)
	benchCommand(b, bd, 0, "resolvectl", "status").report(b, "")
}

// BenchmarkDetectionRace: on a node whose node-local-dns forwards to itself
// (bind 169.254.25.10, forward . /etc/resolv.conf naming 169.254.25.10), the
// time from start to verdict of unloop check (exit 2) against CoreDNS's own
// loop plugin (start to "[FATAL] plugin/loop: Loop ... detected" and exit),
// each iteration running both. Target: unloop at least 20x sooner.
func BenchmarkDetectionRace(b *testing.B) {
	bd := newBed(b, "bookworm")
	n := bd.Node
	n.Run("ip", "addr", "add", "169.254.25.10/32", "dev", "lo")
	etc, err := n.Path("/etc")
	if err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(filepath.Join(etc, "resolv.conf")); err != nil {
		b.Fatal(err)
	}
	must(b, n.WriteFile("/etc/resolv.conf", []byte("nameserver 169.254.25.10\n"), 0o644))
	must(b, n.WriteFile("/etc/coredns/Corefile", []byte(".:53 {\n    bind 169.254.25.10\n    loop\n    forward . /etc/resolv.conf\n}\n"), 0o644))
	coredns := []string{"/opt/coredns/coredns", "-conf", "/etc/coredns/Corefile"}
	unloop := []string{"/opt/unloop/unloop", "check"}
	inNode(b, bd, "", unloop...)
	loadNote(b)
	var us, them []benchRun
	for b.Loop() {
		u := inNode(b, bd, "", unloop...)
		c := inNode(b, bd, "plugin/loop: Loop (169.254.25.10:", coredns...)
		if u.Exit != 2 || c.Exit != 1 || !c.Matched {
			b.Fatalf("unloop exit %d; CoreDNS exit %d, FATAL seen %v", u.Exit, c.Exit, c.Matched)
		}
		us, them = append(us, u), append(them, c)
	}
	// CoreDNS's times are bimodal: its probe is sent at start-up and comes
	// back at once when the listener is already up, or after a retry a
	// second later when it was not: the mean says more than the median.
	su, sc := summarize(us), summarize(them)
	mu, mc := mean(us), mean(them)
	b.ReportMetric(su.median, "unloop-ms-median")
	b.ReportMetric(sc.median, "coredns-ms-median")
	b.ReportMetric(mc, "coredns-ms-mean")
	b.ReportMetric(sc.median/su.median, "x-sooner-median")
	b.ReportMetric(mc/mu, "x-sooner-mean")
	b.Logf("unloop check: median %.1f ms, mean %.1f, p90 %.1f; CoreDNS loop plugin: median %.0f ms, mean %.0f, p90 %.0f (%d runs each)",
		su.median, mu, su.p90, sc.median, mc, sc.p90, len(us))
}
