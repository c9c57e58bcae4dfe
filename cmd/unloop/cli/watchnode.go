package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/unloop/unloop/cmd/unloop/render"
	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// ConditionType is the Node condition watch writes. Not NPD's
// DNSForwardingLoop (configs/node-problem-detector): NPD's custom plugin
// monitor writes that one on its own schedule, and two writers of one type
// that see the node at different moments make it flap between them. A type
// of unloop's own never meets another writer; NPD's is left as it is.
const ConditionType = "UnloopDNSForwardingLoop"

// The condition's reasons that are not a finding code, and the Events'.
const (
	reasonNoLoop    = "NoDNSForwardingLoop"
	reasonUnknown   = "CouldNotDecide"
	reasonLoopFound = "DNSForwardingLoopFound"
	reasonLoopFixed = "DNSForwardingLoopFixed"
	reasonLoopLeft  = "DNSForwardingLoopLeft"
	// eventComponent is the Events' source, as NPD's is its monitor's name.
	eventComponent = "unloop-watch"
)

// nodeAPI is what watch asks of the API server about its Node;
// *kubeapi.Client has it.
type nodeAPI interface {
	SetNodeCondition(ctx context.Context, name string, cond kubeapi.Condition, now time.Time) (corev1.ConditionStatus, types.UID, error)
	NodeEvent(ctx context.Context, name string, uid types.UID, component string, last *kubeapi.Event, typ, reason, message string, now time.Time) (*kubeapi.Event, error)
}

// nodeReporter writes the Node condition and Events of a watch.
type nodeReporter struct {
	api  nodeAPI
	name string
	log  *slog.Logger
	last *kubeapi.Event // the last Event written, to count its repeats
}

// nodeName is --node-name, else $NODE_NAME (the DaemonSet's downward API
// spec.nodeName), else the host name: kubelet's own default for its Node.
func nodeName(flag string) string {
	if flag != "" {
		return flag
	}
	if n := os.Getenv("NODE_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return strings.ToLower(h)
}

// newNodeReporter connects with the credentials check uses; without any
// (or --offline) watch reports to no Node and says so once: nil, no error.
func newNodeReporter(ss *session, flag string, root *hostcfg.Root) (*nodeReporter, error) {
	name := nodeName(flag)
	if ss.Config.Opts.Offline {
		ss.log.Info("--offline: not reporting to the Node (no condition, no Events)", "node", name)
		return nil, nil
	}
	api, err := kubeapi.Connect(kubeapi.Where{Kubeconfig: ss.Config.Kubeconfig, Env: os.Getenv("KUBECONFIG"), ReadNode: root.ReadFileIfExists, InCluster: kubeapi.InCluster()})
	if errors.Is(err, kubeapi.ErrNoCredentials) {
		ss.log.Info("no Kubernetes credentials: not reporting to the Node (no condition, no Events); the metrics and output stay", "node", name)
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("no Node name: give --node-name or NODE_NAME")
	}
	ss.log.Info("reporting to the Node: condition "+ConditionType+" and Events", "node", name, "credentials", api.From)
	return &nodeReporter{api: api, name: name, log: ss.log}, nil
}

// round is what one check or apply of the watch saw.
type round struct {
	rep *node.Report // what the node holds now
	// applied: an apply ran; planned is what its plan found, run the run
	// it wrote ("" none), failed why it failed.
	applied     bool
	planned     *node.Report
	run, failed string
}

// nodeEvent is one Event to write.
type nodeEvent struct{ typ, reason, message string }

// condition is the Node condition for a report, as NPD's plugin protocol
// (npdResult) reads it: True with the first loop's code as the reason, False
// with none, Unknown only where NPD's plugin says unknown (an input unloop
// could not read, a root that is no node).
func condition(rep *node.Report) kubeapi.Condition {
	msg, more, code := verdict(rep)
	c := kubeapi.Condition{Type: ConditionType, Message: render.OneLine(msg + more)}
	switch code {
	case npdProblem:
		c.Status, c.Reason = corev1.ConditionTrue, camel(firstLoop(rep))
	case npdUnknown:
		c.Status, c.Reason = corev1.ConditionUnknown, reasonUnknown
	default:
		c.Status, c.Reason = corev1.ConditionFalse, reasonNoLoop
	}
	return c
}

// firstLoop is the code of the report's first loop.
func firstLoop(rep *node.Report) string {
	for _, f := range rep.Findings {
		if !f.Ignored && f.Severity == finding.SevError {
			return string(f.Code)
		}
	}
	return "loop"
}

// camel is a finding code as a condition reason (CamelCase, as the API's
// conventions want them): pod-file-loop is PodFileLoop.
func camel(code string) string {
	var b strings.Builder
	for _, w := range strings.Split(code, "-") {
		if w != "" {
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// events are the Events for a round, given the condition's status before
// it: a loop found (the status turns True, or an apply's plan found one
// the Node did not show), fixed (by this watch's apply, or gone while the
// Node showed it), or left (still there after an apply).
func events(r round, before corev1.ConditionStatus) []nodeEvent {
	now := condition(r.rep)
	loop := now.Status == corev1.ConditionTrue
	var evs []nodeEvent
	if r.applied && r.planned != nil {
		if pc := condition(r.planned); pc.Status == corev1.ConditionTrue {
			if before != corev1.ConditionTrue {
				evs = append(evs, nodeEvent{corev1.EventTypeWarning, reasonLoopFound, pc.Message})
			}
			switch {
			case !loop && now.Status == corev1.ConditionFalse:
				evs = append(evs, nodeEvent{corev1.EventTypeNormal, reasonLoopFixed, fmt.Sprintf("fixed by unloop watch --apply (run %s): %s", r.run, pc.Message)})
			case loop && r.failed != "":
				evs = append(evs, nodeEvent{corev1.EventTypeWarning, reasonLoopLeft, "apply failed, the loop is left: " + r.failed})
			case loop:
				evs = append(evs, nodeEvent{corev1.EventTypeWarning, reasonLoopLeft, "left after unloop watch --apply (not fixed by the chosen strategies): " + now.Message})
			}
			return evs
		}
	}
	switch {
	case loop && before != corev1.ConditionTrue:
		evs = append(evs, nodeEvent{corev1.EventTypeWarning, reasonLoopFound, now.Message})
	case !loop && before == corev1.ConditionTrue && now.Status == corev1.ConditionFalse:
		evs = append(evs, nodeEvent{corev1.EventTypeNormal, reasonLoopFixed, "no longer found (fixed outside this watch)"})
	}
	return evs
}

// report writes the condition for r and its Events. A failure is logged,
// and the next check writes again: the API server may be down (a node
// whose DNS loops may well not reach it), the node is checked all the same.
func (nr *nodeReporter) report(ctx context.Context, r round) {
	if nr == nil || r.rep == nil {
		return
	}
	now := time.Now()
	cond := condition(r.rep)
	before, uid, err := nr.api.SetNodeCondition(ctx, nr.name, cond, now)
	if err != nil {
		nr.log.Error("reporting to the Node", "err", err)
		return
	}
	for _, e := range events(r, before) {
		last, err := nr.api.NodeEvent(ctx, nr.name, uid, eventComponent, nr.last, e.typ, e.reason, e.message, now)
		if err != nil {
			nr.log.Error("recording an Event on the Node", "err", err)
			return
		}
		nr.last = last
	}
}

// roundOf is the round of a check (res nil) or an apply; env and c to
// check again when an apply wrote and was not verified (offline, a
// ConfigMap): its plan's report would still show the loop it fixed.
func roundOf(ctx context.Context, env node.Env, c node.Options, rep *node.Report, applied bool, res *remediate.Result, failed string) round {
	r := round{rep: rep, applied: applied, failed: failed}
	if res == nil {
		return r
	}
	r.run = res.Run
	if res.Plan != nil {
		r.planned = res.Plan.Report
	}
	if res.Run != "" && res.After == nil {
		if after, _, err := remediate.Check(ctx, env, c); err == nil {
			r.rep = after
		}
	}
	return r
}
