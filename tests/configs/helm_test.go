package configs

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/unloop/unloop/tests/node"
)

var update = flag.Bool("update", false, "rewrite the manifests rendered from the chart (configs/kubernetes, configs/prometheus)")

// chart is the chart's folder.
func chart() string { return filepath.Join(repo, "configs", "helm", "unloop") }

// helm runs the real helm (built by setup.sh into the cache) with its
// cache, config and data in the test's folder (its defaults are under ~).
func helm(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(cacheBin(t, "helm"), args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("helm %s: %w", strings.Join(args, " "), err)
	}
	return stdout.String(), nil
}

// cacheBin is a program setup.sh put into the cache's bin folder.
func cacheBin(t testing.TB, name string) string {
	t.Helper()
	cache, err := node.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(cache, "bin", name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("no %s in the cache (make deps puts it there): %v", name, err)
	}
	return bin
}

// render is `helm template unloop CHART` with args: the manifests.
func render(t testing.TB, args ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", "unloop", chart()}, args...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// object is one rendered object: its kind, name, namespace, and its JSON,
// decoded strictly into Kubernetes' type for the kind by into.
type object struct {
	Kind, Name, Namespace string
	json                  []byte
}

func (o object) into(t testing.TB, v any) {
	t.Helper()
	strict, err := sigsjson.UnmarshalStrict(o.json, v)
	if err != nil || len(strict) > 0 {
		t.Fatalf("%s %s: %v %v", o.Kind, o.Name, err, strict)
	}
}

// objects splits a rendering into its objects, by "Kind/name".
func objects(t testing.TB, manifests string) map[string]object {
	t.Helper()
	out := map[string]object{}
	for _, doc := range strings.Split(manifests, "\n---\n") {
		if strings.TrimSpace(stripComments(strings.TrimPrefix(doc, "---\n"))) == "" {
			continue
		}
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			t.Fatalf("%v\n%s", err, doc)
		}
		var o struct {
			Kind     string
			Metadata struct{ Name, Namespace string }
		}
		if err := json.Unmarshal(j, &o); err != nil {
			t.Fatal(err)
		}
		key := o.Kind + "/" + o.Metadata.Name
		if _, dup := out[key]; dup {
			t.Fatalf("%s twice", key)
		}
		out[key] = object{o.Kind, o.Metadata.Name, o.Metadata.Namespace, j}
	}
	return out
}

func keys(m map[string]object) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestHelmLint: `helm lint --strict` passes on the chart, and refuses
// values its schema does not allow, naming the value.
func TestHelmLint(t *testing.T) {
	if out, err := helm(t, "lint", "--strict", chart()); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, bad := range []struct{ set, want string }{
		{"prometheusRule.enabled=yes", "/prometheusRule/enabled"},
		{"applyNodeLabel.key=", "/applyNodeLabel/key"},
		{"image.tags=1.2.3", "tags"},
	} {
		out, err := helm(t, "lint", "--strict", chart(), "--set-string", bad.set)
		if err == nil || !strings.Contains(out, bad.want) {
			t.Errorf("helm lint --set-string %s: %v, want an error naming %s\n%s", bad.set, err, bad.want, out)
		}
	}
}

// wantRBAC is the chart's RBAC, rule by rule: the watch's Node condition
// and Events for both DaemonSets; the applying one's DNS ConfigMaps.
var (
	wantWatchRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"nodes/status"}, Verbs: []string{"patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create", "patch"}},
	}
	wantApplyRules = []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"coredns", "nodelocaldns", "node-local-dns"}, Verbs: []string{"get", "update"}},
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}},
		{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	}
)

// TestHelmTemplate: `helm template` with the default values renders the two
// DaemonSets and their RBAC, exactly, in the release's namespace (the
// ConfigMaps' Role in kube-system whatever it is), and no monitoring object
// where the API serves none; the image and the apply label are values.
func TestHelmTemplate(t *testing.T) {
	objs := objects(t, render(t, "--namespace", "unloop-system"))
	want := []string{"ClusterRole/unloop-watch", "ClusterRoleBinding/unloop-watch", "DaemonSet/unloop", "DaemonSet/unloop-apply",
		"Role/unloop-apply", "RoleBinding/unloop-apply", "ServiceAccount/unloop", "ServiceAccount/unloop-apply"}
	if got := keys(objs); !slices.Equal(got, want) {
		t.Fatalf("objects %v, want %v", got, want)
	}
	var cr rbacv1.ClusterRole
	objs["ClusterRole/unloop-watch"].into(t, &cr)
	if !reflect.DeepEqual(cr.Rules, wantWatchRules) {
		t.Errorf("the watch's ClusterRole: %+v, want %+v", cr.Rules, wantWatchRules)
	}
	var crb rbacv1.ClusterRoleBinding
	objs["ClusterRoleBinding/unloop-watch"].into(t, &crb)
	sa := func(name string) rbacv1.Subject {
		return rbacv1.Subject{Kind: "ServiceAccount", Name: name, Namespace: "unloop-system"}
	}
	if crb.RoleRef.Name != "unloop-watch" || !reflect.DeepEqual(crb.Subjects, []rbacv1.Subject{sa("unloop"), sa("unloop-apply")}) {
		t.Errorf("the watch's ClusterRoleBinding: %+v to %+v, want unloop-watch to both DaemonSets' accounts", crb.RoleRef, crb.Subjects)
	}
	var role rbacv1.Role
	objs["Role/unloop-apply"].into(t, &role)
	var rb rbacv1.RoleBinding
	objs["RoleBinding/unloop-apply"].into(t, &rb)
	if role.Namespace != "kube-system" || !reflect.DeepEqual(role.Rules, wantApplyRules) || rb.Namespace != "kube-system" ||
		rb.RoleRef.Name != "unloop-apply" || !reflect.DeepEqual(rb.Subjects, []rbacv1.Subject{sa("unloop-apply")}) {
		t.Errorf("the ConfigMaps' Role %s %+v, bound in %s %+v to %+v", role.Namespace, role.Rules, rb.Namespace, rb.RoleRef, rb.Subjects)
	}
	for _, name := range []string{"unloop", "unloop-apply"} {
		var ds appsv1.DaemonSet
		objs["DaemonSet/"+name].into(t, &ds)
		spec := ds.Spec.Template.Spec
		if ds.Namespace != "unloop-system" || spec.ServiceAccountName != name || spec.Containers[0].Image != "unloop:0.0.0" {
			t.Errorf("DaemonSet %s in %s, account %s, image %s", name, ds.Namespace, spec.ServiceAccountName, spec.Containers[0].Image)
		}
	}

	// The values: an image of a registry, another label for the rollout.
	objs = objects(t, render(t, "--namespace", "kube-system", "--set", "image.repository=registry.example/ops/unloop,image.tag=1.2.3,image.pullPolicy=Always",
		"--set", "extraArgs={--textfile,/host/t/unloop.prom}",
		"--set-string", "applyNodeLabel.key=example.com/dns-fix,applyNodeLabel.value=yes"))
	var check, apply appsv1.DaemonSet
	objs["DaemonSet/unloop"].into(t, &check)
	objs["DaemonSet/unloop-apply"].into(t, &apply)
	for _, ds := range []appsv1.DaemonSet{check, apply} {
		if c := ds.Spec.Template.Spec.Containers[0]; c.Image != "registry.example/ops/unloop:1.2.3" || c.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("%s: image %s (%s), want the values' registry.example/ops/unloop:1.2.3 (Always)", ds.Name, c.Image, c.ImagePullPolicy)
		}
		if args := ds.Spec.Template.Spec.Containers[0].Args; !slices.Equal(args[len(args)-3:], []string{"json", "--textfile", "/host/t/unloop.prom"}) {
			t.Errorf("%s: args %q, want the values' extraArgs last", ds.Name, args)
		}
	}
	if sel := apply.Spec.Template.Spec.NodeSelector; !reflect.DeepEqual(sel, map[string]string{"example.com/dns-fix": "yes"}) {
		t.Errorf("the applying DaemonSet's node selector %v, want example.com/dns-fix=yes", sel)
	}
	wantAff := []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "example.com/dns-fix", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"yes"}}}}}
	if aff := check.Spec.Template.Spec.Affinity; aff == nil || !reflect.DeepEqual(aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, wantAff) {
		t.Errorf("the checking DaemonSet's affinity %+v, want it to leave the nodes labelled example.com/dns-fix=yes", aff)
	}
}

// TestHelmTemplateMonitoring: the PrometheusRule and the PodMonitor are
// rendered when the API serves their kinds (auto, the default), or when
// their value says true; never when it says false.
func TestHelmTemplateMonitoring(t *testing.T) {
	api := []string{"--api-versions", "monitoring.coreos.com/v1/PrometheusRule", "--api-versions", "monitoring.coreos.com/v1/PodMonitor"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"auto, no CRDs", nil, nil},
		{"auto, the operator's CRDs", api, []string{"PodMonitor/unloop", "PrometheusRule/unloop"}},
		{"auto, only PodMonitor's CRD", api[2:], []string{"PodMonitor/unloop"}},
		{"true, no CRDs", []string{"--set", "prometheusRule.enabled=true"}, []string{"PrometheusRule/unloop"}},
		{"false, the operator's CRDs", append([]string{"--set", "prometheusRule.enabled=false,podMonitor.enabled=false"}, api...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, k := range keys(objects(t, render(t, tc.args...))) {
				if strings.HasPrefix(k, "P") {
					got = append(got, k)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("monitoring objects %v, want %v", got, tc.want)
			}
		})
	}
	objs := objects(t, render(t, append([]string{"--set", "prometheusRule.labels.release=kps"}, api...)...))
	var pr struct {
		Metadata struct{ Labels map[string]string }
		Spec     struct{ Groups any }
	}
	if _, ok := objs["PrometheusRule/unloop"]; !ok {
		t.Fatalf("no PrometheusRule where the API serves its kind: %v", keys(objs))
	}
	must(t, json.Unmarshal(objs["PrometheusRule/unloop"].json, &pr))
	if pr.Metadata.Labels["release"] != "kps" || pr.Metadata.Labels["app.kubernetes.io/name"] != "unloop" {
		t.Errorf("the PrometheusRule's labels %v, want the values' release=kps beside the chart's", pr.Metadata.Labels)
	}
}

// rendered are the files of configs/ that are the chart rendered with its
// default values in kube-system, and the templates each is made of.
var rendered = []struct {
	file      string
	templates []string
}{
	{"kubernetes/daemonset.yaml", []string{"templates/check.yaml"}},
	{"kubernetes/daemonset-apply.yaml", []string{"templates/apply.yaml"}},
	{"prometheus/unloop-prometheusrule.yaml", []string{"templates/prometheusrule.yaml", "templates/podmonitor.yaml"}},
}

const renderedHeader = "# Rendered from configs/helm/unloop (its default values, namespace kube-system):\n" +
	"# edit the chart, then run `go test ./configs -run TestPlainManifestsFromChart -update` in tests/.\n"

// TestPlainManifestsFromChart: the plain manifests, for `kubectl apply -f`,
// are the chart rendered with its default values: they can't drift from it.
// -update writes them.
func TestPlainManifestsFromChart(t *testing.T) {
	for _, r := range rendered {
		args := []string{"--namespace", "kube-system", "--api-versions", "monitoring.coreos.com/v1/PrometheusRule", "--api-versions", "monitoring.coreos.com/v1/PodMonitor"}
		for _, tpl := range r.templates {
			args = append(args, "--show-only", tpl)
		}
		want := renderedHeader + render(t, args...)
		path := filepath.Join(repo, "configs", r.file)
		if *update {
			must(t, os.WriteFile(path, []byte(want), 0o644))
			continue
		}
		if got := string(configFile(t, r.file)); got != want {
			t.Errorf("configs/%s is not the chart's rendering: run `go test ./configs -run TestPlainManifestsFromChart -update` in tests/", r.file)
		}
	}
}
