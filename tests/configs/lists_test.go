package configs

import (
	"bufio"
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/remediate/node"

	"github.com/unloop/unloop/hostcfg/kubelet"
)

// unitValues are the values of key's lines in a unit file, each line's
// space-separated list split (Before=a b), in order.
func unitValues(t *testing.T, unit []byte, key string) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), key+"="); ok {
			out = append(out, strings.Fields(v)...)
		}
	}
	return out
}

// TestPathUnitWatchesTheModel: unloop.path's PathChanged= lines are the
// paths every source reads whatever the node holds (remediate/node's
// WatchPaths, from each parser's Paths), in that order: the unit is written
// by hand and held to the model here, and a failure prints the lines to
// paste. The files a node's own settings name (a --config, drop-ins) are
// unloop watch's to follow; a path unit can't learn them.
func TestPathUnitWatchesTheModel(t *testing.T) {
	got := unitValues(t, configFile(t, "unloop.path"), "PathChanged")
	want := node.WatchPaths()
	if !slices.Equal(got, want) {
		var b strings.Builder
		for _, p := range want {
			b.WriteString("PathChanged=" + p + "\n")
		}
		t.Errorf("configs/unloop.path's PathChanged= lines differ from the sources' paths; want:\n%s", b.String())
	}
}

// TestBootUnitBeforeEveryKubelet: unloop.service is ordered before every
// unit that runs kubelet (hostcfg/kubelet's Units), in that order, and
// before nothing else.
func TestBootUnitBeforeEveryKubelet(t *testing.T) {
	got := unitValues(t, configFile(t, "unloop.service"), "Before")
	if want := kubelet.Units(); !slices.Equal(got, want) {
		t.Errorf("configs/unloop.service's Before= units are %q, want hostcfg/kubelet's %q", got, want)
	}
}
