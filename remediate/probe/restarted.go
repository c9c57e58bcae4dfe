package probe

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Restarted is a unit just restarted, as WatchRestarted looks at it.
type Restarted struct {
	Unit string
	// Active says whether the unit is active (over the bus).
	Active func(context.Context) (bool, error)
	// Healthz asks its health endpoint at HealthzAddr (kubelet's /healthz);
	// nil when the unit has none.
	Healthz     func(context.Context, string) error
	HealthzAddr string
}

// WatchRestarted watches a unit just restarted: it must stay active all
// along. Without a health endpoint it is done once it stayed active for
// settle; with one, once the endpoint says ok (kubelet's own word that it
// read and accepted its config, in about a second where the fixed settle
// took 2 s), and it fails when that takes longer than wait: a kubelet that
// refuses its config exits and, restarted by systemd, never answers ok.
// took is how long the unit took to be healthy.
func WatchRestarted(ctx context.Context, u Restarted, settle, wait time.Duration) (took time.Duration, err error) {
	start := time.Now()
	last := errors.New("no answer yet")
	// The health endpoint is asked every 25 ms: until kubelet listens each
	// ask is a refused connection on loopback (no cost), and every poll
	// interval is paid by the pods waiting for apply (issue 27).
	every := 25 * time.Millisecond
	if u.Healthz == nil {
		every = 200 * time.Millisecond
	}
	for {
		active, err := u.Active(ctx)
		if err != nil {
			return 0, err
		}
		if !active {
			return 0, fmt.Errorf("%s stopped %v after its restart (see journalctl -u %s)", u.Unit, time.Since(start).Round(100*time.Millisecond), u.Unit)
		}
		switch {
		case u.Healthz == nil && time.Since(start) >= settle:
			return time.Since(start), nil
		case u.Healthz != nil:
			hctx, cancel := context.WithTimeout(ctx, time.Second)
			last = u.Healthz(hctx, u.HealthzAddr)
			cancel()
			if last == nil {
				return time.Since(start), nil
			}
			if time.Since(start) >= wait {
				what := "its read-back"
				if u.HealthzAddr != "" {
					what = "/healthz on " + u.HealthzAddr
				}
				return 0, fmt.Errorf("%s not healthy %v after its restart: %s: %v (see journalctl -u %s)", u.Unit, wait, what, last, u.Unit)
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("watching %s after its restart: %w", u.Unit, ctx.Err())
		case <-time.After(every):
		}
	}
}
