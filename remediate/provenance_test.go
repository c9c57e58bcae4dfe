package remediate

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/corefile"
	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/dnspods"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// Pods of the provenance tests: a tenant's in namespace shop, and the node's
// own node-local-dns in kube-system (the addon's Corefile.base).
const (
	tenantUID = "00000000-0000-4000-8000-000000000001" // sorts before every other pod
	nlUID     = "6f1b2c3d-0000-4000-8000-00000000bbbb"
	cmVolumes = "/var/lib/kubelet/pods/%s/volumes/kubernetes.io~configmap/"
)

func podVolume(uid, vol, key string) string {
	return strings.Replace(cmVolumes, "%s", uid, 1) + vol + "/" + key
}

// nodeLocalDNSPod is node-local-dns as the addon runs it, named by kubelet's
// log folder: it binds 169.254.25.10 and forwards '.' to the pod file.
var nodeLocalDNSPod = map[string]string{
	podVolume(nlUID, "config-volume", "Corefile.base"):                         ".:53 {\n    bind 169.254.25.10\n    forward . __PILLAR__UPSTREAM__SERVERS__\n    loop\n}\n",
	"/var/log/pods/kube-system_node-local-dns-4kq8v_" + nlUID + "/node-cache/": "",
}

// tenantPod is a pod of namespace shop holding files: kubelet's log folder
// names it.
func tenantPod(files map[string]string) map[string]string {
	out := map[string]string{"/var/log/pods/shop_web-7d9f8b-x2x9q_" + tenantUID + "/web/": ""}
	for k, v := range files {
		out[k] = v
	}
	return out
}

// provenanceTree is the dhclient field tree (dhclient prepends the node
// cache) with more files.
func provenanceTree(t *testing.T, extra ...map[string]string) (string, node.Options) {
	t.Helper()
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	for _, files := range extra {
		for p, data := range files {
			hp := filepath.Join(dir, p)
			if strings.HasSuffix(p, "/") {
				if err := os.MkdirAll(hp, 0o755); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(hp, []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range []string{"var/lib", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, treeOptions(t, comment)
}

func checkDir(t *testing.T, dir string, opts node.Options) (*node.Report, *node.Node, string) {
	t.Helper()
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	env := node.Env{Root: root, Log: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	rep, n, err := Check(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep, n, log.String()
}

// TestTenantPodsNeverParsed: what a pod of namespace shop holds is never
// read. On a node that loops through dhclient, each of the do-no-harm
// review's tenant files leaves check's findings exactly those of the node
// without the tenant (the dhclient loop; no unreadable, no loop of the
// tenant's), and apply fixes the node with the dhclient strategy.
func TestTenantPodsNeverParsed(t *testing.T) {
	big := ".:53 {\n    forward . 8.8.8.8\n}\n" + strings.Repeat("# padding padding padding padding padding padding\n", 300<<10/50)
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"Corefile never closed", map[string]string{podVolume(tenantUID, "cfg", "Corefile"): ". {\n"}},
		{"Corefile forwards to loopback", map[string]string{podVolume(tenantUID, "cfg", "Corefile"): ".:53 { forward . 127.0.0.1 }\n"}},
		{"Corefile of 300 KiB", map[string]string{podVolume(tenantUID, "cfg", "Corefile"): big}},
		{"Corefile.base never closed", map[string]string{podVolume(tenantUID, "cfg", "Corefile.base"): ". {\n"}},
		{"upstreamNameservers not json", map[string]string{podVolume(tenantUID, "kube-dns", "upstreamNameservers"): "not json"}},
		{"upstreamNameservers naming the node cache, first of the pods", map[string]string{podVolume(tenantUID, "kube-dns", "upstreamNameservers"): `["169.254.25.10"]`}},
		{"labelled kube-dns, mounting a Corefile, with a hostile copy of the pod file", map[string]string{
			podVolume(tenantUID, "cfg", "Corefile"):                                    ".:53 {\n    forward . /etc/resolv.conf\n}\n",
			"/run/containers/storage/overlay-containers/5e5e/userdata/config.json":     `{"annotations":{"io.kubernetes.cri-o.ContainerType":"sandbox","io.kubernetes.cri-o.Labels":"{\"io.kubernetes.pod.name\":\"coredns-evil\",\"io.kubernetes.pod.namespace\":\"shop\",\"io.kubernetes.pod.uid\":\"` + tenantUID + `\",\"k8s-app\":\"kube-dns\"}","io.kubernetes.cri-o.ResolvPath":"/var/lib/containers/storage/overlay-containers/5e5e/userdata/resolv.conf"}}`,
			"/var/lib/containers/storage/overlay-containers/5e5e/userdata/resolv.conf": "nameserver 127.0.0.1\n\x1b[2J" + strings.Repeat("x", 1100<<10) + "\n",
		}},
	}
	for _, withDNSPod := range []bool{false, true} {
		var base []map[string]string
		if withDNSPod {
			base = append(base, nodeLocalDNSPod)
		}
		dir, opts := provenanceTree(t, base...)
		want, _, _ := checkDir(t, dir, opts)
		if !slices.Contains(codes(want.Findings), "dhclient-injects-nameserver@/etc/dhcp/dhclient.conf:2") {
			t.Fatalf("the base node's findings %q lack its dhclient loop", codes(want.Findings))
		}
		for _, tt := range tests {
			name := tt.name
			if withDNSPod {
				name += ", beside node-local-dns"
			}
			t.Run(name, func(t *testing.T) {
				dir, opts := provenanceTree(t, append(base, tenantPod(tt.files))...)
				rep, n, log := checkDir(t, dir, opts)
				if got := codes(rep.Findings); !slices.Equal(got, codes(want.Findings)) {
					t.Errorf("findings %q, want the node's alone: %q", got, codes(want.Findings))
				}
				for _, in := range n.Inputs {
					if strings.Contains(in.Path, tenantUID) || strings.Contains(in.Path, "5e5e") {
						if !in.Skipped || in.Provenance.Owner != dnspods.OwnerOther {
							t.Errorf("tenant input %+v: want skipped, owner other", in)
						}
					}
				}
				if !regexp.MustCompile(`msg=pod uid=` + tenantUID + ` pod=shop/\S+ from=\S+ "dns server"=false why="namespace shop is not a DNS server namespace"`).MatchString(log) {
					t.Errorf("the trace does not say why the tenant pod is no DNS server pod:\n%s", log)
				}

				pl, err := MakePlan(context.Background(), node.Env{Root: mustRoot(t, dir)}, opts)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(pl.Changes, func(c Change) bool { return c.Strategy == "dhclient" }) || len(pl.Unfixed) > 0 {
					t.Fatalf("plan: changes %+v, unfixed %q; want the dhclient fix and nothing left", pl.Changes, codes(pl.Unfixed))
				}
				res, err := Apply(context.Background(), node.Env{Root: mustRoot(t, dir)}, opts)
				if err != nil || res.Run == "" {
					t.Fatalf("apply: run %q, %v; want the node fixed", res.Run, err)
				}
				if b, _ := os.ReadFile(filepath.Join(dir, "etc/resolv.conf")); strings.Contains(string(b), "169.254.25.10") {
					t.Errorf("resolv.conf after apply still names the node cache:\n%s", b)
				}
			})
		}
	}
}

func mustRoot(t *testing.T, dir string) *hostcfg.Root {
	t.Helper()
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestDNSServerPodsInputsCount: the node's own DNS server pods matter. A
// kube-system CoreDNS pod's broken Corefile is a dns-pod-unreadable warning
// (not the node's own unreadable), and apply fixes the node's dhclient loop
// over it, leaving the Corefile to the user (loops-left); named offline by kubelet's log folder alone, node-local-dns's
// Corefile.base is read as a DNS server pod's; without that folder (nothing
// names the pod) it is not read, and the trace says why.
func TestDNSServerPodsInputsCount(t *testing.T) {
	const corednsUID = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1b"
	broken := map[string]string{
		podVolume(corednsUID, "config-volume", "Corefile"):                               ". {\n",
		"/var/log/pods/kube-system_coredns-5d78c9869d-q2x8z_" + corednsUID + "/coredns/": "",
	}
	t.Run("kube-system CoreDNS with a broken Corefile", func(t *testing.T) {
		dir, opts := provenanceTree(t, broken)
		rep, _, _ := checkDir(t, dir, opts)
		p := podVolume(corednsUID, "config-volume", "Corefile")
		if !slices.ContainsFunc(rep.Findings, func(f node.Finding) bool {
			return f.Code == finding.CodeDNSPodUnreadable && f.Severity == finding.SevWarning && f.File == p && f.Pod == "kube-system/coredns-5d78c9869d-q2x8z"
		}) || rep.HasUnreadable() {
			t.Errorf("findings %q, want a dns-pod-unreadable warning at %s, no unreadable", codes(rep.Findings), p)
		}
		res, err := Apply(context.Background(), node.Env{Root: mustRoot(t, dir)}, opts)
		if err != nil || !res.Verified {
			t.Fatalf("apply: %v; want the node's dhclient loop fixed over its DNS server pod's unreadable Corefile", err)
		}
		if o, _ := res.Outcome(); o != OutcomeLoopsLeft || len(res.Plan.Left()) != 1 || res.Plan.Left()[0].File != p {
			t.Errorf("outcome %s, left %q; want loops-left with the Corefile", o, codes(res.Plan.Left()))
		}
	})
	t.Run("named by /var/log/pods", func(t *testing.T) {
		dir, opts := provenanceTree(t, nodeLocalDNSPod)
		_, n, _ := checkDir(t, dir, opts)
		p := podVolume(nlUID, "config-volume", "Corefile.base")
		want := dnspods.Input{Path: p, Provenance: dnspods.Provenance{Owner: dnspods.OwnerDNSServerPod, Pod: "kube-system/node-local-dns-4kq8v", UID: nlUID}}
		if !slices.Contains(n.Inputs, want) {
			t.Errorf("inputs %+v, want %+v", n.Inputs, want)
		}
		if !slices.ContainsFunc(n.Corefiles, func(cf *corefile.Config) bool { return cf.Path == p }) {
			t.Errorf("node-local-dns's Corefile.base was not read")
		}
	})
	t.Run("nothing names the pod", func(t *testing.T) {
		dir, opts := provenanceTree(t, broken)
		if err := os.RemoveAll(filepath.Join(dir, "var/log/pods")); err != nil {
			t.Fatal(err)
		}
		rep, _, log := checkDir(t, dir, opts)
		if slices.ContainsFunc(rep.Findings, func(f node.Finding) bool { return f.Code == finding.CodeUnreadable }) {
			t.Errorf("findings %q: an unnamed pod's Corefile was read", codes(rep.Findings))
		}
		if !strings.Contains(log, `uid=`+corednsUID+` "dns server"=false why="its namespace and name are unknown`) {
			t.Errorf("the trace does not say the pod is unknown:\n%s", log)
		}
	})
	t.Run("a setting without kube-system", func(t *testing.T) {
		dir, opts := provenanceTree(t, broken)
		opts.DNSServerPods = dnspods.Selector{Namespaces: []string{"dns"}}
		rep, _, _ := checkDir(t, dir, opts)
		if slices.ContainsFunc(rep.Findings, func(f node.Finding) bool { return f.Code == finding.CodeUnreadable }) {
			t.Errorf("findings %q: a pod outside the DNS server namespaces was read", codes(rep.Findings))
		}
	})
}

// TestDNSServerPodsOnline: online the runtime names the pods, with their
// labels. A kube-system pod with no known name prefix is a DNS server pod by
// its label (OpenShift's, any value), and its Corefile is read; a pod in
// shop labelled k8s-app=kube-dns is not.
func TestDNSServerPodsOnline(t *testing.T) {
	const dnsUID = "aaaaaaaa-0000-4000-8000-000000000001"
	dir, opts := provenanceTree(t, map[string]string{
		podVolume(dnsUID, "config-volume", "Corefile"):    ". {\n",
		podVolume(tenantUID, "config-volume", "Corefile"): ". {\n",
	})
	opts.Offline = false
	opts.DNSServerPods = dnspods.Selector{Namespaces: []string{"openshift-dns", "shop"}, Labels: []dnspods.Label{{Key: "dns.operator.openshift.io/daemonset-dns"}}, NamePrefixes: []string{}}
	rt := &fakeRuntime{sandboxes: []cri.Sandbox{
		{ID: "s1", Name: "resolver-xyz", Namespace: "openshift-dns", UID: dnsUID, Labels: map[string]string{"dns.operator.openshift.io/daemonset-dns": "default"}, Ready: true},
		{ID: "s2", Name: "coredns-evil", Namespace: "shop", UID: tenantUID, Labels: map[string]string{"k8s-app": "kube-dns"}, Ready: true},
	}}
	root := mustRoot(t, dir)
	env := node.Env{Root: root, Runtime: func(context.Context, string) (node.Runtime, error) { return rt, nil }}
	opts.RuntimeEndpoint = "unix:///run/containerd/containerd.sock"
	rep, n, err := Check(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	var unreadable []string
	for _, f := range rep.Findings {
		if f.Code == finding.CodeDNSPodUnreadable {
			unreadable = append(unreadable, f.File)
		}
	}
	if want := []string{podVolume(dnsUID, "config-volume", "Corefile")}; !slices.Equal(unreadable, want) {
		t.Errorf("unreadable %q, want %q: the labelled openshift-dns pod's alone", unreadable, want)
	}
	if !slices.Contains(n.Inputs, dnspods.Input{Path: "/var/lib/kubelet/pods/" + tenantUID, Provenance: dnspods.Provenance{Owner: dnspods.OwnerOther, Pod: "shop/coredns-evil", UID: tenantUID}, Skipped: true}) {
		t.Errorf("inputs %+v: want the shop pod skipped", n.Inputs)
	}
}

// TestTenantSandboxesNotRead: online the runtime names every sandbox, so
// only a DNS server pod's sandbox files are read: a tenant's sandbox bundle
// and its container's (here not even JSON) are not opened at all (issue 27:
// on a node of 100 pods a check read 200 bundles), so they neither slow the
// check nor make it report an unreadable file, while the DNS server pod's
// copy of the pod file is still read.
func TestTenantSandboxesNotRead(t *testing.T) {
	const dnsUID = "aaaaaaaa-0000-4000-8000-000000000002"
	bundle := func(id string) string {
		return "/run/containerd/io.containerd.runtime.v2.task/k8s.io/" + id + "/config.json"
	}
	dir, opts := provenanceTree(t, map[string]string{
		bundle("dns1"): `{"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-name":"coredns-abc","io.kubernetes.cri.sandbox-namespace":"kube-system","io.kubernetes.cri.sandbox-uid":"` + dnsUID + `"}}`,
		"/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/dns1/resolv.conf": "nameserver 192.0.2.53\n",
		bundle("shop1"):   "not json: a tenant's sandbox",
		bundle("shopweb"): "not json: the tenant's container",
	})
	opts.Offline = false
	rt := &fakeRuntime{sandboxes: []cri.Sandbox{
		{ID: "dns1", Name: "coredns-abc", Namespace: "kube-system", UID: dnsUID, Labels: map[string]string{"k8s-app": "kube-dns"}, Ready: true},
		{ID: "shop1", Name: "web-1", Namespace: "shop", UID: tenantUID, Labels: map[string]string{"app": "web"}, Ready: true},
	}}
	root := mustRoot(t, dir).Recording()
	env := node.Env{Root: root, Runtime: func(context.Context, string) (node.Runtime, error) { return rt, nil }}
	opts.RuntimeEndpoint = "unix:///run/containerd/containerd.sock"
	rep, n, err := Check(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	if rep.HasUnreadable() {
		t.Errorf("findings %q: a tenant's sandbox files were read", codes(rep.Findings))
	}
	for _, id := range []string{"shop1", "shopweb"} {
		if slices.Contains(root.Inputs(), bundle(id)) {
			t.Errorf("%s was read", bundle(id))
		}
	}
	if !slices.ContainsFunc(n.PodCopies, func(pc node.PodCopy) bool { return pc.Sandbox.ID == "dns1" }) {
		t.Errorf("the DNS server pod's copy of the pod file was not read: %+v", n.PodCopies)
	}
}

// TestDNSServerPodLeftToUser: on the node that loops through dhclient, a
// kube-system CoreDNS pod's own loop, its Corefile forwarding to itself, or
// its copy of the pod file unreadable, never stops the node's fix: apply
// fixes dhclient, verifies, and leaves the pod's input to the user with the
// fix (the edit and the kubectl line), outcome loops-left (exit 5).
func TestDNSServerPodLeftToUser(t *testing.T) {
	const corednsUID = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1b"
	logs := "/var/log/pods/kube-system_coredns-5d78c9869d-q2x8z_" + corednsUID + "/coredns/"
	tests := []struct {
		name  string
		files map[string]string
		code  finding.Code
		fix   string
	}{
		{"Corefile forwards to loopback", map[string]string{podVolume(corednsUID, "config-volume", "Corefile"): ".:53 {\n    forward . /etc/resolv.conf\n}\nexample.org:53 {\n    forward . 127.0.0.1\n}\n", logs: ""},
			finding.CodeCorefileForwardLoop, "kubectl -n kube-system edit configmap $(kubectl -n kube-system get pod coredns-5d78c9869d-q2x8z -o jsonpath='{.spec.volumes[?(@.name==\"config-volume\")].configMap.name}')"},
		{"upstreamNameservers not json", map[string]string{podVolume(corednsUID, "kube-dns", "upstreamNameservers"): "not json", logs: ""},
			finding.CodeDNSPodUnreadable, "not a JSON list of addresses"},
		{"its copy of the pod file holds an ESC byte", map[string]string{
			"/run/containers/storage/overlay-containers/5e5e/userdata/config.json":     `{"annotations":{"io.kubernetes.cri-o.ContainerType":"sandbox","io.kubernetes.cri-o.Labels":"{\"io.kubernetes.pod.name\":\"coredns-5d78c9869d-q2x8z\",\"io.kubernetes.pod.namespace\":\"kube-system\",\"io.kubernetes.pod.uid\":\"` + corednsUID + `\",\"k8s-app\":\"kube-dns\"}","io.kubernetes.cri-o.ResolvPath":"/var/lib/containers/storage/overlay-containers/5e5e/userdata/resolv.conf"}}`,
			"/var/lib/containers/storage/overlay-containers/5e5e/userdata/resolv.conf": "nameserver 8.8.8.8\n\x1b[2J\n",
		}, finding.CodeDNSPodUnreadable, "resolv.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, opts := provenanceTree(t, tt.files)
			res, err := Apply(context.Background(), node.Env{Root: mustRoot(t, dir)}, opts)
			if err != nil || !res.Verified || !slices.Contains(res.Plan.Strategies, node.StrategyDhclient) {
				t.Fatalf("apply: %v (verified %v, strategies %q, findings %+v); want the node's dhclient loop fixed", err, res != nil && res.Verified, res.Plan.Strategies, res.Plan.Report.Findings)
			}
			left := res.Plan.Left()
			if o, _ := res.Outcome(); o != OutcomeLoopsLeft || len(left) != 1 || left[0].Code != tt.code || left[0].Pod != "kube-system/coredns-5d78c9869d-q2x8z" {
				t.Fatalf("outcome %s, left %+v; want loops-left, one %s of kube-system/coredns-5d78c9869d-q2x8z", o, left, tt.code)
			}
			if !strings.Contains(strings.Join(left[0].Chain, "\n"), tt.fix) {
				t.Errorf("left %q does not say %q", left[0].Chain, tt.fix)
			}
		})
	}
}

// TestParseDNSServerSettings: the syntax of the dns-server-* values.
func TestParseDNSServerSettings(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want dnspods.Label
		bad  bool
	}{
		{in: "k8s-app=kube-dns", want: dnspods.Label{Key: "k8s-app", Value: "kube-dns"}},
		{in: "dns.operator.openshift.io/daemonset-dns", want: dnspods.Label{Key: "dns.operator.openshift.io/daemonset-dns"}},
		{in: "k8s-app=", bad: true},
		{in: "=x", bad: true},
		{in: "Bad_Prefix/x", bad: true},
		{in: "k8s-app=a b", bad: true},
		{in: strings.Repeat("k", 64), bad: true},
	} {
		got, err := dnspods.ParseLabel(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && got != tt.want) {
			t.Errorf("ParseLabel(%q) = %+v, %v; want %+v, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
	for in, bad := range map[string]bool{"kube-system": false, "Kube-System": true, "a_b": true, strings.Repeat("a", 64): true} {
		if got := dnspods.CheckNamespace(in) != ""; got != bad {
			t.Errorf("CheckNamespace(%q) refused %v, want %v", in, got, bad)
		}
	}
	for in, bad := range map[string]bool{"coredns-": false, "dns-default-": false, "-x": true, "CoreDNS-": true, "a/b": true} {
		if got := dnspods.CheckNamePrefix(in) != ""; got != bad {
			t.Errorf("CheckNamePrefix(%q) refused %v, want %v", in, got, bad)
		}
	}
}
