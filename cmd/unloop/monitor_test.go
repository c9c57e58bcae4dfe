package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate"
)

// nodeTree makes a root with the given files (node paths) and returns it.
// A value of "DIR" makes a folder there instead (an unreadable input).
func nodeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, data := range files {
		hp := filepath.Join(root, p)
		if data == "DIR" {
			if err := os.MkdirAll(hp, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hp, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// run runs unloop offline on root with the machine's own config kept out.
func run(t *testing.T, root string, args ...string) (string, string, int) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args = append(args, "--root", root, "--offline", "--config", cfg)
	code := Run(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

// Nodes the monitoring tests look at.
var (
	cleanNode   = map[string]string{"/etc/resolv.conf": "nameserver 192.0.2.53\n"}
	loopNode    = map[string]string{"/etc/resolv.conf": "nameserver 169.254.25.10\nnameserver 192.0.2.53\n"}
	warnNode    = map[string]string{"/etc/resolv.conf": "nameserver 192.0.2.1\nnameserver 192.0.2.2\nnameserver 192.0.2.3\nnameserver 192.0.2.4\n"}
	unreadNode  = map[string]string{"/etc/resolv.conf": "DIR"}
	manyLoopDir = "/etc/a-rather-long-folder-name-that-keeps-going/and-going/and-going"
	manyLoops   = map[string]string{
		"/etc/resolv.conf":                    "nameserver 127.0.0.53\nnameserver 169.254.25.10\nnameserver 127.0.0.2\n",
		"/etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --resolv-conf=" + manyLoopDir + "/resolv.conf\n",
		manyLoopDir + "/resolv.conf":          "nameserver 127.0.0.53\nnameserver 169.254.25.10\nnameserver 127.0.0.2\n",
	}
)

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("not Prometheus's text format: %v\n%s", err, text)
	}
	return mfs
}

// value is the gauge of family name whose labels include want.
func value(t *testing.T, mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	if mf.GetType() != dto.MetricType_GAUGE {
		t.Errorf("%s is a %v, want a gauge", name, mf.GetType())
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

// TestNPD: --output npd speaks node-problem-detector's custom plugin
// protocol: exit 0 OK, 1 problem, 3 unknown; one line of at most 80
// characters that still says how many loops there are.
func TestNPD(t *testing.T) {
	for _, c := range []struct {
		name string
		node map[string]string
		exit int
		want []string
	}{
		{"clean", cleanNode, 0, []string{"no DNS forwarding loop"}},
		{"warning is OK", warnNode, 0, []string{"no DNS loop; 1 warning: nameserver-limit"}},
		{"loop", loopNode, 1, []string{"DNS loop: nameserver-node-local-dns 169.254.25.10 in /etc/resolv.conf:1"}},
		{"many loops, long path", manyLoops, 1, []string{"DNS loop: nameserver-resolved-stub 127.0.0.53", "...", "more)"}},
		{"unreadable", unreadNode, 3, []string{"unloop could not read /etc/resolv.conf"}},
		{"unloop fails", cleanNode, 3, []string{"unloop failed: ", "not an IP address"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"check", "--output", "npd"}
			if c.name == "unloop fails" {
				args = append(args, "--local-ip", "not-an-ip")
			}
			out, stderr, code := run(t, nodeTree(t, c.node), args...)
			if code != c.exit {
				t.Errorf("exit %d, want %d (%s)", code, c.exit, stderr)
			}
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
				t.Errorf("want one line, got %q", out)
			}
			msg := strings.TrimSuffix(out, "\n")
			if n := utf8.RuneCountInString(msg); n > npdMaxMessage {
				t.Errorf("message of %d characters > %d: %q", n, npdMaxMessage, msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

// FuzzNPDMessage: whatever a finding holds (a file name can be anything),
// the plugin's message fits NPD's limit and keeps the count of the rest.
func FuzzNPDMessage(f *testing.F) {
	f.Add("/etc/resolv.conf", "169.254.25.10", 3, 2)
	f.Add(strings.Repeat("/very-long", 20), "fe80::1%eth0", 1, 40)
	f.Add("ünïcödé/файл", "", 0, 1)
	f.Fuzz(func(t *testing.T, file, addr string, line, n int) {
		if n < 0 || n > 1000 {
			return
		}
		rep := &remediate.Report{Status: "error"}
		for i := 0; i <= n; i++ {
			rep.Findings = append(rep.Findings, remediate.Finding{Code: remediate.CodeLoopback, Severity: remediate.SevError, File: file, Line: line, Address: addr})
		}
		msg, code := npdResult(rep)
		if code != npdProblem {
			t.Fatalf("exit %d for loops", code)
		}
		if utf8.RuneCountInString(msg) > npdMaxMessage {
			t.Fatalf("message of %d characters: %q", utf8.RuneCountInString(msg), msg)
		}
		if n > 0 && !strings.HasSuffix(msg, "more)") {
			t.Fatalf("the count of the rest was cut: %q", msg)
		}
	})
}

// TestMetricsOutputsAreCheckOnly: plan, apply and rollback asked for
// prometheus or npd fail before touching the node, rather than print text
// where a collector expects metrics.
func TestMetricsOutputsAreCheckOnly(t *testing.T) {
	for _, cmd := range []string{"plan", "apply", "rollback"} {
		for _, output := range []string{"prometheus", "npd"} {
			t.Run(cmd+" "+output, func(t *testing.T) {
				root := nodeTree(t, loopNode)
				before := hostcfgtest.State(t, root, nil)
				args := []string{cmd, "--output", output}
				if cmd != "rollback" {
					args = append(args, "--upstream", "192.0.2.53")
				}
				out, stderr, code := run(t, root, args...)
				if code != exitFailed || out != "" {
					t.Errorf("exit %d, stdout %q: want 1 and nothing", code, out)
				}
				if want := `output "` + output + `" is for check only: ` + cmd + ` takes text or json`; !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
				if after := hostcfgtest.State(t, root, nil); !maps.Equal(before, after) {
					t.Errorf("the node changed:\nbefore %v\nafter  %v", before, after)
				}
			})
		}
	}
}

// FuzzMetricsText: whatever a label value holds (a version with quotes,
// backslashes, line feeds), the hand-written text format parses with
// Prometheus's own parser and gives the value back. (The codes are the
// registry's: no other code reaches a label.)
func FuzzMetricsText(f *testing.F) {
	f.Add("v1.2.3")
	f.Add(`a"b\c` + "\nd")
	f.Add(`\n\"` + "ü")
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) {
			return // Prometheus's label values are UTF-8
		}
		defer func(old string) { version = old }(version)
		version = v
		rep := &remediate.Report{Status: "error", Findings: []remediate.Finding{{Code: remediate.CodeLoopback, Severity: remediate.SevError}}}
		var b bytes.Buffer
		if err := writeMetrics(&b, rep, time.Unix(1700000000, 5e8)); err != nil {
			t.Fatal(err)
		}
		mfs := parseMetrics(t, b.String())
		if got := value(t, mfs, "unloop_build_info", map[string]string{"version": v}); got != 1 {
			t.Errorf("version %q: build_info %v", v, got)
		}
		if got := value(t, mfs, "unloop_findings", map[string]string{"code": string(remediate.CodeLoopback)}); got != 1 {
			t.Errorf("nameserver-loopback counted %v", got)
		}
		if got := value(t, mfs, "unloop_last_check_timestamp_seconds", nil); got != 1700000000.5 {
			t.Errorf("timestamp %v", got)
		}
	})
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
	var out, errb bytes.Buffer
	code := Run(context.Background(), []string{"apply", "--root", root, "--offline", "--config", cfg, "--upstream", "192.0.2.53", "--strategy", "kubelet"},
		Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "Applied run") {
		t.Errorf("apply did not print its text report:\n%s", out.String())
	}
	if want := `config ` + cfg + `:1: output \"prometheus\" is for check only: apply prints text`; !strings.Contains(errb.String(), want) {
		t.Errorf("stderr %q lacks %q", errb.String(), want)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "var/lib/kubelet/config.yaml")); !strings.Contains(string(b), "resolvConf: /etc/unloop/resolv.conf") {
		t.Errorf("kubelet's config was not fixed:\n%s", b)
	}
	// check reading the same file prints metrics.
	out.Reset()
	Run(context.Background(), []string{"check", "--root", root, "--offline", "--config", cfg}, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	parseMetrics(t, out.String())
}

// TestTextfileNeverFollowsALink: node_exporter's textfile folder is often
// owned by another user, who can link unloop.prom to any file of root's (in
// the DaemonSet a relative link reaches /host/etc). check replaces the link
// with its metrics and leaves the file it named byte for byte, whether the
// link is absolute or relative.
func TestTextfileNeverFollowsALink(t *testing.T) {
	root := nodeTree(t, loopNode)
	for _, relative := range []bool{false, true} {
		dir := t.TempDir()
		victim := filepath.Join(t.TempDir(), "shadow")
		if err := os.WriteFile(victim, []byte("root:*:20000::::::\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		target := victim
		if relative {
			var err error
			if target, err = filepath.Rel(dir, victim); err != nil {
				t.Fatal(err)
			}
		}
		prom := filepath.Join(dir, "unloop.prom")
		if err := os.Symlink(target, prom); err != nil {
			t.Fatal(err)
		}
		if _, stderr, code := run(t, root, "check", "--textfile", prom); code != 2 {
			t.Fatalf("check --textfile: exit %d, want 2\n%s", code, stderr)
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != "root:*:20000::::::\n" {
			t.Errorf("link to %s: the file it named is now %q (%v)", target, b, err)
		}
		if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("link to %s: the file it named changed mode: %v", target, fi.Mode())
		}
		fi, err := os.Lstat(prom)
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("link to %s: unloop.prom is not the metrics file: %v", target, err)
		}
	}
}
