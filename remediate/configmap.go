package remediate

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
	"github.com/unloop/unloop/remediate/trace"
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
		Diff: unifiedDiff(path, old, after), After: after, Command: cmd, cm: cm, noReload: !reload}
	if !reload {
		c.Reason += "; the Corefile has no reload plugin: CoreDNS reads it at the pod's restart"
	}
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

// configMapWriter is what apply asks of the API beyond reading
// (*kubeapi.Client has it).
type configMapWriter interface {
	SetKey(ctx context.Context, cm *kubeapi.ConfigMap, key, value string, del, dry bool) (string, error)
}

// journalConfigMaps journals the plan's ConfigMap keys as they were read,
// before any is written, and gives the journal the way back to them.
func (r *run) journalConfigMaps(ctx context.Context) error {
	var es []journal.ConfigMap
	for _, c := range r.res.Plan.Changes {
		if c.Kind != KindConfigMap {
			continue
		}
		old, ok := c.cm.Data[c.Key]
		e := journal.ConfigMap{Path: c.Path, Namespace: c.cm.Namespace, Name: c.cm.Name, Key: c.Key, Exists: ok, Data: []byte(old), ReadVersion: c.ResourceVersion}
		es = append(es, journal.LeftConfigMap(e, c.After))
	}
	if len(es) == 0 {
		return nil
	}
	if _, ok := r.env.ConfigMaps.(configMapWriter); !ok {
		return errors.New("ConfigMaps are changed through the Kubernetes API, and there are no credentials to write them")
	}
	withConfigMaps(ctx, r.env, r.j)
	return r.j.AddConfigMaps(r.env.Root, es)
}

// writeConfigMaps updates the plan's ConfigMaps, each over the version the
// plan read, after a server-side dry run of every one; they go before every
// file, so a ConfigMap edited since it was read, or an update the API
// server refuses, stops the run with nothing written.
func (r *run) writeConfigMaps(ctx context.Context) (string, error) {
	w, _ := r.env.ConfigMaps.(configMapWriter)
	for _, c := range r.res.Plan.Changes {
		if c.Kind != KindConfigMap {
			continue
		}
		if _, err := w.SetKey(ctx, c.cm, c.Key, string(c.After), false, true); err != nil {
			return "updating ConfigMap " + c.ConfigMap + " (server-side dry run)", err
		}
	}
	i := 0
	for _, c := range r.res.Plan.Changes {
		if c.Kind != KindConfigMap {
			continue
		}
		crashpoint("updating configmap " + c.ConfigMap)
		rv, err := w.SetKey(ctx, c.cm, c.Key, string(c.After), false, false)
		if err != nil {
			return "updating ConfigMap " + c.ConfigMap, err
		}
		if err := r.j.SetWritten(i, rv); err != nil {
			return "journaling ConfigMap " + c.ConfigMap, err
		}
		i++
		crashpoint("updated configmap " + c.ConfigMap)
		trace.New(r.env.Logger()).Fact("updated", "configmap", c.ConfigMap, "key", c.Key, "resourceVersion read", c.ResourceVersion, "written", rv)
	}
	return "", nil
}

// withConfigMaps gives j the way to restore its ConfigMaps through env's
// API credentials, if it has any.
func withConfigMaps(ctx context.Context, env node.Env, j *journal.Journal) {
	w, ok := env.ConfigMaps.(configMapWriter)
	if !ok || len(j.ConfigMaps) == 0 {
		return
	}
	j.SetConfigMapRestorer(func(e *journal.ConfigMap, force bool) journal.PathResult {
		return restoreConfigMap(ctx, env.ConfigMaps, w, j.ID, e, force)
	})
}

// restoreConfigMap puts e's key back while the ConfigMap is still at the
// version the run wrote (or, force, over any version); any later edit, of
// this key or another, is refused as a file edited since is.
func restoreConfigMap(ctx context.Context, api node.ConfigMaps, w configMapWriter, id string, e *journal.ConfigMap, force bool) journal.PathResult {
	res := journal.PathResult{Path: e.Path, Result: journal.PathUnchanged}
	cm, err := api.ConfigMap(ctx, e.Namespace, e.Name)
	if err != nil {
		return journal.ConfigMapFailed(e, err)
	}
	if cm == nil {
		return journal.ConfigMapFailed(e, fmt.Errorf("ConfigMap %s no longer exists: run %s's change of it is not restored", e.ID(), id))
	}
	now, has := cm.Data[e.Key]
	if has == e.Exists && now == string(e.Data) {
		return res
	}
	ours := cm.ResourceVersion == e.WrittenVersion
	if e.WrittenVersion == "" {
		if !e.Holds([]byte(now)) || cm.ResourceVersion == e.ReadVersion {
			// The run never wrote it (a failure before its update):
			// whatever is there is not the run's to put back.
			return res
		}
		// A run killed between its update and journaling the version.
		ours = true
	}
	if !ours && !force {
		return journal.ConfigMapRefused(e, []byte(now), id)
	}
	if _, err := w.SetKey(ctx, cm, e.Key, string(e.Data), !e.Exists, false); err != nil {
		if errors.Is(err, kubeapi.ErrConflict) {
			return journal.ConfigMapRefused(e, []byte(now), id)
		}
		return journal.ConfigMapFailed(e, err)
	}
	res.Result = journal.PathRestored
	return res
}

// configMapsPending says, for each ConfigMap the run updated, that CoreDNS
// has not loaded it yet: its reload plugin checks the file kubelet syncs
// from the ConfigMap every 30 s (plus up to 15 s of jitter, CoreDNS 1.12's
// plugin/reload defaults), and without the plugin only a restart of the
// pods reads it. apply does not watch the pods reload, so it never says the
// fix is in effect (exit 4).
func (r *Result) configMapsPending() []string {
	var out []string
	for _, c := range r.Plan.Changes {
		if c.Kind != KindConfigMap || c.Skipped != "" || r.Run == "" {
			continue
		}
		if c.noReload {
			out = append(out, fmt.Sprintf("ConfigMap %s updated; its Corefile has no reload plugin: CoreDNS reads it at the pods' restart (kubectl -n %s rollout restart of the Deployment or DaemonSet that mounts it)", c.ConfigMap, c.cm.Namespace))
			continue
		}
		out = append(out, fmt.Sprintf("ConfigMap %s updated; CoreDNS reloads it within ~30–45 s (reload plugin) or at the pod's restart", c.ConfigMap))
	}
	return out
}
