// Package pods recreates DNS-server pods through the container runtime (CRI)
// after a verified fix: their sandboxes are removed (replicas of one owner
// one at a time), and kubelet makes each a new one with the clean pod file. What to recreate,
// and whether, is the plan's (remediate); this package only carries it out.
package pods

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/sandbox"
)

// Runtime is what recreating needs of the container runtime.
type Runtime interface {
	// Remove stops and removes a sandbox; kubelet makes the pod a new one.
	Remove(ctx context.Context, id string) error
	// WaitReady returns the pod's ready sandbox other than old, waiting for
	// it until ctx ends.
	WaitReady(ctx context.Context, old cri.Sandbox) (cri.Sandbox, error)
}

// Units says whether a systemd unit is active (the system bus).
type Units interface {
	UnitActive(ctx context.Context, unit string) (bool, error)
}

// Kubelet is how to tell whether kubelet runs: its unit on the bus (nil:
// no bus), else its health endpoint (Healthz, host:port) asked with Ask.
type Kubelet struct {
	Unit    string
	Healthz string
	Ask     func(ctx context.Context, addr string) error
}

// KubeletRuns says why pods must not be recreated now, "" when kubelet
// runs: without kubelet (the boot unit runs before it) a removed sandbox is
// not made again until kubelet starts, with the file as it is then anyway.
func KubeletRuns(ctx context.Context, bus Units, k Kubelet) string {
	if bus != nil {
		active, err := bus.UnitActive(ctx, k.Unit)
		switch {
		case err != nil:
			return fmt.Sprintf("can't tell whether %s runs: %v", k.Unit, err)
		case !active:
			return k.Unit + " is not running"
		}
		return ""
	}
	if k.Healthz == "" || k.Ask == nil {
		return "can't tell whether kubelet runs: no system bus and no /healthz"
	}
	hctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := k.Ask(hctx, k.Healthz); err != nil {
		return fmt.Sprintf("kubelet is not running (its /healthz on %s: %v)", k.Healthz, err)
	}
	return ""
}

// Recreate removes the sandboxes, each followed by a wait of up to wait for
// kubelet's new one. Pods of different owners are recreated at the same
// time: a pod's new sandbox costs kubelet about a second (its relist, the
// sandbox, the containers), and one after the other that second was paid
// once per DNS server pod. Replicas of one owner (a Deployment's pods on
// this node) go one at a time, so the others keep serving while one is
// made again. A pod that is not back in time is stale: it still holds the
// old file. Both lists keep the order of sandboxes.
func Recreate(ctx context.Context, rt Runtime, sandboxes []cri.Sandbox, wait time.Duration, log *slog.Logger) (recreated, stale []string) {
	back := make([]bool, len(sandboxes))
	var groups [][]int
	at := map[string]int{}
	for i, sb := range sandboxes {
		k := owner(sb)
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	var wg sync.WaitGroup
	for _, g := range groups {
		wg.Go(func() {
			for _, i := range g {
				back[i] = recreateOne(ctx, rt, sandboxes[i], wait, log)
			}
		})
	}
	wg.Wait()
	for i, sb := range sandboxes {
		if back[i] {
			recreated = append(recreated, sb.Pod())
		} else {
			stale = append(stale, sb.Pod())
		}
	}
	return recreated, stale
}

// plegSeen is how old a sandbox must be before apply removes it: kubelet's
// generic PLEG lists the runtime's sandboxes every second (kubelet v1.34,
// genericPlegRelistPeriod) and acts only on what changed between two
// lists. A sandbox made and removed between them is never an event:
// kubelet, which still thinks it exists, made no new one until its
// 1-minute resync (seen on the test bed's bookworm node: 75 s). A half
// second more covers the relist's own run.
var plegSeen = 1500 * time.Millisecond

// pause waits d or until ctx ends; a variable for the tests.
var pause = func(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// recreateOne removes sb and waits for the pod's new sandbox.
func recreateOne(ctx context.Context, rt Runtime, sb cri.Sandbox, wait time.Duration, log *slog.Logger) bool {
	if young := plegSeen - time.Since(sb.CreatedAt); !sb.CreatedAt.IsZero() && young > 0 {
		pause(ctx, young)
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, wait)
	err := rt.Remove(rctx, sb.ID)
	cancel()
	var next cri.Sandbox
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, wait)
		next, err = rt.WaitReady(wctx, sb)
		cancel()
	}
	if err != nil {
		log.Warn("pod not recreated: it still holds the old file", "pod", sb.Pod(), "err", err)
		return false
	}
	log.Info("recreated", "pod", sb.Pod(), "sandbox", sandbox.ShortID(next.ID), "after", time.Since(start).Round(100*time.Millisecond))
	return true
}

// owner names the controller a pod's replicas share, from what kubelet
// labels its sandbox with: a Deployment's pods (label pod-template-hash)
// are named REPLICASET-SUFFIX, a StatefulSet's or DaemonSet's (label
// controller-revision-hash) NAME-ORDINAL or NAME-SUFFIX (Kubernetes v1.34
// pkg/controller: the generated names). Any other pod (a static pod, one
// made by hand) is its own.
func owner(sb cri.Sandbox) string {
	_, rs := sb.Labels["pod-template-hash"]
	_, rev := sb.Labels["controller-revision-hash"]
	if i := strings.LastIndexByte(sb.Name, '-'); (rs || rev) && i > 0 {
		return sb.Namespace + "/" + sb.Name[:i]
	}
	return sb.Namespace + "/" + sb.Name + "/" + sb.UID
}
