// Package pods recreates DNS-server pods through the container runtime (CRI)
// after a verified fix: their sandboxes are removed one at a time, and
// kubelet makes each a new one with the clean pod file. What to recreate,
// and whether, is the plan's (remediate); this package only carries it out.
package pods

import (
	"context"
	"fmt"
	"log/slog"
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

// Recreate removes the sandboxes one at a time, each followed by a wait of
// up to wait for kubelet's new one. A pod that is not back in time is
// stale: it still holds the old file.
func Recreate(ctx context.Context, rt Runtime, sandboxes []cri.Sandbox, wait time.Duration, log *slog.Logger) (recreated, stale []string) {
	for _, sb := range sandboxes {
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
			stale = append(stale, sb.Pod())
			continue
		}
		log.Info("recreated", "pod", sb.Pod(), "sandbox", sandbox.ShortID(next.ID), "after", time.Since(start).Round(100*time.Millisecond))
		recreated = append(recreated, sb.Pod())
	}
	return recreated, stale
}
