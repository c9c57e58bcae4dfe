package remediate

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/node"
)

// BenchmarkCheckOffline is check's own work (read, parse, analyse) on the
// field report's node tree, without process start-up.
func BenchmarkCheckOffline(b *testing.B) {
	dir, _ := hostcfgtest.Tree(b, filepath.Join("testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := Check(context.Background(), node.Env{Root: root}, node.Options{Offline: true}); err != nil {
			b.Fatal(err)
		}
	}
}
