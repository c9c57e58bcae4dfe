package pods

import (
	"context"
	"errors"
	"testing"
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
