package cli

import (
	"bytes"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/unloop/unloop/cmd/unloop/settings"
	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// TestNodeConditionOf: True with the first loop's code as the reason and
// the whole message (not NPD's 80 characters), False without a loop (a
// warning is no loop), Unknown only where NPD's plugin says unknown.
func TestNodeConditionOf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rep    *node.Report
		status corev1.ConditionStatus
		reason string
		msg    string
	}{
		{"loop", loopReport, corev1.ConditionTrue, "NameserverResolvedStub", "DNS loop: nameserver-resolved-stub 127.0.0.53 in /etc/resolv.conf:1 (+1 more)"},
		{"clean", &node.Report{}, corev1.ConditionFalse, "NoDNSForwardingLoop", "no DNS forwarding loop"},
		{"warning", &node.Report{Findings: []node.Finding{{Code: finding.CodeNameserverInvalid, Severity: finding.SevWarning}}}, corev1.ConditionFalse, "NoDNSForwardingLoop", "no DNS loop; 1 warning: nameserver-invalid"},
		{"ignored loop", &node.Report{Findings: []node.Finding{{Code: finding.CodeResolvedStub, Severity: finding.SevError, Ignored: true}}}, corev1.ConditionFalse, "NoDNSForwardingLoop", "no DNS forwarding loop"},
		{"unreadable", &node.Report{Findings: []node.Finding{{Code: finding.CodeUnreadable, Severity: finding.SevError, File: "/etc/resolv.conf"}}}, corev1.ConditionUnknown, "CouldNotDecide", "unloop could not read /etc/resolv.conf"},
	} {
		c := condition(tc.rep)
		if c.Type != "UnloopDNSForwardingLoop" || c.Status != tc.status || c.Reason != tc.reason || c.Message != tc.msg {
			t.Errorf("%s: %+v, want %s %s %q", tc.name, c, tc.status, tc.reason, tc.msg)
		}
	}
}

var loopReport = &node.Report{Findings: []node.Finding{
	{Code: finding.CodeResolvedStub, Severity: finding.SevError, File: "/etc/resolv.conf", Line: 1, Address: "127.0.0.53"},
	{Code: finding.CodeCorefileForwardLoop, Severity: finding.SevError, File: "/etc/coredns/Corefile", Line: 3},
}}

// TestNodeEvents: an Event when a loop appears, is fixed (by this watch's
// apply, or gone while the Node showed it) or is left after an apply;
// none while the status stays, and none for an unknown.
func TestNodeEvents(t *testing.T) {
	clean, unknown := &node.Report{}, &node.Report{Findings: []node.Finding{{Code: finding.CodeUnreadable, Severity: finding.SevError}}}
	T, F, U := corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown
	for _, tc := range []struct {
		name   string
		r      round
		before corev1.ConditionStatus
		want   []string
	}{
		{"found, first write", round{rep: loopReport}, "", []string{"DNSForwardingLoopFound"}},
		{"found after unknown", round{rep: loopReport}, U, []string{"DNSForwardingLoopFound"}},
		{"still there", round{rep: loopReport}, T, nil},
		{"gone outside the watch", round{rep: clean}, T, []string{"DNSForwardingLoopFixed"}},
		{"clean stays", round{rep: clean}, F, nil},
		{"unknown", round{rep: unknown}, T, nil},
		{"fixed by apply", round{rep: clean, applied: true, planned: loopReport, run: "r1"}, T, []string{"DNSForwardingLoopFixed"}},
		{"found and fixed by one apply", round{rep: clean, applied: true, planned: loopReport, run: "r1"}, F, []string{"DNSForwardingLoopFound", "DNSForwardingLoopFixed"}},
		{"left by apply", round{rep: loopReport, applied: true, planned: loopReport}, T, []string{"DNSForwardingLoopLeft"}},
		{"apply failed", round{rep: loopReport, applied: true, planned: loopReport, failed: "restarting kubelet: timeout"}, T, []string{"DNSForwardingLoopLeft"}},
		{"apply, nothing to do", round{rep: clean, applied: true, planned: clean}, F, nil},
	} {
		var got []string
		for _, e := range events(tc.r, tc.before) {
			got = append(got, e.reason)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Events %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestNodeName: --node-name, else NODE_NAME (the DaemonSet's spec.nodeName).
func TestNodeName(t *testing.T) {
	t.Setenv("NODE_NAME", "from-env")
	if got := nodeName("from-flag"); got != "from-flag" {
		t.Errorf("with the flag: %q", got)
	}
	if got := nodeName(""); got != "from-env" {
		t.Errorf("with NODE_NAME: %q", got)
	}
}

// TestNodeReporterNoCredentials: without credentials (none named, no admin
// kubeconfig under the root, not in a pod) or --offline, watch reports to
// no Node, makes no API call, and says so once.
func TestNodeReporterNoCredentials(t *testing.T) {
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	root, err := hostcfg.NewRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, offline := range []bool{false, true} {
		var logs bytes.Buffer
		ss := &session{Config: &settings.Config{}, log: slog.New(slog.NewTextHandler(&logs, nil))}
		ss.Config.Opts.Offline = offline
		nr, err := newNodeReporter(ss, "node-a", root)
		if nr != nil || err != nil || strings.Count(logs.String(), "not reporting to the Node") != 1 {
			t.Errorf("offline %v: reporter %v, err %v, want none and one line saying so:\n%s", offline, nr, err, logs.String())
		}
	}
}
