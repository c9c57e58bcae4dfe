package kubeapi

import "strings"

// Ownership is a controller that owns a ConfigMap and puts its own version
// back over any edit: unloop must not edit it, the fix belongs in the
// owner's override.
type Ownership struct {
	// Why names the owner and the metadata that shows it.
	Why string
	// Override says where the fix belongs instead.
	Override string
}

// Owner says which controller owns cm, nil when none is known to.
//   - k3s: its deploy controller applies each packaged manifest
//     (/var/lib/rancher/k3s/server/manifests/coredns.yaml) as an Addon with
//     wrangler's apply (rancher/wrangler pkg/apply), which marks every object
//     with objectset.rio.cattle.io/ annotations (applied, id, owner-gvk
//     "k3s.cattle.io/v1, Kind=Addon", owner-name), and k3s rewrites the
//     coredns ConfigMap at every server restart; its way for site changes is
//     the coredns-custom ConfigMap, whose NAME.override and NAME.server keys
//     its Corefile imports from /etc/coredns/custom/ (k3s-io/k3s#4397,
//     manifests/coredns.yaml);
//   - the Kubernetes addon manager's label addonmanager.kubernetes.io/mode:
//     Reconcile (cluster/addons/addon-manager): it re-applies the object;
//   - Helm, which RKE2's helm-controller runs for its rke2-coredns HelmChart:
//     meta.helm.sh/release-name with app.kubernetes.io/managed-by: Helm; a
//     chart upgrade renders the ConfigMap again (RKE2's way for site changes
//     is a HelmChartConfig named after the chart).
func Owner(cm *ConfigMap) *Ownership {
	for k := range cm.Annotations {
		if strings.HasPrefix(k, "objectset.rio.cattle.io/") {
			return &Ownership{Why: "k3s applies it from its packaged manifest (annotation " + k + ") and puts it back at every start",
				Override: "k3s's own override: the ConfigMap kube-system/coredns-custom (keys NAME.override and NAME.server, which k3s's Corefile imports), or the manifest under /var/lib/rancher/k3s/server/manifests with the coredns addon disabled (--disable coredns)"}
		}
	}
	if cm.Labels["addonmanager.kubernetes.io/mode"] == "Reconcile" {
		return &Ownership{Why: "the addon manager reconciles it (label addonmanager.kubernetes.io/mode: Reconcile) and puts it back",
			Override: "the addon's manifest the addon manager applies (on k3s, kube-system/coredns-custom)"}
	}
	if rel := cm.Annotations["meta.helm.sh/release-name"]; rel != "" && cm.Labels["app.kubernetes.io/managed-by"] == "Helm" {
		return &Ownership{Why: "Helm release " + rel + " renders it (annotation meta.helm.sh/release-name, label app.kubernetes.io/managed-by: Helm) and puts it back at its next upgrade",
			Override: "the release's values: on RKE2, a HelmChartConfig kube-system/" + rel + " (apiVersion helm.cattle.io/v1) whose spec.valuesContent sets the chart's servers"}
	}
	return nil
}
