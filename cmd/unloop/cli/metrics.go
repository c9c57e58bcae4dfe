package cli

import (
	"fmt"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/finding"
)

// metricHelp is every metric unloop writes, with its HELP text: the one
// place a metric is named and explained (the README's list and the alert
// rules in configs/prometheus use these names). Names follow Prometheus's
// conventions: unloop_ prefix, base units, _total for counters,
// _timestamp_seconds for a time, _info for labels with value 1.
var metricHelp = map[string]string{
	"unloop_check_status":                 "Result of unloop's last check: 1 for its status (ok, warning or error), 0 for the others.",
	"unloop_findings":                     "Findings of unloop's last check, by finding code and severity; ignored findings are not counted. Codes: " + codeList() + ".",
	"unloop_check_online":                 "1 when the last check read the live state (systemd-resolved over D-Bus, interfaces), 0 when it read files only.",
	"unloop_last_check_timestamp_seconds": "When unloop's last check ran (Unix time): alert when it is old, the check has stopped running.",
	"unloop_build_info":                   "unloop's version.",

	"unloop_check_duration_seconds":              "How long unloop's last check (with --apply, the apply) took.",
	"unloop_last_apply_info":                     "The newest run in unloop's journal (applies by watch, the boot unit, the path unit or Ansible): its run ID and state (started, applied, rolled-back or conflict); value 1.",
	"unloop_last_apply_success":                  "1 when the newest run in unloop's journal is applied, 0 when it was rolled back, is in conflict or never finished (`unloop runs`).",
	"unloop_last_apply_timestamp_seconds":        "When the newest run in unloop's journal started (Unix time).",
	"unloop_runs_rolled_back":                    "Runs in unloop's journal that were rolled back or are in conflict (the journal keeps the newest --keep-runs runs).",
	"unloop_pod_stale":                           "A running DNS-server pod whose copy of the pod file names a looping address (finding " + string(finding.CodePodResolvStale) + "), by pod; value 1.",
	"unloop_watch_up":                            "1 while unloop watch has its inotify watches in place.",
	"unloop_watch_folders":                       "Folders unloop watch watches with inotify.",
	"unloop_watch_backoff_seconds":               "The gap unloop watch keeps between checks because a watched file is rewritten in a loop; 0 when none is.",
	"unloop_watch_changes_total":                 "Changes unloop watch saw, by node path.",
	"unloop_watch_last_change_timestamp_seconds": "When unloop watch last saw a watched path change (Unix time).",
	"unloop_watch_checks_total":                  "Checks unloop watch ran, by what started them: start, change or interval.",
	"unloop_watch_changes_ignored_total":         "Changes after which every path unloop watch watches held what its last run left (its own writes and rollbacks, a file rewritten with the same bytes): no check ran.",
	"unloop_watch_apply_held":                    "1 while unloop watch --apply does not apply again because its last apply failed on the inputs the node still holds (the log says why); it applies once one of them changes.",
	"unloop_watch_applies_held_total":            "Checks unloop watch --apply ran without applying, its last apply having failed on the same inputs.",
}

// metricLabels are the label names of the metrics in metricHelp that have
// labels, in the order their values are given.
var metricLabels = map[string][]string{
	"unloop_check_status":        {"status"},
	"unloop_findings":            {"code", "severity"},
	"unloop_build_info":          {"version"},
	"unloop_last_apply_info":     {"run", "state"},
	"unloop_pod_stale":           {"pod"},
	"unloop_watch_changes_total": {"path"},
	"unloop_watch_checks_total":  {"trigger"},
}

// metricDescs are client_golang's descriptions of metricHelp's metrics,
// made on first use: most runs write no metrics.
var metricDescs = sync.OnceValue(func() map[string]*prometheus.Desc {
	descs := make(map[string]*prometheus.Desc, len(metricHelp))
	for name, help := range metricHelp {
		descs[name] = prometheus.NewDesc(name, help, metricLabels[name], nil)
	}
	return descs
})

// codeList is every finding code with its severity, from the code registry.
func codeList() string {
	var b strings.Builder
	for i, c := range remediate.Codes {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s (%s)", c.Code, c.Severity)
	}
	return b.String()
}
