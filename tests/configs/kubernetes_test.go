package configs

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// decodeDaemonSet decodes a manifest strictly with Kubernetes's own types:
// an unknown or wrongly cased field is an error (the API server would drop
// it, or refuse the object), as is any other kind of object.
func decodeDaemonSet(data []byte) (*appsv1.DaemonSet, error) {
	var out *appsv1.DaemonSet
	for i, doc := range strings.Split(string(data), "\n---\n") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		j, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		var meta metav1.TypeMeta
		if err := json.Unmarshal(j, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if meta.Kind != "DaemonSet" {
			continue // the DaemonSet's RBAC (tests/cluster applies it)
		}
		var ds appsv1.DaemonSet
		strict, err := sigsjson.UnmarshalStrict(j, &ds)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if len(strict) > 0 {
			return nil, fmt.Errorf("document %d: %v", i+1, strict)
		}
		if ds.APIVersion != "apps/v1" || ds.Kind != "DaemonSet" || out != nil {
			return nil, fmt.Errorf("document %d: %s %s, want one apps/v1 DaemonSet", i+1, ds.APIVersion, ds.Kind)
		}
		out = &ds
	}
	if out == nil {
		return nil, fmt.Errorf("no DaemonSet")
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func envOf(c corev1.Container) map[string]string {
	m := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil { // from the pod's status: only kubelet knows
			m[e.Name] = e.Value
		}
	}
	return m
}

// TestDaemonSetManifest: configs/kubernetes/daemonset.yaml decodes strictly
// as a DaemonSet (and the decoding is strict: a field in the wrong case
// fails), and holds what the README promises: privileged, the host's / at
// /host, the host's bus under it, unloop run with --root /host, check by
// default, every node tolerated.
func TestDaemonSetManifest(t *testing.T) {
	data := configFile(t, "kubernetes/daemonset.yaml")
	ds, err := decodeDaemonSet(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ from, to string }{
		{"mountPropagation:", "mountpropagation:"},
		{"hostNetwork: true", "hostNetwork: true\n      hostnetwork: true"},
		{"kind: DaemonSet", "kind: Deployment"},
	} {
		if !bytes.Contains(data, []byte(bad.from)) {
			t.Fatalf("no %q to break", bad.from)
		}
		if _, err := decodeDaemonSet(bytes.Replace(data, []byte(bad.from), []byte(bad.to), 1)); err == nil {
			t.Errorf("a manifest with %q instead of %q decoded", bad.to, bad.from)
		}
	}

	spec := ds.Spec.Template.Spec
	if sel := ds.Spec.Selector.MatchLabels; len(sel) == 0 || !func() bool {
		for k, v := range sel {
			if ds.Spec.Template.Labels[k] != v {
				return false
			}
		}
		return true
	}() {
		t.Errorf("selector %v does not match the template's labels %v", sel, ds.Spec.Template.Labels)
	}
	if !spec.HostNetwork || len(spec.Tolerations) == 0 || spec.Tolerations[0].Operator != corev1.TolerationOpExists {
		t.Errorf("hostNetwork %v, tolerations %v", spec.HostNetwork, spec.Tolerations)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.SecurityContext == nil || c.SecurityContext.Privileged == nil || !*c.SecurityContext.Privileged {
		t.Error("the container is not privileged")
	}
	var hostVol string
	for _, v := range spec.Volumes {
		if v.HostPath != nil && v.HostPath.Path == "/" {
			hostVol = v.Name
		}
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == hostVol && m.MountPath == "/host" && !m.ReadOnly }) {
		t.Errorf("the host's / is not mounted at /host (read-write, for apply): %v", c.VolumeMounts)
	}
	env := envOf(c)
	if env["DBUS_SYSTEM_BUS_ADDRESS"] != "unix:path=/host/run/dbus/system_bus_socket" || !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "NODE_IP" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.hostIP"
	}) {
		t.Errorf("env %v: want the host's bus and NODE_IP the node's address", c.Env)
	}
	if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" || p.HTTPGet.Port.IntValue() != 9958 {
		t.Errorf("liveness probe %+v: want watch's /healthz on 9958", p)
	}
	if repo, tag, ok := strings.Cut(c.Image, ":"); repo != "unloop" || !ok || tag == "" || len(c.Command) != 0 {
		t.Errorf("image %q, command %q: want `make image`'s unloop:VERSION, run by its entrypoint", c.Image, c.Command)
	}
	if got := strings.Join(podArgs(c), " "); got != "watch --root /host --listen $(NODE_IP):9958 --output json --log-format json" {
		t.Errorf("the container runs unloop %s; want watch, checking only, with --root /host", got)
	}
	aff := spec.Affinity
	want := []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "unloop.io/apply", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"true"}}}}}
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil ||
		!reflect.DeepEqual(aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms, want) {
		t.Errorf("affinity %+v: the checking DaemonSet must leave the nodes labelled unloop.io/apply=true", aff)
	}
}

// TestApplyDaemonSetManifest: daemonset-apply.yaml is the checking one with
// --apply, only on the nodes labelled unloop.io/apply=true (the rollout),
// under a name and labels of its own.
func TestApplyDaemonSetManifest(t *testing.T) {
	check, err := decodeDaemonSet(configFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := decodeDaemonSet(configFile(t, "kubernetes/daemonset-apply.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if ds.Name == check.Name || ds.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != "apply" {
		t.Errorf("name %q, selector %v: want a DaemonSet of its own", ds.Name, ds.Spec.Selector.MatchLabels)
	}
	spec := ds.Spec.Template.Spec
	if spec.NodeSelector["unloop.io/apply"] != "true" {
		t.Errorf("node selector %v: want unloop.io/apply=true", spec.NodeSelector)
	}
	c := spec.Containers[0]
	if got := strings.Join(podArgs(c), " "); got != "watch --apply --root /host --listen $(NODE_IP):9958 --output json --log-format json" {
		t.Errorf("the container runs unloop %s; want watch --apply", got)
	}
	cc := check.Spec.Template.Spec.Containers[0]
	if c.Image != cc.Image || !reflect.DeepEqual([]any{c.VolumeMounts, c.Env, c.SecurityContext, c.LivenessProbe}, []any{cc.VolumeMounts, cc.Env, cc.SecurityContext, cc.LivenessProbe}) {
		t.Error("the applying DaemonSet's container differs from the checking one's beyond --apply")
	}
}

// expand replaces $(name) in args: a variable kubelet takes from the
// pod's status (valueFrom), which envOf has not.
func expand(args []string, name, value string) []string {
	var out []string
	for _, a := range args {
		out = append(out, strings.ReplaceAll(a, "$("+name+")", value))
	}
	return out
}

// podArgs are c's args as kubelet expands them: $(NAME) from c's env.
func podArgs(c corev1.Container) []string {
	var out []string
	for _, a := range c.Args {
		for k, v := range envOf(c) {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		out = append(out, a)
	}
	return out
}

// TestDaemonSetOnNode runs the DaemonSet's container command on a real
// node, as its pod does: in a mount namespace whose root holds nothing but
// the node's / at /host (what hostPath / gives the pod), with the
// manifest's environment and args, so --root /host and the bus at
// /host/run/dbus/system_bus_socket are what unloop has. It reads the node
// online: resolved's live state over that bus, and finds the stub loop. Its
// first run's report comes at once; SIGTERM (the pod stopping) ends the
// watch with exit 0. (TestDaemonSetImageOnKubelet runs the
// image itself under the real kubelet.)
func TestDaemonSetOnNode(t *testing.T) {
	ds, err := decodeDaemonSet(configFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := ds.Spec.Template.Spec.Containers[0]
	env := envOf(c)
	env["NODE_IP"] = "127.0.0.1" // kubelet's status.hostIP
	n := bootNode(t, node.Options{Files: map[string]node.File{
		"/etc/systemd/system/kubelet.service": {Data: []byte(kubeletUnit)},
		"/var/lib/kubelet/config.yaml":        {Data: []byte(testbed.KubeletConfig)},
		"/etc/unloop/unloop.yaml":             {Data: configFile(t, "unloop.yaml")},
	}})
	n.Run("systemctl", "enable", "--now", "kubelet.service")

	// The pod: an empty root with the node's / at /host, the manifest's env,
	// and /proc, which every container runtime mounts (unloop opens files
	// inside the root through /proc/self/fd). The image's unloop is the
	// node's bound binary here.
	pod := `set -e
mount -t tmpfs pod /mnt
mkdir /mnt/host /mnt/proc
mount --rbind / /mnt/host
mount -t proc proc /mnt/proc
bus=$1 config=$2; shift 2
exec env -i DBUS_SYSTEM_BUS_ADDRESS="$bus" UNLOOP_CONFIG="$config" timeout --preserve-status -s TERM 5 /usr/sbin/chroot /mnt /host/opt/unloop/unloop "$@"`
	out, code := testbed.Exec(t, n, append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", pod, "pod",
		env["DBUS_SYSTEM_BUS_ADDRESS"], env["UNLOOP_CONFIG"]}, expand(podArgs(c), "NODE_IP", env["NODE_IP"])...)...)
	var r struct {
		Status   string `json:"status"`
		Online   bool   `json:"online"`
		Notes    []string
		Resolved *struct {
			ResolvConfMode string `json:"resolv_conf_mode"`
		} `json:"resolved"`
		Kubelet struct {
			Present bool   `json:"present"`
			Config  string `json:"config"`
		} `json:"kubelet"`
		Findings []struct {
			Code string `json:"code"`
			File string `json:"file"`
		} `json:"findings"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&r); err != nil || dec.More() {
		t.Fatalf("exit %d: %v (want one run's report in 5 s)\n%s", code, err, out)
	}
	// watch ends 0 on SIGTERM; the report says the loop.
	if code != 0 || r.Status != "error" || !r.Online || r.Resolved == nil || r.Resolved.ResolvConfMode != "stub" {
		t.Errorf("as the pod: exit %d, status %s, online %v, resolved %+v, notes %v; want the stub loop found online over /host's bus", code, r.Status, r.Online, r.Resolved, r.Notes)
	}
	if !r.Kubelet.Present || r.Kubelet.Config != "/var/lib/kubelet/config.yaml" || len(r.Findings) == 0 || r.Findings[0].Code != "nameserver-resolved-stub" || r.Findings[0].File != "/etc/resolv.conf" {
		t.Errorf("as the pod: kubelet %+v, findings %+v; want node paths, not /host paths", r.Kubelet, r.Findings)
	}
}

// TestDaemonSetEmptyHost runs the DaemonSet's container command as its pod
// would with /host a hostPath to an empty folder (the wrong path): the
// watch's report says not-a-node, never an all-clear (issue 25; its
// metrics are check's, cmd/unloop's not_a_node script). Its liveness (the
// exit on SIGTERM) stays 0: the process is healthy, the node unknown.
func TestDaemonSetEmptyHost(t *testing.T) {
	ds, err := decodeDaemonSet(configFile(t, "kubernetes/daemonset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c := ds.Spec.Template.Spec.Containers[0]
	env := envOf(c)
	env["NODE_IP"] = "127.0.0.1"
	n := bootNode(t, node.Options{})
	// The pod: an empty root, an empty folder at /host, /proc, and the
	// image's unloop (the node's bound binary) at /unloop.
	pod := `set -e
mount -t tmpfs pod /mnt
mkdir /mnt/host /mnt/proc /mnt/unloop
mount --bind /opt/unloop /mnt/unloop
mount -t proc proc /mnt/proc
bus=$1; shift
exec env -i DBUS_SYSTEM_BUS_ADDRESS="$bus" timeout --preserve-status -s TERM 5 /usr/sbin/chroot /mnt /unloop/unloop "$@"`
	out, code := testbed.Exec(t, n, append([]string{"unshare", "--mount", "--propagation", "private", "sh", "-c", pod, "pod",
		env["DBUS_SYSTEM_BUS_ADDRESS"]}, expand(podArgs(c), "NODE_IP", env["NODE_IP"])...)...)
	if code != 0 {
		t.Errorf("as the pod on an empty /host: exit %d, want 0 (the process is healthy)\n%s", code, out)
	}
	if !strings.Contains(out, `"code": "not-a-node"`) && !strings.Contains(out, `"code":"not-a-node"`) {
		t.Errorf("as the pod on an empty /host: no not-a-node finding in its report\n%s", out)
	}
	if strings.Contains(out, `"status": "ok"`) || strings.Contains(out, `"status":"ok"`) {
		t.Errorf("as the pod on an empty /host: an all-clear\n%s", out)
	}
}
