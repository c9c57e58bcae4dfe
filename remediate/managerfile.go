package remediate

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

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
	return p.edit(file, strategy, why, func(old []byte) ([]byte, error) {
		conf, err := resolvconf.Parse(file, old)
		if err != nil {
			return nil, err
		}
		var lines []int
		for _, ns := range conf.Nameservers {
			if slices.Contains(put, ns.Addr.WithZone("").String()) {
				lines = append(lines, ns.Line)
			}
		}
		out := resolvconf.RemoveLines(old, lines)
		if len(lines) == len(conf.Nameservers) {
			for _, s := range clean {
				out = append(out, "nameserver "+s+"\n"...)
			}
		}
		return out, nil
	})
}

// fileClean waits, until ctx's deadline, for a manager to have rewritten
// file without the looping addresses it put there (others are other
// strategies' to fix, and the check after apply sees them): networkd hands
// resolved the new servers, and NetworkManager writes its file, after the
// reload call returned.
func fileClean(root *hostcfg.Root, file, after string, looping []string) func(context.Context, node.Bus) error {
	return func(ctx context.Context, _ node.Bus) error {
		for {
			left, err := fileLoops(root, file, looping)
			if err == nil && len(left) == 0 {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("%s still names %s after %s", file, strings.Join(left, ", "), after)
			}
			select {
			case <-ctx.Done():
				return err
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

func fileLoops(root *hostcfg.Root, file string, looping []string) ([]string, error) {
	data, _, err := root.ReadFileIfExists(file)
	if err != nil {
		return nil, err
	}
	var left []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		if a, err := netip.ParseAddr(f[1]); err == nil && slices.Contains(looping, a.WithZone("").String()) {
			left = append(left, f[1])
		}
	}
	return left, nil
}
