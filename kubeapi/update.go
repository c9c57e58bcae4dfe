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

// SetKey sets key of cm to value through the API (del: removes the key),
// only over the version cm was read at: its resourceVersion is the update's
// precondition, and the API server answers 409 Conflict to any other. It
// returns the version it wrote. With dry, the API server runs the update
// (dryRun=All: admission, validation, the precondition) and stores nothing,
// so a refusal (a webhook, a policy, RBAC) is known before anything is
// written.
func (c *Client) SetKey(ctx context.Context, cm *ConfigMap, key, value string, del, dry bool) (string, error) {
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
	out, err := c.put(ctx, cm, obj, dry)
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
