// Package cmapply carries out apply's ConfigMap changes through the
// Kubernetes API (DESIGN.md §2c): it journals each key before the first
// update, dry-runs every update on the server, then updates each over the
// resourceVersion the plan read, and restores them for rollback only while
// the ConfigMap is still at the version unloop wrote.
package cmapply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/kubeapi"
	"github.com/unloop/unloop/remediate/journal"
)

// API is what apply asks of the Kubernetes API; *kubeapi.Client has it.
type API interface {
	ConfigMap(ctx context.Context, namespace, name string) (*kubeapi.ConfigMap, error)
	SetKey(ctx context.Context, cm *kubeapi.ConfigMap, key, value string, del, dry bool) (string, error)
}

// Edit is one planned change of a ConfigMap's key.
type Edit struct {
	Path  string // configmap/NAMESPACE/NAME/KEY
	CM    *kubeapi.ConfigMap
	Key   string
	After []byte
}

// journalEdits journals edits as they were read, before any is written,
// and gives j the way back to them through api (an env's ConfigMaps, which
// must be able to write).
func journalEdits(ctx context.Context, root *hostcfg.Root, api any, j *journal.Journal, edits []Edit) error {
	if len(edits) == 0 {
		return nil
	}
	if _, ok := api.(API); !ok {
		return errors.New("ConfigMaps are changed through the Kubernetes API, and there are no credentials to write them")
	}
	var es []journal.ConfigMap
	for _, e := range edits {
		old, ok := e.CM.Data[e.Key]
		je := journal.ConfigMap{Path: e.Path, Namespace: e.CM.Namespace, Name: e.CM.Name, Key: e.Key, Exists: ok, Data: []byte(old), ReadVersion: e.CM.ResourceVersion}
		es = append(es, journal.LeftConfigMap(je, e.After))
	}
	Restorer(ctx, api, j)
	return j.AddConfigMaps(root, es)
}

// Write journals edits (before any is written), then updates each edit's
// ConfigMap over the version the plan read, after a server-side dry run of
// every one: a ConfigMap edited since it was read, or an update the API
// server refuses, stops the run before anything is written. It returns the
// step that failed.
func Write(ctx context.Context, root *hostcfg.Root, api any, j *journal.Journal, edits []Edit, log *slog.Logger) (string, error) {
	if err := journalEdits(ctx, root, api, j, edits); err != nil {
		return "journaling", err
	}
	w, _ := api.(API)
	for _, e := range edits {
		if _, err := w.SetKey(ctx, e.CM, e.Key, string(e.After), false, true); err != nil {
			return "updating ConfigMap " + e.CM.ID() + " (server-side dry run)", err
		}
	}
	for i, e := range edits {
		hook("updating configmap " + e.CM.ID())
		rv, err := w.SetKey(ctx, e.CM, e.Key, string(e.After), false, false)
		if err != nil {
			return "updating ConfigMap " + e.CM.ID(), err
		}
		if err := j.SetWritten(i, rv); err != nil {
			return "journaling ConfigMap " + e.CM.ID(), err
		}
		log.Info("updated", "configmap", e.CM.ID(), "key", e.Key, "resourceVersion", e.CM.ResourceVersion, "written", rv)
	}
	return "", nil
}

// Restorer gives j the way to restore its ConfigMaps through api, when api
// can write them.
func Restorer(ctx context.Context, api any, j *journal.Journal) {
	w, ok := api.(API)
	if !ok || len(j.ConfigMaps) == 0 {
		return
	}
	j.SetConfigMapRestorer(func(e *journal.ConfigMap, force bool) journal.PathResult {
		return restore(ctx, w, j.ID, e, force)
	})
}

// restore puts e's key back while the ConfigMap is still at the version
// the run wrote (or, force, over any version); any later edit, of this key
// or another, is refused as a file edited since is. Only the key changes:
// the rest of the ConfigMap is sent back as it is now.
func restore(ctx context.Context, w API, id string, e *journal.ConfigMap, force bool) journal.PathResult {
	res := journal.PathResult{Path: e.Path, Result: journal.PathUnchanged}
	cm, err := w.ConfigMap(ctx, e.Namespace, e.Name)
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

// Pending says that CoreDNS has not loaded the updated ConfigMap yet: its
// reload plugin checks the file kubelet syncs from the ConfigMap every 30 s
// (plus up to 15 s of jitter, CoreDNS 1.12's plugin/reload defaults), and
// without the plugin only the pods' restart reads it. apply does not watch
// the pods reload, so it never says the fix is in effect.
func Pending(cm *kubeapi.ConfigMap, reload bool) string {
	if !reload {
		return fmt.Sprintf("ConfigMap %s updated; its Corefile has no reload plugin: CoreDNS reads it at the pods' restart (kubectl -n %s rollout restart of the Deployment or DaemonSet that mounts it)", cm.ID(), cm.Namespace)
	}
	return fmt.Sprintf("ConfigMap %s updated; CoreDNS reloads it within ~30–45 s (reload plugin) or at the pod's restart", cm.ID())
}
