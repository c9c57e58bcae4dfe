package kubeapi

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestMounting: a pod mounts a ConfigMap when one of its containers mounts
// a volume of it (kubeadm's CoreDNS: volume config-volume, configMap
// coredns); a sidecar that does not mount it is not watched.
func TestMounting(t *testing.T) {
	started := time.Date(2026, 12, 8, 1, 0, 0, 0, time.UTC)
	pod := func(cm string, ready corev1.ConditionStatus) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns-1"},
			Spec: corev1.PodSpec{
				Volumes: []corev1.Volume{{Name: "config-volume", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: cm}}}}},
				Containers: []corev1.Container{
					{Name: "coredns", VolumeMounts: []corev1.VolumeMount{{Name: "config-volume", MountPath: "/etc/coredns"}}},
					{Name: "sidecar"},
				},
			},
			Status: corev1.PodStatus{
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "coredns", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Time{Time: started}}}}},
			},
		}
	}
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		ok    bool
		ready bool
	}{
		{"mounts it, Ready", pod("coredns", corev1.ConditionTrue), true, true},
		{"mounts it, not Ready", pod("coredns", corev1.ConditionFalse), true, false},
		{"mounts another", pod("kube-proxy", corev1.ConditionTrue), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := mounting(tc.pod, "coredns")
			if ok != tc.ok || got.Ready != tc.ready {
				t.Fatalf("mounting: ok %v ready %v, want %v %v", ok, got.Ready, tc.ok, tc.ready)
			}
			if ok && (len(got.Containers) != 1 || !got.Containers["coredns"].Equal(started)) {
				t.Fatalf("containers %v, want coredns started %s only", got.Containers, started)
			}
		})
	}
}
