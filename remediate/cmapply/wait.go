package cmapply

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/unloop/unloop/kubeapi"
)

// Pods is what apply asks of the API to see CoreDNS load an updated
// ConfigMap; *kubeapi.Client has it.
type Pods interface {
	PodsMounting(ctx context.Context, namespace, name string) ([]kubeapi.Pod, error)
	LogSince(ctx context.Context, pod kubeapi.Pod, container string, since time.Time) (string, error)
}

// WaitTimeout bounds Loaded. A running CoreDNS with the reload plugin
// reloads within ~30–45 s (plugin/reload's interval and jitter, CoreDNS
// v1.15.0) of kubelet syncing the volume; a crash-looping one starts again
// at the end of kubelet's back-off (10 s doubling, at most 5 min), reading
// the updated file then: a pod deep in its back-off is left to it (apply
// says the fix is not yet in effect).
var WaitTimeout = 90 * time.Second

// reloaded is what CoreDNS logs when its reload plugin restarted it on a
// changed Corefile (coredns/caddy v1.1.4's Instance.Restart, CoreDNS v1.15.0).
const reloaded = "[INFO] Reloading complete"

// Loaded waits, at most timeout, until every pod that mounts cm (updated at
// updated) serves the new Corefile: the pod is Ready, and each container
// that mounts it either started after the update (it read the updated file
// at its start) or logged its reload since. It returns the pods; an error
// says why it could not tell: no pod mounts cm, the API refused (RBAC), or
// the time ran out, naming the pods not yet loaded.
func Loaded(ctx context.Context, api any, cm *kubeapi.ConfigMap, updated time.Time, timeout time.Duration, log *slog.Logger) ([]string, error) {
	p, ok := api.(Pods)
	if !ok {
		return nil, fmt.Errorf("no Kubernetes API to watch the pods with")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		pods, err := p.PodsMounting(ctx, cm.Namespace, cm.Name)
		if err != nil {
			return nil, err
		}
		if len(pods) == 0 {
			return nil, fmt.Errorf("no pod mounts ConfigMap %s", cm.ID())
		}
		var names, waiting []string
		for _, pod := range pods {
			names = append(names, pod.ID())
			if !loaded(ctx, p, pod, updated) {
				waiting = append(waiting, pod.ID())
			}
		}
		if len(waiting) == 0 {
			slices.Sort(names)
			log.Info("loaded", "configmap", cm.ID(), "pods", strings.Join(names, ","))
			return names, nil
		}
		select {
		case <-ctx.Done():
			slices.Sort(waiting)
			return nil, fmt.Errorf("%s not serving ConfigMap %s's update within %s", strings.Join(waiting, ", "), cm.ID(), timeout)
		case <-tick.C:
		}
	}
}

// loaded says whether pod is Ready on the Corefile updated at updated.
func loaded(ctx context.Context, p Pods, pod kubeapi.Pod, updated time.Time) bool {
	if !pod.Ready {
		return false
	}
	for c, started := range pod.Containers {
		// The API's times are in whole seconds: a start in the update's
		// second may have read the old file.
		if started.After(updated.Truncate(time.Second)) {
			continue
		}
		if log, err := p.LogSince(ctx, pod, c, updated); err != nil || !strings.Contains(log, reloaded) {
			return false
		}
	}
	return true
}
