package configs

import (
	"bufio"
	"bytes"
	"regexp"
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

// unitSetting is a unit file's KEY=VALUE line.
var unitSetting = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*=`)

// maxPathUnitLines bounds unloop.path's PathChanged= lines: systemd opens
// an inotify instance for each, and root's 128 (fs.inotify.max_user_instances)
// are shared with every daemon of the node; 114 of them made the unit fail
// to start on the test nodes.
const maxPathUnitLines = 20

// TestPathUnitWatchesTheModel: unloop.path watches only paths the sources
// declare (remediate/node's WatchPaths, from each parser's Paths), sorted,
// at most maxPathUnitLines of them, and among them the pod file and each
// file a DHCP client or resolver rewrites at run time. The unit is written
// by hand and held to the model here; `unloop watch` watches them all.
func TestPathUnitWatchesTheModel(t *testing.T) {
	unit := configFile(t, "unloop.path")
	got := unitValues(t, unit, "PathChanged")
	for _, l := range strings.Split(string(unit), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "[") && !unitSetting.MatchString(l) {
			t.Errorf("configs/unloop.path has a line that is no setting: %q", l)
		}
	}
	declared := node.WatchPaths()
	for _, p := range got {
		if !slices.Contains(declared, p) {
			t.Errorf("configs/unloop.path watches %s, which no source declares (remediate/node's WatchPaths)", p)
		}
	}
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("configs/unloop.path's PathChanged= lines are not sorted and unique: %q", got)
	}
	if len(got) > maxPathUnitLines {
		t.Errorf("configs/unloop.path has %d PathChanged= lines, more than %d: each is an inotify instance of systemd's", len(got), maxPathUnitLines)
	}
	for _, p := range []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf", "/run/systemd/resolve/stub-resolv.conf",
		"/etc/dhcp/dhclient.conf", "/run/systemd/network", "/var/lib/kubelet/config.yaml"} {
		if !slices.Contains(got, p) {
			t.Errorf("configs/unloop.path does not watch %s", p)
		}
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
