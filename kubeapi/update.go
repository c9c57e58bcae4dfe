package kubeapi

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ErrConflict is returned (wrapped) by SetKey when the ConfigMap is no
// longer at the resourceVersion it was read at: someone changed it since.
var ErrConflict = errors.New("changed since it was read")

// SetKey sets key of cm to value through the API, only over the version cm
// was read at (its resourceVersion is the update's precondition: the API
// server answers 409 Conflict to any other), and returns the version it
// wrote. A server-side dry run (dryRun=All: admission and validation run,
// nothing is stored) comes first, so a refusal (a webhook, a quota, RBAC)
// is known before anything is written. An empty value with del removes
// the key instead.
func (c *Client) SetKey(ctx context.Context, cm *ConfigMap, key, value string, del bool) (string, error) {
	if cm.obj == nil {
		return "", fmt.Errorf("ConfigMap %s was not read through the API", cm.ID())
	}
	obj := cm.obj.DeepCopy()
	obj.ResourceVersion = cm.ResourceVersion
	if obj.Data == nil {
		obj.Data = map[string]string{}
	}
	obj.Data[key] = value
	if del {
		delete(obj.Data, key)
	}
	if _, err := c.put(ctx, cm, obj, true); err != nil {
		return "", err
	}
	out, err := c.put(ctx, cm, obj, false)
	if err != nil {
		return "", err
	}
	return out.ResourceVersion, nil
}

// put updates cm to obj, or with dry only runs the update on the server
// (dryRun=All: admission and validation run, nothing is stored).
func (c *Client) put(ctx context.Context, cm *ConfigMap, obj *corev1.ConfigMap, dry bool) (*corev1.ConfigMap, error) {
	out := &corev1.ConfigMap{}
	opts := &metav1.UpdateOptions{FieldManager: "unloop"}
	what := "updating"
	if dry {
		opts.DryRun = []string{metav1.DryRunAll}
		what = "updating (server-side dry run)"
	}
	err := c.rc.Put().Namespace(cm.Namespace).Resource("configmaps").Name(cm.Name).
		VersionedParams(opts, metav1.ParameterCodec).Body(obj).Do(ctx).Into(out)
	switch {
	case apierrors.IsConflict(err):
		return nil, fmt.Errorf("ConfigMap %s %w at resourceVersion %s (someone edited it since): nothing was written", cm.ID(), ErrConflict, cm.ResourceVersion)
	case err != nil:
		return nil, fmt.Errorf("%s ConfigMap %s (credentials: %s): %w", what, cm.ID(), c.From, err)
	}
	return out, nil
}
