package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// The process benchmarks run the real binary as a boot unit or Ansible would,
// built as `make build` builds it (static, stripped; the link is cached).
// Bounds (issue 21): check --offline on an empty root 30 ms median
// (BenchmarkCheckOfflineEmptyRootProcess, make bench's guard); 64 MB peak on
// the largest input (maxPeakRSS).
// The online numbers come from a booted node: tests/reliability.
func builtBinary(b *testing.B) string {
	b.Helper()
	return goBuild(b, ".")
}

func goBuild(b testing.TB, pkg string) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), filepath.Base(pkg))
	if pkg == "." {
		bin = filepath.Join(filepath.Dir(bin), "unloop")
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, pkg)
	if strings.HasPrefix(pkg, "github.com/unloop/unloop/tests/") {
		// tests/ is a module of its own.
		build.Args = []string{"go", "build", "-C", filepath.Join("..", "..", "tests"), "-o", bin, pkg}
	}
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// runProcess runs bin with args once per iteration (wanting exit status want)
// and reports the median and 90th percentile wall time and the peak RSS. Each
// run is started by benchrun (tests/reliability/benchrun), a small process:
// a child's peak RSS starts at its parent's RSS when it forks (the kernel
// keeps the larger of the two), so started by this test binary (15 MB) every
// run would look at least that big.
func runProcess(b *testing.B, want int, bin string, args ...string) (peakMB float64) {
	b.Helper()
	peakMB, _ = measureProcess(b, want, bin, args...)
	return peakMB
}

// runProcessMedian is runProcess, returning the median wall time in ms.
func runProcessMedian(b *testing.B, want int, bin string, args ...string) (ms float64) {
	b.Helper()
	_, ms = measureProcess(b, want, bin, args...)
	return ms
}

func measureProcess(b *testing.B, want int, bin string, args ...string) (peakMB, medianMs float64) {
	b.Helper()
	runner := goBuild(b, "github.com/unloop/unloop/tests/reliability/benchrun")
	var times []float64
	var maxRSS int64
	for b.Loop() {
		out, err := exec.Command(runner, append([]string{"-n", "1", "-warmup", "0", "--", bin}, args...)...).Output()
		if err != nil {
			b.Fatalf("benchrun: %v", err)
		}
		var runs []struct {
			Millis    float64 `json:"ms"`
			Exit      int     `json:"exit"`
			MaxRSSKiB int64   `json:"max_rss_kib"`
		}
		if err := json.Unmarshal(out, &runs); err != nil || len(runs) != 1 {
			b.Fatalf("benchrun: %v: %s", err, out)
		}
		if runs[0].Exit != want {
			b.Fatalf("%v: exit %d, want %d", args, runs[0].Exit, want)
		}
		times = append(times, runs[0].Millis)
		maxRSS = max(maxRSS, runs[0].MaxRSSKiB)
	}
	slices.Sort(times)
	b.ReportMetric(times[len(times)/2], "ms-median")
	b.ReportMetric(times[len(times)*9/10], "ms-p90")
	b.ReportMetric(float64(maxRSS)/1024, "MB-peak-rss")
	if data, err := os.ReadFile("/proc/loadavg"); err == nil {
		b.Logf("load average: %.14s", data)
	}
	return float64(maxRSS) / 1024, times[len(times)/2]
}

// fieldTree is the field report's node tree (RHEL, Kubespray, dhclient) and
// an empty config file.
func fieldTree(b *testing.B) (root, cfg string) {
	b.Helper()
	root, _ = hostcfgtest.Tree(b, filepath.Join("..", "..", "remediate", "testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	cfg = filepath.Join(b.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return root, cfg
}

// BenchmarkCheckOfflineProcess: `unloop check --offline` on a typical node tree.
func BenchmarkCheckOfflineProcess(b *testing.B) {
	bin := builtBinary(b)
	root, cfg := fieldTree(b)
	runProcess(b, 2, bin, "check", "--offline", "--root", root, "--config", cfg)
}

// maxOfflineCheckMs is make bench's guard on start-up: the median of
// `check --offline` on an empty root, on CI's kind of machine (2 cores).
const maxOfflineCheckMs = 30

// BenchmarkCheckOfflineEmptyRootProcess: `unloop check --offline` on an
// empty root, what every command pays before there is anything to read (the
// runtime, package init, the command tree, the settings). make bench runs it
// 30 times and fails over maxOfflineCheckMs.
func BenchmarkCheckOfflineEmptyRootProcess(b *testing.B) {
	bin := builtBinary(b)
	cfg := filepath.Join(b.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if median := runProcessMedian(b, 0, bin, "check", "--offline", "--root", b.TempDir(), "--config", cfg); median > maxOfflineCheckMs {
		b.Errorf("check --offline on an empty root: median %.1f ms, more than %d ms", median, maxOfflineCheckMs)
	}
}

// BenchmarkApplyNoopProcess: `unloop apply --offline` on the same tree once
// fixed: what the boot unit does at every boot after the first (lock, check,
// plan, nothing to write).
func BenchmarkApplyNoopProcess(b *testing.B) {
	bin := builtBinary(b)
	root, cfg := fieldTree(b)
	if out, err := exec.Command(bin, "apply", "--offline", "--root", root, "--config", cfg).CombinedOutput(); err != nil {
		b.Fatalf("apply: %v\n%s", err, out)
	}
	runProcess(b, 0, bin, "apply", "--offline", "--root", root, "--config", cfg)
}

// BenchmarkStartupProcess: `unloop version`, what every command pays before
// it reads a file (exec, runtime, package init, the command tree).
func BenchmarkStartupProcess(b *testing.B) {
	runProcess(b, 0, builtBinary(b), "version")
}

// BenchmarkBinarySize reports the size of the stripped static binary (the
// loop only stats it).
func BenchmarkBinarySize(b *testing.B) {
	bin := builtBinary(b)
	var size int64
	for b.Loop() {
		fi, err := os.Stat(bin)
		if err != nil {
			b.Fatal(err)
		}
		size = fi.Size()
	}
	b.ReportMetric(float64(size)/(1<<20), "MB-stripped")
}

// largeTree is a kubeadm node with resolved's stub (the kubelet strategy
// edits config.yaml) whose parsed inputs are as large as unloop accepts with
// room for an edit (hostcfg.MaxParsedSize less 4 KiB): a kubelet config, most
// of it a featureGates map, the costliest YAML to parse and splice per byte;
// a Corefile of many server blocks that forwards to the pod file from
// node-local-dns's address; a dhclient.conf that prepends that address. The
// other files are read as they are in the tree.
func largeTree(b *testing.B) (root, cfg string) {
	b.Helper()
	root, _ = hostcfgtest.Tree(b, filepath.Join("..", "..", "remediate", "testdata", "nodes", "ubuntu-2004-kubeadm-stub.txtar"))
	p := filepath.Join(root, "var/lib/kubelet/config.yaml")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	var gates strings.Builder
	gates.WriteString("featureGates:\n")
	for i := 0; gates.Len()+len(data)+8192 < hostcfg.MaxParsedSize; i++ {
		fmt.Fprintf(&gates, "  Feature%07d: true\n", i)
	}
	data = append(data, gates.String()...)
	data = append(data, "# "+strings.Repeat("#", hostcfg.MaxParsedSize-4096-len(data))+"\n"...)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	var corefile strings.Builder
	corefile.WriteString(".:53 {\n  bind 169.254.25.10\n  forward . /etc/resolv.conf\n}\n")
	for i := 0; corefile.Len()+200 < hostcfg.MaxParsedSize-4096; i++ {
		fmt.Fprintf(&corefile, "zone%d.example:53 {\n  hosts {\n    10.0.%d.%d a%d.zone%d.example\n  }\n}\n", i, i%250, i%200, i, i)
	}
	var dhclient strings.Builder
	dhclient.WriteString("prepend domain-name-servers 169.254.25.10;\n")
	for i := 0; dhclient.Len()+100 < hostcfg.MaxParsedSize-4096; i++ {
		fmt.Fprintf(&dhclient, "send host-name \"node%d\";\n", i)
	}
	for p, data := range map[string]string{"etc/coredns/Corefile": corefile.String(), "etc/dhcp/dhclient.conf": dhclient.String()} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg = filepath.Join(b.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	return root, cfg
}

// maxPeakRSS is what apply and check may take at most on any input they
// accept (issue 21: 64 MB; the DaemonSets' limit is 128 MiB).
const maxPeakRSS = 64

// BenchmarkApplyLargestInputProcess: `unloop apply --offline --strategy
// kubelet` on the largest kubelet config unloop accepts. The first run
// changes it (plan, journal, write, verify); the later ones find nothing to
// do. Its peak RSS must stay within maxPeakRSS MB.
func BenchmarkApplyLargestInputProcess(b *testing.B) {
	bin := builtBinary(b)
	root, cfg := largeTree(b)
	rss := runProcess(b, 0, bin, "apply", "--offline", "--strategy", "kubelet", "--upstream", "192.0.2.53", "--root", root, "--config", cfg)
	if rss > maxPeakRSS {
		b.Errorf("apply peaked at %.1f MB, more than %d MB", rss, maxPeakRSS)
	}
}

// BenchmarkCheckLargestInputProcess: `unloop check --offline` on the same
// tree. Its peak RSS must stay within maxPeakRSS MB.
func BenchmarkCheckLargestInputProcess(b *testing.B) {
	bin := builtBinary(b)
	root, cfg := largeTree(b)
	rss := runProcess(b, 2, bin, "check", "--offline", "--root", root, "--config", cfg)
	if rss > maxPeakRSS {
		b.Errorf("check peaked at %.1f MB, more than %d MB", rss, maxPeakRSS)
	}
}

// BenchmarkWatchIdleProcess: `unloop watch` on an empty root, serving
// /metrics: its RSS and CPU when idle (10 s after its first check), and its
// RSS while 1,000 idle connections are open to its listener, what the
// DaemonSet's 128 MiB limit must hold. Each iteration is one watch.
func BenchmarkWatchIdleProcess(b *testing.B) {
	bin := builtBinary(b)
	cfg := filepath.Join(b.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	var idleMB, connsMB, cpuPct float64
	for b.Loop() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		cmd := exec.Command(bin, "watch", "--offline", "--root", b.TempDir(), "--config", cfg, "--interval", "10m", "--listen", addr)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		waitListening(b, addr)
		time.Sleep(2 * time.Second)
		cpu0 := procCPU(b, cmd.Process.Pid)
		time.Sleep(10 * time.Second)
		cpuPct = max(cpuPct, 100*(procCPU(b, cmd.Process.Pid)-cpu0).Seconds()/10)
		idleMB = max(idleMB, procRSS(b, cmd.Process.Pid))
		var conns []net.Conn
		for range 1000 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("connection %d: %v", len(conns)+1, err)
			}
			conns = append(conns, c)
		}
		time.Sleep(2 * time.Second)
		connsMB = max(connsMB, procRSS(b, cmd.Process.Pid))
		for _, c := range conns {
			c.Close()
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	b.ReportMetric(idleMB, "MB-idle-rss")
	b.ReportMetric(cpuPct, "%-idle-cpu")
	b.ReportMetric(connsMB, "MB-rss-1000-conns")
	// The loads of TestWatchListenerBounded, once each (a watch of its own,
	// its clients held until the benchmark ends): the peak RSS under each.
	for i, l := range watchLoads {
		peak, probes := watchUnderLoad(b, bin, l.load)
		if probes != nil {
			b.Logf("%s: %v", l.name, probes)
		}
		b.ReportMetric(peak, []string{"MB-peak-rss-4000-idle-clients", "MB-peak-rss-64-slow-headers"}[i])
	}
}

func waitListening(b testing.TB, addr string) {
	b.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
	}
	b.Fatalf("watch does not listen on %s", addr)
}

// procRSS is a process's resident memory in MB, from /proc.
func procRSS(b testing.TB, pid int) float64 {
	b.Helper()
	return procStatusMB(b, pid, "VmRSS:")
}

// procPeakRSS is the most resident memory a process has had, in MB.
func procPeakRSS(b testing.TB, pid int) float64 {
	b.Helper()
	return procStatusMB(b, pid, "VmHWM:")
}

// procStatusMB is a kB field of /proc/PID/status, in MB.
func procStatusMB(b testing.TB, pid int, field string) float64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, field); ok {
			kb, err := strconv.Atoi(strings.Fields(v)[0])
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatalf("no %s for pid %d", field, pid)
	return 0
}

// procCPU is the CPU time a process has used (user and system), from /proc.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(data), ") ")
	f := strings.Fields(rest)
	utime, _ := strconv.Atoi(f[11])
	stime, _ := strconv.Atoi(f[12])
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}
