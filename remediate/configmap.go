package remediate

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/cmapply"
	"github.com/unloop/unloop/remediate/node"
)

// KindConfigMap is a change of one key of a ConfigMap, through the
// Kubernetes API: the same splice as a file's, every other byte kept.
const KindConfigMap = "configmap"

// configMap plans the edit of cm's key: the diff, and the kubectl command
// that makes exactly that edit, for a user without unloop's credentials.
// reload says whether the Corefile has CoreDNS's reload plugin.
func (p *planner) configMap(cm *kubeapi.ConfigMap, key, reason string, reload bool, edit func(old []byte) ([]byte, error)) error {
	path := node.APICorefilePath(cm.ID(), key)
	old := []byte(cm.Data[key])
	after, err := edit(old)
	if err != nil {
		return err
	}
	if string(after) == string(old) {
		return nil
	}
	cmd, err := kubeapi.PatchCommand(cm.Namespace, cm.Name, key, string(after))
	if err != nil {
		return err
	}
	c := Change{Kind: KindConfigMap, Path: path, Action: "modify", Strategy: node.StrategyCorefile, Reason: reason,
		ConfigMap: cm.ID(), Key: key, ResourceVersion: cm.ResourceVersion,
		Diff: unifiedDiff(path, old, after), After: after, Command: cmd, cm: cm, pending: cmapply.Pending(cm, reload)}
	if o := kubeapi.Owner(cm); o != nil {
		// The owner would put its own version back (k3s re-applies its
		// manifest, Helm its chart): the fix belongs in its override.
		c.Skipped = "left to you: " + o.Why + "; the fix belongs in " + o.Override
		c.SkipReason = SkipLeftToUser
	}
	p.other = append(p.other, c)
	return nil
}

// configMapRefusal: a ConfigMap that a controller owns is not edited; apply
// refuses before changing anything and prints the owner's override.
func configMapRefusal(pl *Plan) error {
	for _, c := range pl.Changes {
		if c.Kind == KindConfigMap && c.Skipped != "" {
			return fmt.Errorf("ConfigMap %s is not unloop's to edit: %s; nothing was changed", c.ConfigMap, strings.TrimPrefix(c.Skipped, "left to you: "))
		}
	}
	return nil
}

// configMapEdits are the plan's ConfigMap changes, for cmapply.
func (r *run) configMapEdits() []cmapply.Edit {
	var out []cmapply.Edit
	for _, c := range r.res.Plan.Changes {
		if c.Kind == KindConfigMap {
			out = append(out, cmapply.Edit{Path: c.Path, CM: c.cm, Key: c.Key, After: c.After})
		}
	}
	return out
}

// waitConfigMaps waits (cmapply.Loaded, bounded) until the pods that mount
// each updated ConfigMap serve it. Pods not seen serving leave the change
// not in effect, with its pending step; nothing is rolled back: the update
// is right, only not seen yet.
func (r *run) waitConfigMaps(ctx context.Context, written time.Time) {
	for i := range r.res.Plan.Changes {
		c := &r.res.Plan.Changes[i]
		if c.Kind != KindConfigMap || c.Skipped != "" {
			continue
		}
		pods, err := cmapply.Loaded(ctx, r.env.ConfigMaps, c.cm, written, cmapply.WaitTimeout, r.env.Logger())
		if err != nil {
			r.env.Logger().Warn("not seen in effect", "configmap", c.ConfigMap, "err", err)
			continue
		}
		c.served = pods
	}
}
