package cluster_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/cluster"
)

// configMap is what a test compares of a ConfigMap read back with kubectl.
type configMap struct {
	Metadata struct {
		ResourceVersion string            `json:"resourceVersion"`
		Labels          map[string]string `json:"labels"`
		Annotations     map[string]string `json:"annotations"`
	} `json:"metadata"`
	Data map[string]string `json:"data"`
}

func getCoreDNS(t *testing.T, c *cluster.Cluster) configMap {
	t.Helper()
	var cm configMap
	if err := json.Unmarshal([]byte(c.Kubectl(t, "", "-n", "kube-system", "get", "configmap", "coredns", "-o", "json")), &cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

// createCoreDNS makes kube-system/coredns with the Corefile, a second key
// and a label of its own, as kubeadm's has (k8s-app is not kubeadm's, the
// point is that unloop keeps what it does not edit).
func createCoreDNS(t *testing.T, c *cluster.Cluster, corefile string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(f, []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Kubectl(t, "", "-n", "kube-system", "create", "configmap", "coredns", "--from-file=Corefile="+f, "--from-literal=NodeHosts=192.0.2.5 node-a\n")
	c.Kubectl(t, "", "-n", "kube-system", "label", "configmap", "coredns", "k8s-app=kube-dns")
}

// TestConfigMapApply: apply fixes the Corefile of kube-system/coredns
// through the real API server and keeps every other byte and key; it says
// the fix is not in effect until CoreDNS reloads (exit 4); a second apply
// changes nothing; rollback restores the ConfigMap byte for byte, and
// refuses after a later edit unless --force; an edit between apply's read
// and its update is refused with nothing written.
func TestConfigMapApply(t *testing.T) {
	c := cluster.Start(t)
	looping := strings.Replace(kubeadmCorefile, "forward . /etc/resolv.conf", "forward . 0.0.0.0", 1)
	fixed := strings.Replace(looping, "forward . 0.0.0.0 {", "forward . 192.0.2.10 {", 1)
	createCoreDNS(t, c, looping)
	root := nodeRoot(t)
	args := func(cmd string, more ...string) []string {
		return append([]string{cmd, "--root", root, "--kubeconfig", c.Kubeconfig}, more...)
	}
	before := getCoreDNS(t, c)

	out, code := unloop(t, args("apply", "--strategy", "corefile")...)
	if want := "ConfigMap kube-system/coredns updated; CoreDNS reloads it within ~30–45 s (reload plugin) or at the pod's restart"; code != 4 || !strings.Contains(out, want) {
		t.Fatalf("apply exited %d, want 4 (not yet in effect) and %q:\n%s", code, want, out)
	}
	after := getCoreDNS(t, c)
	if after.Data["Corefile"] != fixed {
		t.Fatalf("after apply the Corefile is\n%s\nwant\n%s", after.Data["Corefile"], fixed)
	}
	if after.Data["NodeHosts"] != before.Data["NodeHosts"] || len(after.Data) != 2 || after.Metadata.Labels["k8s-app"] != "kube-dns" {
		t.Fatalf("apply changed what it does not fix: data %q, labels %v", after.Data, after.Metadata.Labels)
	}

	out, code = unloop(t, args("apply", "--strategy", "corefile", "-o", "json")...)
	if again := getCoreDNS(t, c); code != 0 || !strings.Contains(out, `"changed": false`) || again.Metadata.ResourceVersion != after.Metadata.ResourceVersion {
		t.Fatalf("a second apply exited %d, resourceVersion %s → %s:\n%s", code, after.Metadata.ResourceVersion, again.Metadata.ResourceVersion, out)
	}
	if out, _ := unloop(t, "runs", "--root", root); !strings.Contains(out, "configmap/kube-system/coredns/Corefile") {
		t.Fatalf("runs does not list the ConfigMap:\n%s", out)
	}

	out, code = unloop(t, args("rollback")...)
	if back := getCoreDNS(t, c); code != 0 || back.Data["Corefile"] != looping || back.Data["NodeHosts"] != before.Data["NodeHosts"] || len(back.Data) != 2 {
		t.Fatalf("rollback exited %d; the ConfigMap's data is %q, want %q:\n%s", code, back.Data, before.Data, out)
	}

	// A later edit (of another key: the ConfigMap is no longer what
	// unloop wrote) is kept; --force restores over it.
	if out, code := unloop(t, args("apply", "--strategy", "corefile")...); code != 4 {
		t.Fatalf("apply again exited %d:\n%s", code, out)
	}
	c.Kubectl(t, "", "-n", "kube-system", "annotate", "configmap", "coredns", "edited=by-hand")
	out, code = unloop(t, args("rollback")...)
	if now := getCoreDNS(t, c); code != 1 || !strings.Contains(out, "refused") || now.Data["Corefile"] != fixed {
		t.Fatalf("rollback after a later edit exited %d, want 1, refused and the edit kept; Corefile:\n%s\n%s", code, now.Data["Corefile"], out)
	}
	if out, code := unloop(t, args("rollback", "--force")...); code != 0 || getCoreDNS(t, c).Data["Corefile"] != looping {
		t.Fatalf("rollback --force exited %d:\n%s", code, out)
	}

	// Someone edits the ConfigMap after apply read it, before its update.
	edited := getCoreDNS(t, c)
	hook := []string{"UNLOOP_RUN_AT=updating configmap kube-system/coredns",
		"UNLOOP_RUN=" + c.KubectlLine("-n", "kube-system", "annotate", "--overwrite", "configmap", "coredns", "edited=concurrently")}
	out, code = unloopWith(t, "unloop-crash", hook, args("apply", "--strategy", "corefile")...)
	now := getCoreDNS(t, c)
	if want := "ConfigMap kube-system/coredns changed since it was read"; code != 1 || !strings.Contains(out, want) {
		t.Fatalf("apply over a concurrent edit exited %d, want 1 and %q:\n%s", code, want, out)
	}
	if now.Data["Corefile"] != looping || now.Metadata.Annotations["edited"] != "concurrently" || now.Metadata.ResourceVersion == edited.Metadata.ResourceVersion {
		t.Fatalf("apply over a concurrent edit wrote: Corefile\n%s\nannotations %v", now.Data["Corefile"], now.Metadata.Annotations)
	}
}

// TestConfigMapOwned: a ConfigMap that a controller puts back (k3s's
// manifest, the addon manager, a Helm release as RKE2's) is not edited:
// plan says so, apply refuses naming the owner's override, nothing written.
func TestConfigMapOwned(t *testing.T) {
	c := cluster.Start(t)
	looping := strings.Replace(kubeadmCorefile, "forward . /etc/resolv.conf", "forward . 0.0.0.0", 1)
	createCoreDNS(t, c, looping)
	root := nodeRoot(t)
	for _, tc := range []struct {
		name string
		mark []string // kubectl args that mark the owner
		want string
	}{
		{"k3s", []string{"annotate", "objectset.rio.cattle.io/id=", "objectset.rio.cattle.io/owner-name=coredns"}, "kube-system/coredns-custom"},
		{"addon manager", []string{"label", "addonmanager.kubernetes.io/mode=Reconcile"}, "addon manager reconciles it"},
		{"RKE2", []string{"label", "app.kubernetes.io/managed-by=Helm"}, "HelmChartConfig kube-system/rke2-coredns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.Kubectl(t, "", append([]string{"-n", "kube-system", tc.mark[0], "--overwrite", "configmap", "coredns"}, tc.mark[1:]...)...)
			if tc.name == "RKE2" {
				c.Kubectl(t, "", "-n", "kube-system", "annotate", "configmap", "coredns", "meta.helm.sh/release-name=rke2-coredns")
			}
			before := getCoreDNS(t, c)
			out, code := unloop(t, "plan", "--root", root, "--kubeconfig", c.Kubeconfig, "--strategy", "corefile")
			if !strings.Contains(out, "1 ConfigMap owned by a controller (apply refuses)") {
				t.Fatalf("plan exited %d:\n%s", code, out)
			}
			out, code = unloop(t, "apply", "--root", root, "--kubeconfig", c.Kubeconfig, "--strategy", "corefile")
			if code != 1 || !strings.Contains(out, "is not unloop's to edit") || !strings.Contains(out, tc.want) {
				t.Fatalf("apply exited %d, want 1 and %q:\n%s", code, tc.want, out)
			}
			if now := getCoreDNS(t, c); now.Metadata.ResourceVersion != before.Metadata.ResourceVersion {
				t.Fatalf("apply wrote the owned ConfigMap: %q", now.Data)
			}
			c.Kubectl(t, "", "-n", "kube-system", "delete", "configmap", "coredns")
			createCoreDNS(t, c, looping)
		})
	}
}

// TestHelmInstall: `helm install` of configs/helm/unloop on the real API
// server creates both DaemonSets and their RBAC (the plain manifests of
// configs/kubernetes are its rendering). The applying service account may
// get and update the three DNS ConfigMaps and nothing else, and that is
// enough: apply and rollback with its token fix and restore
// kube-system/coredns. Both watching accounts may read Nodes, patch a
// Node's status and record Events, and write nothing else. `helm uninstall`
// removes every object again. On the same control plane, the watch's Node
// condition and Events (nodecond_test.go).
func TestHelmInstall(t *testing.T) {
	c := cluster.Start(t)
	c.Helm(t, "install", "unloop", filepath.Join("..", "..", "configs", "helm", "unloop"), "--namespace", "kube-system")
	const (
		namespaced = "daemonset.apps/unloop daemonset.apps/unloop-apply role.rbac.authorization.k8s.io/unloop-apply " +
			"rolebinding.rbac.authorization.k8s.io/unloop-apply serviceaccount/unloop serviceaccount/unloop-apply"
		clusterWide = "clusterrole.rbac.authorization.k8s.io/unloop-watch clusterrolebinding.rbac.authorization.k8s.io/unloop-watch"
	)
	installed := func() string {
		out := c.Kubectl(t, "", "-n", "kube-system", "get", "daemonsets,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings",
			"-l", "app.kubernetes.io/name=unloop", "-o", "name")
		names := strings.Fields(out)
		slices.Sort(names)
		return strings.Join(names, " ")
	}
	if got, want := installed(), clusterWide+" "+namespaced; got != want {
		t.Fatalf("helm install created %s, want %s", got, want)
	}
	// No PrometheusRule or PodMonitor: this API server serves neither kind.
	if out := c.Helm(t, "get", "manifest", "unloop", "--namespace", "kube-system"); strings.Contains(out, "monitoring.coreos.com") {
		t.Errorf("the release holds a monitoring object on an API server without prometheus-operator's CRDs:\n%s", out)
	}
	const (
		sa    = "system:serviceaccount:kube-system:unloop-apply"
		check = "system:serviceaccount:kube-system:unloop"
	)
	type can struct{ as, verb, what, want string }
	table := []can{
		{sa, "get", "configmaps/coredns", "yes"}, {sa, "update", "configmaps/coredns", "yes"},
		{sa, "update", "configmaps/nodelocaldns", "yes"}, {sa, "update", "configmaps/node-local-dns", "yes"},
		{sa, "update", "configmaps/kube-proxy", "no"}, {sa, "get", "configmaps/kubeadm-config", "no"},
		{sa, "create", "configmaps", "no"}, {sa, "patch", "configmaps/coredns", "no"}, {sa, "delete", "configmaps/coredns", "no"},
		{sa, "list", "configmaps", "no"}, {sa, "patch", "deployments.apps/coredns", "no"}, {sa, "get", "secrets", "no"},
		{sa, "list", "pods", "yes"}, {sa, "get", "pods --subresource=log", "yes"}, {sa, "delete", "pods", "no"},
		{check, "get", "configmaps/coredns", "no"}, {check, "update", "configmaps/coredns", "no"},
		{check, "list", "pods", "no"},
	}
	// The Node condition and Events: the same for both watching accounts.
	for _, as := range []string{check, sa} {
		table = append(table,
			can{as, "get", "nodes/node-a", "yes"}, can{as, "patch", "nodes/node-a --subresource=status", "yes"},
			can{as, "create", "events", "yes"}, can{as, "patch", "events/e", "yes"},
			can{as, "list", "nodes", "no"}, can{as, "patch", "nodes/node-a", "no"}, can{as, "update", "nodes/node-a --subresource=status", "no"},
			can{as, "delete", "nodes/node-a", "no"}, can{as, "delete", "events/e", "no"}, can{as, "get", "events/e", "no"},
		)
	}
	for _, tc := range table {
		ns := "-n kube-system "
		if strings.HasPrefix(tc.what, "nodes") { // cluster-wide: kubectl warns at any namespace
			ns = "--all-namespaces "
		}
		out, _ := c.Shell(t, "", "kubectl auth can-i "+ns+"--as="+tc.as+" "+tc.verb+" "+tc.what)
		if strings.TrimSpace(out) != tc.want {
			t.Errorf("can %s %s %s: %q, want %s", tc.as, tc.verb, tc.what, strings.TrimSpace(out), tc.want)
		}
	}

	conf := saKubeconfig(t, c, "unloop-apply")
	looping := strings.Replace(kubeadmCorefile, "forward . /etc/resolv.conf", "forward . 0.0.0.0", 1)
	createCoreDNS(t, c, looping)
	root := nodeRoot(t)
	if out, code := unloop(t, "apply", "--root", root, "--kubeconfig", conf, "--strategy", "corefile"); code != 4 || strings.Contains(getCoreDNS(t, c).Data["Corefile"], "0.0.0.0") {
		t.Fatalf("apply as %s exited %d, want 4 and the ConfigMap fixed:\n%s", sa, code, out)
	}
	if out, code := unloop(t, "rollback", "--root", root, "--kubeconfig", conf); code != 0 || getCoreDNS(t, c).Data["Corefile"] != looping {
		t.Fatalf("rollback as %s exited %d, want 0 and the ConfigMap restored:\n%s", sa, code, out)
	}

	// The watch's Node condition and Events, with the RBAC the chart made.
	t.Run("node condition", func(t *testing.T) { nodeCondition(t, c) })

	// prometheus-operator's kinds served: an upgrade adds the PrometheusRule
	// and the PodMonitor (their values' default, auto).
	c.Kubectl(t, monitoringCRDs, "apply", "-f", "-")
	c.Kubectl(t, "", "wait", "--for=condition=Established", "crd/prometheusrules.monitoring.coreos.com", "crd/podmonitors.monitoring.coreos.com")
	c.Helm(t, "upgrade", "unloop", filepath.Join("..", "..", "configs", "helm", "unloop"), "--namespace", "kube-system")
	monitoring := func() string {
		return strings.Join(strings.Fields(c.Kubectl(t, "", "-n", "kube-system", "get", "prometheusrules,podmonitors", "-o", "name")), " ")
	}
	if got, want := monitoring(), "prometheusrule.monitoring.coreos.com/unloop podmonitor.monitoring.coreos.com/unloop"; got != want {
		t.Errorf("helm upgrade with the operator's kinds served: %q, want %q", got, want)
	}

	c.Helm(t, "uninstall", "unloop", "--namespace", "kube-system", "--wait")
	if got := installed() + monitoring(); got != "" {
		t.Errorf("helm uninstall left %s", got)
	}
}

// monitoringCRDs serve prometheus-operator's PrometheusRule and PodMonitor
// (group, version, names and scope as the operator's CRDs, v0.91.0) with an
// open schema: what the chart asks is whether the API server serves the
// kinds; the operator's schemas would only validate the objects' fields,
// which TestHelmTemplateMonitoring and tests/configs' promtool check.
var monitoringCRDs = monitoringCRD("PrometheusRule", "prometheusrules") + "---\n" + monitoringCRD("PodMonitor", "podmonitors")

func monitoringCRD(kind, plural string) string {
	return fmt.Sprintf(`apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: %[2]s.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: %[1]s, listKind: %[1]sList, plural: %[2]s, singular: %[3]s, categories: [prometheus-operator]}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`, kind, plural, strings.ToLower(kind))
}

// freezeNodeLocalDNS is a ValidatingAdmissionPolicy (enforced by the API
// server itself, GA since 1.30) that refuses every update of
// kube-system/nodelocaldns: an admission refusal that only the update
// itself, or its server-side dry run, can show.
const freezeNodeLocalDNS = `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: freeze-nodelocaldns
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [""]
        apiVersions: ["v1"]
        operations: ["UPDATE"]
        resources: ["configmaps"]
  validations:
    - expression: "object.metadata.name != 'nodelocaldns'"
      message: "nodelocaldns is frozen"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: freeze-nodelocaldns
spec:
  policyName: freeze-nodelocaldns
  validationActions: [Deny]
`

// TestConfigMapDryRun: with two ConfigMaps to fix, one of which the API
// server's admission refuses to update, apply's server-side dry runs find
// the refusal before the first update: exit 1, and the other ConfigMap is
// not written (not even written and rolled back: its resourceVersion stays).
func TestConfigMapDryRun(t *testing.T) {
	c := cluster.Start(t)
	looping := strings.Replace(kubeadmCorefile, "forward . /etc/resolv.conf", "forward . 0.0.0.0", 1)
	createCoreDNS(t, c, looping)
	f := filepath.Join(t.TempDir(), "Corefile")
	if err := os.WriteFile(f, []byte(looping), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Kubectl(t, "", "-n", "kube-system", "create", "configmap", "nodelocaldns", "--from-file=Corefile="+f)
	c.Kubectl(t, freezeNodeLocalDNS, "apply", "-f", "-")
	// The API server loads a new policy asynchronously: until a dry-run
	// update of nodelocaldns is refused, it is not in force yet.
	for i := 0; ; i++ {
		out, err := c.Shell(t, "", "kubectl -n kube-system annotate --dry-run=server configmap nodelocaldns probe=1")
		if err != nil && strings.Contains(out, "nodelocaldns is frozen") {
			break
		}
		if i == 300 {
			t.Fatalf("the admission policy is not in force: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	before := getCoreDNS(t, c)
	out, code := unloop(t, "apply", "--root", nodeRoot(t), "--kubeconfig", c.Kubeconfig, "--strategy", "corefile")
	if code != 1 || !strings.Contains(out, "server-side dry run") || !strings.Contains(out, "nodelocaldns is frozen") {
		t.Fatalf("apply exited %d, want 1 and the dry run's refusal:\n%s", code, out)
	}
	if now := getCoreDNS(t, c); now.Metadata.ResourceVersion != before.Metadata.ResourceVersion {
		t.Fatalf("apply wrote kube-system/coredns (resourceVersion %s → %s) before the dry run of nodelocaldns was refused", before.Metadata.ResourceVersion, now.Metadata.ResourceVersion)
	}
}
