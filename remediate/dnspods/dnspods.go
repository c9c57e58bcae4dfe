// Package dnspods says which pods are the cluster's DNS servers (the
// dns-server-namespace, dns-server-label and dns-server-name-prefix
// settings; DESIGN.md §2b): their inputs are read, every other pod's never.
package dnspods

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Selector says which pods are the cluster's DNS servers (the
// dns-server-namespace, dns-server-label and dns-server-name-prefix
// settings): a pod in one of Namespaces that carries one of Labels or whose
// name starts with one of NamePrefixes. The namespace is required: any
// tenant can label its own pod k8s-app=kube-dns, none can create one in
// kube-system. A nil list is its default; an empty one matches nothing.
type Selector struct {
	Namespaces   []string
	Labels       []Label
	NamePrefixes []string
}

// Label is a label a DNS server pod carries: Key with Value, or with any
// value when Value is "".
type Label struct{ Key, Value string }

func (l Label) String() string {
	if l.Value == "" {
		return l.Key
	}
	return l.Key + "=" + l.Value
}

// Default: kubeadm's, Kubespray's, k3s's, RKE2's, EKS's, AKS's
// and GKE's CoreDNS and node-local-dns in kube-system (k8s-app kube-dns or
// node-local-dns), OpenShift's DNS operator's dns-default daemonset in
// openshift-dns. The name prefixes are for when no labels are known
// (offline, containerd's files): each ends in "-", so a Deployment's
// NAME-HASH-XXXXX, a DaemonSet's NAME-XXXXX and a static pod's NAME-NODENAME
// all match. kube-system's coredns-autoscaler-* matches too: it mounts no
// Corefile and its copy of the pod file is a ClusterFirst one, so nothing of
// it is used. rke2-coredns- is RKE2's chart (rke2-coredns-rke2-coredns-*).
var Default = Selector{
	Namespaces: []string{"kube-system", "openshift-dns"},
	Labels: []Label{{"k8s-app", "kube-dns"}, {"k8s-app", "node-local-dns"},
		{"dns.operator.openshift.io/daemonset-dns", ""}},
	NamePrefixes: []string{"coredns-", "node-local-dns-", "nodelocaldns-", "rke2-coredns-", "dns-default-"},
}

// OrDefault fills each nil list with its default.
func (d Selector) OrDefault() Selector {
	if d.Namespaces == nil {
		d.Namespaces = Default.Namespaces
	}
	if d.Labels == nil {
		d.Labels = Default.Labels
	}
	if d.NamePrefixes == nil {
		d.NamePrefixes = Default.NamePrefixes
	}
	return d
}

// Match says whether the pod is a DNS server pod, and why (for the trace).
func (d Selector) Match(namespace, name string, labels map[string]string) (bool, string) {
	if namespace == "" || name == "" {
		return false, "its namespace and name are unknown"
	}
	if !slices.Contains(d.Namespaces, namespace) {
		return false, "namespace " + namespace + " is not a DNS server namespace"
	}
	for _, l := range d.Labels {
		if v, ok := labels[l.Key]; ok && (l.Value == "" || v == l.Value) {
			return true, "label " + l.String()
		}
	}
	for _, p := range d.NamePrefixes {
		if strings.HasPrefix(name, p) {
			return true, "name prefix " + p
		}
	}
	return false, "no DNS server label or name prefix"
}

// The syntax of namespaces, labels and name prefixes is Kubernetes' own
// (k8s.io/apimachinery/pkg/util/validation): a value that could never match
// is refused rather than matching nothing silently.

// CheckNamespace says what is wrong with a namespace; "" when nothing.
func CheckNamespace(s string) string {
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return "not a namespace: " + strings.Join(errs, "; ")
	}
	return ""
}

// CheckNamePrefix says what is wrong with a pod name prefix; "" when nothing:
// the start of a DNS subdomain (a pod's name), so a trailing '-' or '.' is
// allowed.
func CheckNamePrefix(s string) string {
	if errs := validation.IsDNS1123Subdomain(strings.TrimRight(s, "-.") + "x"); s == "" || len(errs) > 0 {
		return "not the start of a pod name: lowercase letters, digits, '-' and '.', starting with a letter or digit"
	}
	return ""
}

// ParseLabel reads KEY=VALUE, or KEY for any value, with Kubernetes' label
// syntax.
func ParseLabel(s string) (Label, error) {
	k, v, hasValue := strings.Cut(s, "=")
	l := Label{Key: k, Value: v}
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		return l, fmt.Errorf("label key %q: want KEY=VALUE or KEY: %s", k, strings.Join(errs, "; "))
	}
	if hasValue {
		if v == "" {
			return l, fmt.Errorf("label value %q: want KEY=VALUE, or KEY alone for any value", v)
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return l, fmt.Errorf("label value %q: %s", v, strings.Join(errs, "; "))
		}
	}
	return l, nil
}
