package configs

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtool is Debian's, extracted from its prometheus package into the cache
// by tests/setup.sh (never installed: the package starts a server).
func promtool(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(cacheBin(t, "promtool"), args...)
	cmd.Dir = filepath.Join(repo, "configs", "prometheus")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRules: the rules are valid, and their unit tests pass: a looping
// node fires and resolves once fixed, a stale check fires, a rolled-back
// apply, stale pods and a rewrite loop fire. Every rule names the unloop
// command to run.
func TestAlertRules(t *testing.T) {
	promtool(t, "check", "rules", "unloop-rules.yaml")
	promtool(t, "test", "rules", "unloop-rules.test.yaml")

	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string
				Annotations map[string]string
			}
		}
	}
	if err := yaml.Unmarshal(configFile(t, "prometheus/unloop-rules.yaml"), &rules); err != nil {
		t.Fatal(err)
	}
	test := string(configFile(t, "prometheus/unloop-rules.test.yaml"))
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !strings.Contains(r.Annotations["runbook"], "`unloop ") {
				t.Errorf("%s: runbook %q names no unloop command", r.Alert, r.Annotations["runbook"])
			}
			if r.Alert != "UnloopInputUnreadable" && !strings.Contains(test, "alertname: "+r.Alert+"\n") {
				t.Errorf("%s has no promtool test", r.Alert)
			}
		}
	}
}

// TestPrometheusRuleHoldsTheRules: the PrometheusRule for prometheus-operator
// holds exactly unloop-rules.yaml's groups, and its PodMonitor scrapes the
// DaemonSets' metrics port.
func TestPrometheusRuleHoldsTheRules(t *testing.T) {
	var plain struct{ Groups any }
	if err := yaml.Unmarshal(configFile(t, "prometheus/unloop-rules.yaml"), &plain); err != nil {
		t.Fatal(err)
	}
	var docs []string // the rendering's header is a document of comments
	for _, d := range strings.Split(string(configFile(t, "prometheus/unloop-prometheusrule.yaml")), "\n---\n") {
		if strings.TrimSpace(stripComments(d)) != "" {
			docs = append(docs, d)
		}
	}
	if len(docs) != 2 {
		t.Fatalf("%d documents, want a PrometheusRule and a PodMonitor", len(docs))
	}
	var pr struct {
		Kind string
		Spec struct{ Groups any }
	}
	if err := yaml.Unmarshal([]byte(docs[0]), &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Kind != "PrometheusRule" || !reflect.DeepEqual(pr.Spec.Groups, plain.Groups) {
		t.Errorf("kind %s: the PrometheusRule's groups differ from unloop-rules.yaml's", pr.Kind)
	}
	var pm struct {
		Kind string
		Spec struct {
			Selector            struct{ MatchLabels map[string]string }
			PodMetricsEndpoints []struct{ Port, Path string }
		}
	}
	if err := yaml.Unmarshal([]byte(docs[1]), &pm); err != nil {
		t.Fatal(err)
	}
	ds, err := decodeDaemonSet(configFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	port := ds.Spec.Template.Spec.Containers[0].Ports
	if pm.Kind != "PodMonitor" || len(pm.Spec.PodMetricsEndpoints) != 1 || len(port) != 1 || pm.Spec.PodMetricsEndpoints[0].Port != port[0].Name ||
		pm.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != ds.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Errorf("PodMonitor %+v does not scrape the DaemonSet's port %v", pm, port)
	}
}

// TestDashboardQueries: every query of the Grafana dashboard is valid
// PromQL: Grafana's variables substituted, each is wrapped in a recording
// rule for `promtool check rules` (bookworm's promtool has no promql command).
func TestDashboardQueries(t *testing.T) {
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(configFile(t, "prometheus/unloop-dashboard.json"), &dash); err != nil {
		t.Fatal(err)
	}
	vars := strings.NewReplacer("$instance", ".*", "$__rate_interval", "5m", "${datasource}", "prometheus")
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for i, p := range dash.Panels {
		for j, tg := range p.Targets {
			q, _ := json.Marshal(vars.Replace(tg.Expr))
			fmt.Fprintf(&b, "      - record: dashboard:panel%d:target%d\n        expr: %s\n", i+1, j+1, q)
			n++
		}
	}
	if n < 9 {
		t.Fatalf("%d queries in the dashboard", n)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	must(t, os.WriteFile(f, []byte(b.String()), 0o644))
	if out := promtool(t, "check", "rules", f); !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", n)) {
		t.Errorf("promtool: %s", out)
	}
}
