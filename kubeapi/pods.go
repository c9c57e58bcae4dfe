package kubeapi

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A Pod is what apply watches of a pod that mounts a DNS ConfigMap: whether
// it serves, and since when its DNS server runs.
type Pod struct {
	Namespace, Name string
	// Ready is the pod's Ready condition: CoreDNS's readiness probe
	// (kubeadm's asks the ready plugin) passes.
	Ready bool
	// Containers are its containers that mount the ConfigMap, with when
	// each last started (zero while it is not running).
	Containers map[string]time.Time
}

// ID is "namespace/name".
func (p Pod) ID() string { return p.Namespace + "/" + p.Name }

// PodsMounting are the pods of namespace that mount ConfigMap name as a
// volume (kubeadm's CoreDNS: `configMap: {name: coredns}`).
func (c *Client) PodsMounting(ctx context.Context, namespace, name string) ([]Pod, error) {
	list := &corev1.PodList{}
	if err := c.rc.Get().Namespace(namespace).Resource("pods").VersionedParams(&metav1.ListOptions{}, metav1.ParameterCodec).Do(ctx).Into(list); err != nil {
		return nil, fmt.Errorf("listing the pods of %s (credentials: %s): %w", namespace, c.From, err)
	}
	var out []Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		if pod, ok := mounting(&p, name); ok {
			out = append(out, pod)
		}
	}
	return out, nil
}

// mounting is p as a Pod when a container of p mounts ConfigMap name.
func mounting(p *corev1.Pod, name string) (Pod, bool) {
	vols := map[string]bool{}
	for _, v := range p.Spec.Volumes {
		if v.ConfigMap != nil && v.ConfigMap.Name == name {
			vols[v.Name] = true
		}
	}
	pod := Pod{Namespace: p.Namespace, Name: p.Name, Containers: map[string]time.Time{}}
	for _, c := range p.Spec.Containers {
		for _, m := range c.VolumeMounts {
			if vols[m.Name] {
				pod.Containers[c.Name] = time.Time{}
			}
		}
	}
	if len(pod.Containers) == 0 {
		return Pod{}, false
	}
	for _, st := range p.Status.ContainerStatuses {
		if _, ok := pod.Containers[st.Name]; ok && st.State.Running != nil {
			pod.Containers[st.Name] = st.State.Running.StartedAt.Time
		}
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			pod.Ready = cond.Status == corev1.ConditionTrue
		}
	}
	return pod, true
}

// LogSince is what container of pod logged since (the kubelet's copy,
// through the API server, as `kubectl logs --since-time`).
func (c *Client) LogSince(ctx context.Context, pod Pod, container string, since time.Time) (string, error) {
	b, err := c.rc.Get().Namespace(pod.Namespace).Resource("pods").Name(pod.Name).SubResource("log").
		Param("container", container).Param("sinceTime", since.UTC().Format(time.RFC3339)).DoRaw(ctx)
	if err != nil {
		return "", fmt.Errorf("reading pod %s's log (credentials: %s): %w", pod.ID(), c.From, err)
	}
	return string(b), nil
}
