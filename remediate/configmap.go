package remediate

import (
	"fmt"

	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/node"
)

// KindConfigMap is a change of one key of a ConfigMap, through the
// Kubernetes API: the same splice as a file's, every other byte kept.
const KindConfigMap = "configmap"

// configMap plans the edit of cm's key: the diff, and the kubectl command
// that makes exactly that edit, for a user without unloop's credentials.
func (p *planner) configMap(cm *kubeapi.ConfigMap, key, reason string, edit func(old []byte) ([]byte, error)) error {
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
	p.other = append(p.other, Change{Kind: KindConfigMap, Path: path, Action: "modify", Strategy: node.StrategyCorefile, Reason: reason,
		ConfigMap: cm.ID(), Key: key, ResourceVersion: cm.ResourceVersion,
		Diff: unifiedDiff(path, old, after), After: after, Command: cmd,
		Skipped: "left to you: unloop plans ConfigMap edits, and does not write them through the API yet", SkipReason: SkipLeftToUser})
	return nil
}

// configMapRefusal: apply does not write ConfigMaps yet, and a run that
// fixed only the node's files would leave this loop while saying it is done.
func configMapRefusal(pl *Plan) error {
	for _, c := range pl.Changes {
		if c.Kind == KindConfigMap {
			return fmt.Errorf("the fix of ConfigMap %s, data.%s is made through the API, which apply does not write yet: run `%s`; nothing was changed", c.ConfigMap, c.Key, c.Command)
		}
	}
	return nil
}
