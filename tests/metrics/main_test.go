// Package metrics parses what the built unloop writes for Prometheus (check
// --output prometheus, --textfile, watch's /metrics) with Prometheus's own
// parser, prometheus/common/expfmt. No node is booted: the node trees are
// folders given with --root --offline.
package metrics

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/unloop/unloop/tests/testbed"
)

// binDir holds unloop built as it ships, and a build for each of
// weirdVersions (unloop-0, unloop-1, ...).
var binDir string

// weirdVersions are versions, set with -ldflags -X, whose label value needs
// the text format's escapes.
var weirdVersions = []string{`a"b\c`, `\n\"ü`, `v1 {x="y"} # 2`}

func TestMain(m *testing.M) {
	bins := []testbed.Binary{{Name: "unloop", Flags: []string{"-ldflags", "-X main.version=metrics-test"}}}
	for i, v := range weirdVersions {
		bins = append(bins, testbed.Binary{Name: "unloop-" + string(rune('0'+i)), Flags: []string{"-ldflags", "-X 'main.version=" + v + "'"}})
	}
	binDir = testbed.Build("metrics", bins...)
	os.Exit(testbed.Run(m, binDir))
}

// unloop is the path of the binary built as it ships.
func unloop() string { return filepath.Join(binDir, "unloop") }
