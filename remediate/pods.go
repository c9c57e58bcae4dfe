package remediate

import (
	"strings"

	"github.com/unloop/unloop/remediate/node"
	"github.com/unloop/unloop/remediate/probe"
	"github.com/unloop/unloop/remediate/trace"

	"context"
	"slices"
	"time"

	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/remediate/pods"
)

// podWait is how long apply waits for each recreated pod's new sandbox; a
// variable for the tests.
var podWait = 60 * time.Second

// recreateChange is the plan's change for the DNS-server pods whose copy of
// the pod file loops: apply removes their sandboxes through the runtime
// when it can, and otherwise leaves them to the user (the kubectl line).
func recreateChange(ctx context.Context, env node.Env, opts node.Options, n *node.Node, names []string) Change {
	c := Change{Kind: KindPods, Action: "recreate", Pods: names, Node: n.Kubelet.NodeName,
		Reason: "these DNS-server pods hold a copy of the pod file with a looping address: their sandboxes are removed through the container runtime (replicas of one owner one at a time), and kubelet makes new ones with the clean file"}
	for _, pc := range n.PodCopies {
		if pc.Live != nil && slices.Contains(names, pc.Live.Pod()) && !slices.ContainsFunc(c.Sandboxes, func(s cri.Sandbox) bool { return s.ID == pc.Live.ID }) {
			c.Sandboxes = append(c.Sandboxes, *pc.Live)
		}
	}
	switch {
	case opts.Offline:
		c.skip(SkipOffline, "offline")
	case opts.NoRecreatePods:
		c.skip(SkipNoRecreatePods, "--no-recreate-pods")
	case opts.NoVerify:
		c.skip(SkipNoVerify, "--no-verify: pods are recreated only after a verified fix")
	case n.Runtime == nil:
		c.skip(SkipNoRuntime, n.RuntimeNote)
	case len(c.Sandboxes) < len(names):
		c.skip(SkipRuntimeIncomplete, "the container runtime does not list them all")
	default:
		if why := kubeletRuns(ctx, env, n); why != "" {
			// pods.KubeletRuns says "can't tell whether …" when neither
			// the bus nor /healthz answered, else that kubelet is not running.
			reason := SkipKubeletNotRunning
			if strings.HasPrefix(why, "can't tell") {
				reason = SkipStateUnknown
			}
			c.skip(reason, why)
		}
	}
	if c.Skipped != "" {
		c.Sandboxes = nil
		c.Reason = "these DNS-server pods hold a copy of the pod file with a looping address: delete them so they start with the clean file"
	}
	return c
}

// kubeletRuns asks pods.KubeletRuns about this node's kubelet.
func kubeletRuns(ctx context.Context, env node.Env, n *node.Node) string {
	ask := env.Healthz
	if ask == nil {
		ask = probe.HTTPHealthz
	}
	return pods.KubeletRuns(ctx, env.Bus, pods.Kubelet{Unit: n.Kubelet.Unit, Healthz: n.Kubelet.Healthz, Ask: ask})
}

// recreatePods carries out the plan's pods change (remediate/pods): a pod
// that is not back in time is listed in res.StillStale; the file fix stays,
// it is verified and right.
func recreatePods(ctx context.Context, env node.Env, res *Result) {
	pl := res.Plan
	if pl.node != nil && pl.node.RuntimeFailed {
		// The pods were to be recreated and the runtime failed: they still
		// hold the looping copy, which the run must not call done (exit 3,
		// the pods listed with their kubectl line), nor a loop found.
		for _, c := range pl.Changes {
			if c.Kind == KindPods && c.Skipped == pl.node.RuntimeNote {
				res.StillStale = append(res.StillStale, c.Pods...)
			}
		}
		return
	}
	// Seen stale pods that the plan could not recreate (offline,
	// --no-recreate-pods, no runtime, kubelet not running) still hold the
	// looping copy: never "no loop" nor done (exit 3, pods-stale), as check
	// on the same node says pod-resolv-conf-stale.
	for _, c := range pl.Changes {
		if c.Kind == KindPods && c.Skipped != "" && c.Strategy == "" {
			res.StillStale = append(res.StillStale, c.Pods...)
			res.StaleSkipped = c.Skipped
		}
	}
	tr := trace.New(env.Logger())
	if len(res.StillStale) > 0 {
		tr.Fact("recreate", "pods", trace.List(res.StillStale), "skipped", res.StaleSkipped)
	}
	i := slices.IndexFunc(pl.Changes, func(c Change) bool { return c.Kind == KindPods && c.Skipped == "" && len(c.Sandboxes) > 0 })
	if i < 0 || pl.node == nil || pl.node.Runtime == nil {
		return
	}
	tr.Fact("recreate", "pods", trace.List(pl.Changes[i].Pods), "how", "remove each sandbox through the runtime, wait for kubelet's new one", "wait", podWait)
	res.Recreated, res.StillStale = pods.Recreate(ctx, pl.node.Runtime, pl.Changes[i].Sandboxes, podWait, env.Logger())
}
