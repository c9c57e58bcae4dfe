package remediate

import (
	"context"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/node"
)

// What the strategies that fix a network manager at its source share
// (networkd, networkmanager): the manager writes a resolv.conf file of its
// own, reloaded, and apply waits for it, or edits it when there is no reload.

// removeFromFile removes from file (resolved's uplink file, NetworkManager's
// resolv.conf) the addresses a manager put there when the manager is not
// reloaded now (offline, --no-restart, not running): the file is rewritten
// only at the reload, and until then pods would still get the loop. When no
// server would be left, clean take their place, as the manager would write
// them.
func (p *planner) removeFromFile(file, strategy, why string, put, clean []string) error {
	rf, err := p.file(file)
	if err != nil || !rf.Before.Exists {
		return err
	}
	return p.edit(file, strategy, why, func(old []byte) ([]byte, error) { return resolvconf.WithoutServers(file, old, put, clean) })
}

// fileClean waits for a manager to have rewritten file without the looping
// addresses it put there (others are other strategies' to fix, and the
// check after apply sees them).
func fileClean(root *hostcfg.Root, file, after string, looping []string) func(context.Context, node.Bus) error {
	return func(ctx context.Context, _ node.Bus) error {
		return resolvconf.WaitWithout(ctx, root, file, after, looping)
	}
}
