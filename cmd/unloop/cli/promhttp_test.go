package cli

import (
	"strings"
	"testing"
)

// A family whose samples don't match its labels, or a label value that is
// not UTF-8, is Gather's error: check fails, and /metrics serves the rest.
func TestInvalidSamplesAreErrors(t *testing.T) {
	bad := func() []*gaugeFamily {
		status := gauge("unloop_check_status")
		status.add(1, "state", "ok") // the label is status
		online := gauge("unloop_check_online")
		online.add(1)
		pods := gauge("unloop_pod_stale")
		pods.add(1, "pod", "kube-system/\xff")
		return []*gaugeFamily{status, online, pods}
	}
	var b strings.Builder
	err := writeGathered(&b, registryOf(bad))
	if err == nil || !strings.Contains(err.Error(), "unloop_check_status") || !strings.Contains(err.Error(), "UTF-8") {
		t.Errorf("err %v, want both samples named", err)
	}
}
