package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"github.com/unloop/unloop/cmd/unloop/settings"
	"github.com/unloop/unloop/remediate/journal"
)

func TestWatchHealthz(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		up      bool
		checked time.Time
		want    int
		body    string
	}{
		{"checked within its interval", true, now.Add(-4 * time.Minute), 200, "ok"},
		{"no check finished yet", true, time.Time{}, 503, "no check has finished yet"},
		{"last check too old", true, now.Add(-10 * time.Minute), 503, "the last check finished 10m0s ago"},
		{"watches gone", false, now.Add(-time.Minute), 503, "not watching"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wt := &watcher{wf: watchFlags{interval: 5 * time.Minute}, up: tc.up, checked: tc.checked}
			err := wt.healthy(now)
			got, msg := 200, "ok"
			if err != nil {
				got, msg = 503, err.Error()
			}
			if got != tc.want || !strings.Contains(msg, tc.body) {
				t.Errorf("healthz %d %q, want %d %q", got, msg, tc.want, tc.body)
			}
		})
	}
}

// /metrics parses as Prometheus text (Prometheus's own parser reads the
// binary's in tests/metrics), every family has its HELP from metricHelp, and
// the journal's newest run is the last apply.
func TestWatchMetrics(t *testing.T) {
	created := time.Date(2026, 11, 30, 11, 0, 0, 0, time.UTC)
	wt := &watcher{
		wf: watchFlags{interval: 5 * time.Minute}, up: true, folders: 3,
		rep: &node.Report{Status: "error", Findings: []node.Finding{
			{Code: finding.CodePodResolvStale, Severity: finding.SevError, Pod: "kube-system/coredns-1"},
		}},
		checked: time.Now(), took: 40 * time.Millisecond,
		changes: map[string]float64{"/etc/resolv.conf": 3}, checks: map[string]float64{"start": 1, "change": 2},
		runs: []*journal.Journal{
			{ID: "20261130T110000Z-1a2b", Created: created, State: journal.RunRolledBack},
			{ID: "20261130T100000Z-3c4d", Created: created.Add(-time.Hour), State: journal.RunApplied},
		},
	}
	rec := httptest.NewRecorder()
	wt.handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	mt := parseSamples(t, rec.Body.String())
	for _, s := range mt.samples {
		if help, ok := mt.help[s.name]; !ok || help != metricHelp[s.name] {
			t.Errorf("%s: HELP %q is not the registry's", s.name, help)
		}
	}
	for _, want := range []string{
		`unloop_last_apply_info{run="20261130T110000Z-1a2b",state="rolled-back"} 1`,
		"unloop_last_apply_success 0",
		"unloop_last_apply_timestamp_seconds 1.7960364e+09",
		"unloop_runs_rolled_back 1",
		`unloop_pod_stale{pod="kube-system/coredns-1"} 1`,
		"unloop_check_duration_seconds 0.04",
		`unloop_watch_changes_total{path="/etc/resolv.conf"} 3`,
		`unloop_watch_checks_total{trigger="change"} 2`,
		"unloop_watch_up 1",
	} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("no %q in\n%s", want, rec.Body)
		}
	}
}

// On SIGTERM ctx ends, and with it the inotify reads (werr), while a check
// may be due too (the timer): all ready at once, and a select picks at
// random. Every time, watch says it stops and starts no check.
func TestWatchStopsOnceStopped(t *testing.T) {
	root := nodeTree(t, loopNode)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 50 {
		var logs bytes.Buffer
		ss := &session{Config: &settings.Config{Root: root, Opts: node.Options{Offline: true}},
			log: slog.New(slog.NewTextHandler(&logs, nil)), out: io.Discard, err: io.Discard}
		wt := &watcher{ss: ss, wf: watchFlags{debounce: time.Millisecond, interval: time.Minute},
			changes: map[string]float64{}, checks: map[string]float64{}}
		werr := make(chan error, 1)
		werr <- nil // Run's answer once ctx closed the inotify file
		err := wt.loop(ctx, nil, &pending{paths: map[string]bool{}, signal: make(chan struct{}, 1)}, werr)
		if err != nil || !strings.Contains(logs.String(), "msg=stopping") || len(wt.checks) != 0 {
			t.Fatalf("loop after SIGTERM: err %v, checks %v, log:\n%s", err, wt.checks, logs.String())
		}
	}
}
