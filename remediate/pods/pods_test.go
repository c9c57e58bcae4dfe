package pods

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/unloop/unloop/hostcfg/cri"
)

type units struct {
	active bool
	err    error
}

func (u units) UnitActive(context.Context, string) (bool, error) { return u.active, u.err }

// bus is what remediate hands over: its own bus interface, nil when the
// node has no system bus.
type bus interface {
	Units
	Reload(context.Context) error
}

// KubeletRuns: the unit on the bus when there is one, else kubelet's
// /healthz, else it can't tell (and nothing is recreated). The real kubelet
// is tests/e2e's; apply's use of it is remediate's TestRecreatePods.
func TestKubeletRuns(t *testing.T) {
	ok := func(context.Context, string) error { return nil }
	down := func(context.Context, string) error { return errors.New("connection refused") }
	var noBus bus
	tests := []struct {
		name string
		bus  Units
		k    Kubelet
		want string
	}{
		{"active", units{active: true}, Kubelet{Unit: "kubelet.service"}, ""},
		{"inactive", units{}, Kubelet{Unit: "kubelet.service"}, "kubelet.service is not running"},
		{"bus error", units{err: errors.New("no reply")}, Kubelet{Unit: "kubelet.service"}, "can't tell whether kubelet.service runs: no reply"},
		{"no bus, healthy", noBus, Kubelet{Unit: "kubelet.service", Healthz: "127.0.0.1:10248", Ask: ok}, ""},
		{"no bus, down", noBus, Kubelet{Unit: "kubelet.service", Healthz: "127.0.0.1:10248", Ask: down},
			"kubelet is not running (its /healthz on 127.0.0.1:10248: connection refused)"},
		{"no bus, no healthz", nil, Kubelet{Unit: "kubelet.service", Ask: ok}, "can't tell whether kubelet runs: no system bus and no /healthz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KubeletRuns(context.Background(), tt.bus, tt.k); got != tt.want {
				t.Errorf("KubeletRuns = %q, want %q", got, tt.want)
			}
		})
	}
}

// overlapRuntime records which sandboxes are removed and not yet back when
// each is removed. A pod is back once another sandbox is removed, or after
// a moment when none is.
type overlapRuntime struct {
	mu       sync.Mutex
	out      map[string]bool
	overlaps [][2]string // [removed, already out]
	removed  chan struct{}
}

func (r *overlapRuntime) Remove(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for o := range r.out {
		r.overlaps = append(r.overlaps, [2]string{id, o})
	}
	r.out[id] = true
	close(r.removed)
	r.removed = make(chan struct{})
	return nil
}

func (r *overlapRuntime) WaitReady(ctx context.Context, old cri.Sandbox) (cri.Sandbox, error) {
	r.mu.Lock()
	ch := r.removed
	r.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
		return cri.Sandbox{}, ctx.Err()
	}
	r.mu.Lock()
	delete(r.out, old.ID)
	r.mu.Unlock()
	old.ID += "-new"
	return old, nil
}

// TestRecreateOwnersAtOnce: pods of different owners (CoreDNS's Deployment,
// node-local-dns's DaemonSet) are recreated at the same time, so apply waits
// for kubelet once, not once per pod; two replicas of CoreDNS's Deployment
// on the node are never both gone, so one keeps serving.
func TestRecreateOwnersAtOnce(t *testing.T) {
	rs := map[string]string{"k8s-app": "kube-dns", "pod-template-hash": "5d78c9869d"}
	sbs := []cri.Sandbox{
		{ID: "c1", Namespace: "kube-system", Name: "coredns-5d78c9869d-q2x8z", UID: "u1", Labels: rs},
		{ID: "c2", Namespace: "kube-system", Name: "coredns-5d78c9869d-7hj2k", UID: "u2", Labels: rs},
		{ID: "n1", Namespace: "kube-system", Name: "node-local-dns-4kq8v", UID: "u3", Labels: map[string]string{"k8s-app": "node-local-dns", "controller-revision-hash": "6c9f8b7d5"}},
	}
	rt := &overlapRuntime{out: map[string]bool{}, removed: make(chan struct{})}
	recreated, stale := Recreate(context.Background(), rt, sbs, 10*time.Second, slog.New(slog.DiscardHandler))
	if want := []string{"kube-system/coredns-5d78c9869d-q2x8z", "kube-system/coredns-5d78c9869d-7hj2k", "kube-system/node-local-dns-4kq8v"}; !slices.Equal(recreated, want) || len(stale) != 0 {
		t.Fatalf("recreated %q, stale %q; want %q", recreated, stale, want)
	}
	together := false
	for _, o := range rt.overlaps {
		if strings.HasPrefix(o[0], "c") && strings.HasPrefix(o[1], "c") {
			t.Errorf("both CoreDNS replicas were gone at once (%s removed while %s was not back)", o[0], o[1])
		}
		if strings.HasPrefix(o[0], "n") != strings.HasPrefix(o[1], "n") {
			together = true
		}
	}
	if !together {
		t.Errorf("node-local-dns and CoreDNS were recreated one after the other (%v), not at once", rt.overlaps)
	}
}

// TestRecreateWaitsForPLEG: a sandbox kubelet made a moment ago is removed
// only once kubelet's PLEG (a relist every second) has listed it, else
// kubelet never notices it gone and makes no new one for a minute; an old
// sandbox is removed at once.
func TestRecreateWaitsForPLEG(t *testing.T) {
	defer func(p func(context.Context, time.Duration)) { pause = p }(pause)
	var paused []time.Duration
	pause = func(_ context.Context, d time.Duration) { paused = append(paused, d) }
	for _, tc := range []struct {
		name string
		age  time.Duration
		want bool // paused before the removal
	}{
		{"made just now", 0, true},
		{"an hour old", time.Hour, false},
	} {
		paused = nil
		sb := cri.Sandbox{ID: "c1", Namespace: "kube-system", Name: "coredns-x", UID: "u1", CreatedAt: time.Now().Add(-tc.age)}
		rt := &overlapRuntime{out: map[string]bool{}, removed: make(chan struct{})}
		Recreate(context.Background(), rt, []cri.Sandbox{sb}, 10*time.Second, slog.New(slog.DiscardHandler))
		if got := len(paused) == 1 && paused[0] > time.Second; got != tc.want {
			t.Errorf("%s: paused %v before the removal, want a pause past PLEG's 1 s relist: %v", tc.name, paused, tc.want)
		}
	}
}
