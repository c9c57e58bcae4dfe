package metrics

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate"
)

// nodeTree makes a root with the given files (node paths).
func nodeTree(t *testing.T, files map[string]string) string { return hostcfgtest.Files(t, files) }

// emptyConfig is a config file with nothing in it: the machine's own
// /etc/unloop/unloop.yaml is kept out.
func emptyConfig(t *testing.T) string {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// runBin runs the binary bin with args and returns stdout, stderr and the
// exit status.
func runBin(t *testing.T, bin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errb.String(), ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// run runs unloop offline on root with the machine's own config kept out.
func run(t *testing.T, root string, args ...string) (string, string, int) {
	t.Helper()
	return runBin(t, unloop(), append(args, "--root", root, "--offline", "--config", emptyConfig(t))...)
}

// The nodes the monitoring tests look at (shared with the other module's
// monitoring tests).
var (
	cleanNode  = hostcfgtest.CleanNode
	loopNode   = hostcfgtest.LoopNode
	warnNode   = hostcfgtest.WarnNode
	unreadNode = hostcfgtest.UnreadableNode
	manyLoops  = hostcfgtest.ManyLoopsNode
)

// parseMetrics parses text with Prometheus's own parser.
func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("not Prometheus's text format: %v\n%s", err, text)
	}
	return mfs
}

// value is the gauge (the counter, for a name ending in _total) of family
// name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	typ := dto.MetricType_GAUGE
	if strings.HasSuffix(name, "_total") {
		typ = dto.MetricType_COUNTER
	}
	if mf.GetType() != typ {
		t.Errorf("%s is a %v, want a %v", name, mf.GetType(), typ)
	}
next:
	for _, m := range mf.Metric {
		got := map[string]string{}
		for _, l := range m.Label {
			got[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		if typ == dto.MetricType_COUNTER {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no %s%v", name, want)
	return 0
}

// TestPrometheus: check --output prometheus is Prometheus's text format
// (parsed by prometheus/common's own parser): the status one-hot, a series
// for every known code with the count found, the check's time; check's exit
// codes are unchanged.
func TestPrometheus(t *testing.T) {
	for _, c := range []struct {
		name     string
		node     map[string]string
		status   string
		code     string
		count    float64
		severity string
		exit     int
	}{
		{"clean", cleanNode, "ok", "nameserver-node-local-dns", 0, "error", 0},
		{"node-local-dns loop", loopNode, "error", "nameserver-node-local-dns", 1, "error", 2},
		{"too many nameservers", warnNode, "warning", "nameserver-limit", 1, "warning", 0},
		{"unreadable resolv.conf", unreadNode, "error", "unreadable", 1, "error", 1},
		{"three loops", manyLoops, "error", "nameserver-resolved-stub", 1, "error", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := time.Now()
			out, stderr, code := run(t, nodeTree(t, c.node), "check", "--output", "prometheus")
			if code != c.exit {
				t.Errorf("exit %d, want %d: %s", code, c.exit, stderr)
			}
			mfs := parseMetrics(t, out)
			for _, s := range []string{"ok", "warning", "error"} {
				want := 0.0
				if s == c.status {
					want = 1
				}
				if got := value(t, mfs, "unloop_check_status", map[string]string{"status": s}); got != want {
					t.Errorf("unloop_check_status{status=%q} = %v, want %v", s, got, want)
				}
			}
			if got := value(t, mfs, "unloop_findings", map[string]string{"code": c.code, "severity": c.severity}); got != c.count {
				t.Errorf("unloop_findings{code=%q} = %v, want %v", c.code, got, c.count)
			}
			if n := len(mfs["unloop_findings"].Metric); n < len(remediate.Codes) {
				t.Errorf("%d finding series, want one per known code (%d)", n, len(remediate.Codes))
			}
			ts := value(t, mfs, "unloop_last_check_timestamp_seconds", nil)
			if at := time.Unix(0, int64(ts*1e9)); at.Before(before.Add(-time.Second)) || at.After(time.Now().Add(time.Second)) {
				t.Errorf("last check at %v, not now", at)
			}
			if value(t, mfs, "unloop_check_online", nil) != 0 {
				t.Error("an --offline check says it was online")
			}
			if value(t, mfs, "unloop_build_info", map[string]string{"version": "metrics-test"}) != 1 {
				t.Error("unloop_build_info does not carry the version built in")
			}
		})
	}
}

// TestTextfile: --textfile replaces the file at once. A reader polling it
// while checks rewrite it never sees a partial file; no temporary file is
// left; a folder that can't be written is an error naming the file.
func TestTextfile(t *testing.T) {
	root := nodeTree(t, loopNode)
	dir := t.TempDir()
	path := filepath.Join(dir, "unloop.prom")

	var stop atomic.Bool
	var reads, partial atomic.Int32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			b, err := os.ReadFile(path)
			if err != nil {
				continue
			}
			reads.Add(1)
			p := expfmt.NewTextParser(model.UTF8Validation)
			mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
			if err != nil || mfs["unloop_build_info"] == nil {
				partial.Add(1)
			}
		}
	}()
	for i := 0; i < 30; i++ {
		out, stderr, code := run(t, root, "check", "--textfile", path)
		if code != 2 || !strings.Contains(out, "LOOP") {
			t.Fatalf("check --textfile: exit %d (want 2), stdout must stay the text report:\n%s%s", code, out, stderr)
		}
	}
	stop.Store(true)
	wg.Wait()
	if partial.Load() > 0 || reads.Load() == 0 {
		t.Errorf("%d of %d reads saw a partial textfile", partial.Load(), reads.Load())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if v := value(t, parseMetrics(t, string(b)), "unloop_findings", map[string]string{"code": "nameserver-node-local-dns"}); v != 1 {
		t.Errorf("textfile: node-local-dns findings %v, want 1", v)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the textfile folder holds %v, want unloop.prom alone", names)
	}

	_, stderr, code := run(t, root, "check", "--textfile", filepath.Join(dir, "missing", "unloop.prom"))
	if code != 1 || !strings.Contains(stderr, "missing/unloop.prom") {
		t.Errorf("textfile in a missing folder: exit %d, stderr %q", code, stderr)
	}
}

// TestConfigFileMetricsOutputKeepsApply: `output: prometheus` in the config
// file is there for check (a metrics timer); the boot unit's apply reading
// the same file still fixes the node, printing text and saying why.
func TestConfigFileMetricsOutputKeepsApply(t *testing.T) {
	root := nodeTree(t, map[string]string{
		"/etc/resolv.conf":                    "nameserver 169.254.25.10\n",
		"/etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml\n",
		"/var/lib/kubelet/config.yaml":        "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n",
	})
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, []byte("output: prometheus\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := runBin(t, unloop(), "apply", "--root", root, "--offline", "--config", cfg, "--upstream", "192.0.2.53", "--strategy", "kubelet")
	if code != 4 { // offline: fixed in the files, kubelet's restart skipped
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, stderr)
	}
	if !strings.Contains(out, "Applied run") {
		t.Errorf("apply did not print its text report:\n%s", out)
	}
	if want := `config ` + cfg + `:1: output \"prometheus\" is for check only: apply prints text`; !strings.Contains(stderr, want) {
		t.Errorf("stderr %q lacks %q", stderr, want)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "var/lib/kubelet/config.yaml")); !strings.Contains(string(b), "resolvConf: /etc/unloop/resolv.conf") {
		t.Errorf("kubelet's config was not fixed:\n%s", b)
	}
	// check reading the same file prints metrics.
	out, _, _ = runBin(t, unloop(), "check", "--root", root, "--offline", "--config", cfg)
	parseMetrics(t, out)
}

// TestVersionLabel: a version with quotes, backslashes and the text
// format's own characters, built in with -ldflags -X, comes back from
// Prometheus's parser as it was built; the other families still parse.
// (cmd/unloop/cli's FuzzMetricsText fuzzes the escaping in-process.)
func TestVersionLabel(t *testing.T) {
	root := nodeTree(t, loopNode)
	for i, v := range weirdVersions {
		bin := filepath.Join(binDir, "unloop-"+string(rune('0'+i)))
		out, stderr, code := runBin(t, bin, "check", "--output", "prometheus", "--root", root, "--offline", "--config", emptyConfig(t))
		if code != 2 {
			t.Errorf("version %q: exit %d, want 2: %s", v, code, stderr)
		}
		mfs := parseMetrics(t, out)
		if got := value(t, mfs, "unloop_build_info", map[string]string{"version": v}); got != 1 {
			t.Errorf("version %q: build_info %v", v, got)
		}
		if got := value(t, mfs, "unloop_findings", map[string]string{"code": "nameserver-node-local-dns"}); got != 1 {
			t.Errorf("version %q: nameserver-node-local-dns counted %v", v, got)
		}
	}
}
