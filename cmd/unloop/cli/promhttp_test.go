package cli

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// /metrics is client_golang's handler: OpenMetrics to a scraper that asks
// for it, gzip when accepted, and the go_* and process_* metrics of the
// daemon beside unloop's own.
func TestWatchMetricsNegotiates(t *testing.T) {
	wt := &watcher{
		wf: watchFlags{interval: 5 * time.Minute}, up: true,
		rep:     &node.Report{Status: "error", Findings: []node.Finding{{Code: finding.CodeNodeLocalDNS, Severity: finding.SevError}}},
		checked: time.Now(), changes: map[string]float64{}, checks: map[string]float64{"start": 1},
	}
	h := wt.handler(runtimeCollectors()...)
	get := func(t *testing.T, header ...string) *http.Response {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%v: %d %s", header, rec.Code, rec.Body)
		}
		return rec.Result()
	}

	t.Run("text by default", func(t *testing.T) {
		resp := get(t)
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
			t.Errorf("Content-Type %q", ct)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"unloop_check_status", "go_goroutines", "process_resident_memory_bytes"} {
			if mf := mfs[name]; mf == nil || len(mf.Metric) == 0 {
				t.Errorf("no %s", name)
			}
		}
		if v := mfs["go_goroutines"].GetMetric()[0].GetGauge().GetValue(); v < 1 {
			t.Errorf("go_goroutines %v", v)
		}
		if v := mfs["process_resident_memory_bytes"].GetMetric()[0].GetGauge().GetValue(); v <= 0 {
			t.Errorf("process_resident_memory_bytes %v", v)
		}
	})

	t.Run("OpenMetrics when asked", func(t *testing.T) {
		resp := get(t, "Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
			t.Errorf("Content-Type %q", ct)
		}
		b := readAll(t, resp)
		for _, want := range []string{
			"# TYPE unloop_watch_checks counter\n",
			"# HELP unloop_watch_checks " + metricHelp["unloop_watch_checks_total"] + "\n",
			`unloop_watch_checks_total{trigger="start"} 1.0` + "\n",
			`unloop_check_status{status="error"} 1.0` + "\n",
			"\ngo_goroutines ",
			"\nprocess_resident_memory_bytes ",
		} {
			if !strings.Contains(b, want) {
				t.Errorf("no %q in\n%s", want, b)
			}
		}
		if !strings.HasSuffix(b, "# EOF\n") {
			t.Error("no # EOF at the end")
		}
	})

	t.Run("gzip when accepted", func(t *testing.T) {
		resp := get(t, "Accept-Encoding", "gzip")
		if ce := resp.Header.Get("Content-Encoding"); ce != "gzip" {
			t.Fatalf("Content-Encoding %q", ce)
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		mfs, err := p.TextToMetricFamilies(zr)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"unloop_check_status", "go_goroutines", "process_resident_memory_bytes"} {
			if mfs[name] == nil {
				t.Errorf("no %s in the gunzipped body", name)
			}
		}
	})
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A family whose samples don't match its labels is Gather's error: check
// fails, and /metrics serves the rest. A label value that is not UTF-8 (a
// path can hold any byte) is served escaped, not an error that would cost
// the textfile all its metrics.
func TestInvalidSamplesAreErrors(t *testing.T) {
	bad := func() []*gaugeFamily {
		status := gauge("unloop_check_status")
		status.add(1, "state", "ok") // the label is status
		online := gauge("unloop_check_online")
		online.add(1)
		pods := gauge("unloop_pod_stale")
		pods.add(1, "pod", "kube-system/\xff")
		return []*gaugeFamily{status, online, pods}
	}
	var b strings.Builder
	err := writeGathered(&b, registryOf(bad))
	if err == nil || !strings.Contains(err.Error(), "unloop_check_status") || strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("err %v, want the mislabelled family named, and no other", err)
	}
	good := func() []*gaugeFamily { return bad()[2:] }
	b.Reset()
	if err := writeGathered(&b, registryOf(good)); err != nil || !strings.Contains(b.String(), `unloop_pod_stale{pod="kube-system/\\xff"} 1`) {
		t.Errorf("a label value that is not UTF-8: %v\n%s", err, b.String())
	}
}

// TestTextfileNeverChmodsASwappedLink: the textfile folder's owner (not
// root) swaps a link to a file of root's in for the temporary file while
// unloop writes. prometheus.WriteToTextfile chmods its temporary file by
// name, and made such a file 0644 within a few writes here; the folder's
// handle and fchmod never reach it.
func TestTextfileNeverChmodsASwappedLink(t *testing.T) {
	dir := t.TempDir()
	victim := filepath.Join(t.TempDir(), "shadow")
	if err := os.WriteFile(victim, []byte("root:*:20000::::::\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	prom := filepath.Join(dir, "unloop.prom")
	stop, done := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-done }()
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name() != "unloop.prom" && e.Type().IsRegular() {
					p := filepath.Join(dir, e.Name())
					os.Remove(p)
					os.Symlink(victim, p)
				}
			}
		}
	}()
	rep := &node.Report{Status: "ok"}
	for range 100 {
		writeTextfile(prom, rep, time.Now()) // may fail when the link won: it must not follow it
		fi, err := os.Stat(victim)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("the file a swapped link named is now %v", fi.Mode())
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "root:*:20000::::::\n" {
		t.Errorf("the file a swapped link named is now %q (%v)", b, err)
	}
}
