package remediate

import (
	"github.com/unloop/unloop/remediate/node"

	"context"
	"fmt"
	"slices"
	"time"

	"github.com/unloop/unloop/hostcfg/cri"
)

// podWait is how long apply waits for each recreated pod's new sandbox; a
// variable for the tests.
var podWait = 60 * time.Second

// recreateChange is the plan's change for the DNS-server pods whose copy of
// the pod file loops: apply removes their sandboxes through the runtime
// when it can, and otherwise leaves them to the user (the kubectl line).
func recreateChange(ctx context.Context, env Env, opts Options, n *node.Node, pods []string) Change {
	c := Change{Kind: KindPods, Action: "recreate", Pods: pods, Node: n.Kubelet.NodeName,
		Reason: "these DNS-server pods hold a copy of the pod file with a looping address: their sandboxes are removed through the container runtime, one at a time, and kubelet makes new ones with the clean file"}
	for _, pc := range n.PodCopies {
		if pc.Live != nil && slices.Contains(pods, pc.Live.Pod()) && !slices.ContainsFunc(c.Sandboxes, func(s cri.Sandbox) bool { return s.ID == pc.Live.ID }) {
			c.Sandboxes = append(c.Sandboxes, *pc.Live)
		}
	}
	switch {
	case opts.Offline:
		c.Skipped = "offline"
	case opts.NoRecreatePods:
		c.Skipped = "--no-recreate-pods"
	case opts.NoVerify:
		c.Skipped = "--no-verify: pods are recreated only after a verified fix"
	case n.Runtime == nil:
		c.Skipped = n.RuntimeNote
	case len(c.Sandboxes) < len(pods):
		c.Skipped = "the container runtime does not list them all"
	default:
		c.Skipped = kubeletRuns(ctx, env, n)
	}
	if c.Skipped != "" {
		c.Sandboxes = nil
		c.Reason = "these DNS-server pods hold a copy of the pod file with a looping address: delete them so they start with the clean file"
	}
	return c
}

// kubeletRuns says why pods must not be recreated now, "" when kubelet
// runs: without kubelet (the boot unit runs before it) a removed sandbox is
// not made again until kubelet starts, with the file as it is then anyway.
func kubeletRuns(ctx context.Context, env Env, n *node.Node) string {
	unit := n.Kubelet.Unit
	if env.Bus != nil {
		active, err := env.Bus.UnitActive(ctx, unit)
		switch {
		case err != nil:
			return fmt.Sprintf("can't tell whether %s runs: %v", unit, err)
		case !active:
			return unit + " is not running"
		}
		return ""
	}
	if n.Kubelet.Healthz == "" {
		return "can't tell whether kubelet runs: no system bus and no /healthz"
	}
	ask := env.Healthz
	if ask == nil {
		ask = HTTPHealthz
	}
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := ask(hctx, n.Kubelet.Healthz); err != nil {
		return fmt.Sprintf("kubelet is not running (its /healthz on %s: %v)", n.Kubelet.Healthz, err)
	}
	return ""
}

// recreatePods removes the sandboxes of the plan's pods to recreate, one at
// a time, each followed by a wait of up to podWait for kubelet's new one. A
// pod that is not back in time is listed in res.StillStale: the file fix
// stays, it is verified and right.
func recreatePods(ctx context.Context, env Env, res *Result) {
	pl := res.Plan
	i := slices.IndexFunc(pl.Changes, func(c Change) bool { return c.Kind == KindPods && c.Skipped == "" && len(c.Sandboxes) > 0 })
	if i < 0 || pl.node == nil || pl.node.Runtime == nil {
		return
	}
	rt := pl.node.Runtime
	for _, sb := range pl.Changes[i].Sandboxes {
		start := time.Now()
		rctx, cancel := context.WithTimeout(ctx, podWait)
		err := rt.Remove(rctx, sb.ID)
		cancel()
		var next cri.Sandbox
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, podWait)
			next, err = rt.WaitReady(wctx, sb)
			cancel()
		}
		if err != nil {
			env.Logger().Warn("pod not recreated: it still holds the old file", "pod", sb.Pod(), "err", err)
			res.StillStale = append(res.StillStale, sb.Pod())
			continue
		}
		env.Logger().Info("recreated", "pod", sb.Pod(), "sandbox", node.ShortID(next.ID), "after", time.Since(start).Round(100*time.Millisecond))
		res.Recreated = append(res.Recreated, sb.Pod())
	}
}
