package cluster_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/unloop/unloop/tests/cluster"
	"github.com/unloop/unloop/tests/testbed"
)

var binDir string

func TestMain(m *testing.M) {
	binDir = testbed.Build("cluster", testbed.Binary{Name: "unloop"},
		testbed.Binary{Name: "unloop-crash", Flags: []string{"-tags", "crashtest"}})
	os.Exit(testbed.Run(m, binDir))
}

// kubeadmCorefile is the Corefile kubeadm v1.34.4 puts in the ConfigMap
// kube-system/coredns (cmd/kubeadm/app/phases/addons/dns/manifests.go,
// CoreDNSConfigMap, with DNSDomain cluster.local).
const kubeadmCorefile = `.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
`

// unloop runs the unloop under test; it returns its output and exit status.
func unloop(t *testing.T, args ...string) (string, int) {
	t.Helper()
	return unloopWith(t, "unloop", nil, args...)
}

// unloopWith runs the binary name of binDir with more environment.
func unloopWith(t *testing.T, name string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, name), args...)
	cmd.Env = append(append(os.Environ(), "KUBECONFIG="), env...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// TestConfigMapCorefile: a cluster whose CoreDNS ConfigMap forwards to
// 0.0.0.0 (a well-known training script's sed over kubeadm's Corefile).
// check names the ConfigMap and the line, through the API; plan shows the
// ConfigMap's diff and a kubectl command, which, run with the real kubectl
// against the real API server, leaves exactly the planned Corefile, every
// other byte kept; check then finds the cluster clean.
func TestConfigMapCorefile(t *testing.T) {
	c := cluster.Start(t)
	looping := strings.Replace(kubeadmCorefile, "forward . /etc/resolv.conf", "forward . 0.0.0.0", 1)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(looping), 0o644); err != nil {
		t.Fatal(err)
	}
	c.Kubectl(t, "", "-n", "kube-system", "create", "configmap", "coredns", "--from-file=Corefile="+filepath.Join(dir, "Corefile"))

	root := nodeRoot(t)
	out, code := unloop(t, "check", "--root", root, "--kubeconfig", c.Kubeconfig)
	for _, want := range []string{"source:   configmap/kube-system/coredns/Corefile:13  forward . 0.0.0.0", "findings: corefile-forward-loop  configmap/kube-system/coredns/Corefile:13"} {
		if code != 2 || !strings.Contains(out, want) {
			t.Fatalf("check exited %d, want 2 and %q:\n%s", code, want, out)
		}
	}
	credentials(t, c, root, looping)
	out, _ = unloop(t, "check", "--root", root, "--kubeconfig", c.Kubeconfig, "-o", "json")
	if want := `configmap/kube-system/coredns/Corefile (ConfigMap kube-system/coredns, data.Corefile) line 13: forward . 0.0.0.0`; !strings.Contains(out, want) {
		t.Fatalf("check's JSON does not name the ConfigMap (%q):\n%s", want, out)
	}

	out, code = unloop(t, "plan", "--root", root, "--kubeconfig", c.Kubeconfig, "--strategy", "corefile")
	for _, w := range []string{"modify ConfigMap kube-system/coredns, data.Corefile", "-    forward . 0.0.0.0 {", "+    forward . 192.0.2.10 {",
		"Plan: 0 files to change, 0 units to restart, 1 ConfigMap to change through the API (or with the kubectl command shown)."} {
		if !strings.Contains(out, w) {
			t.Fatalf("plan exited %d, want %q in:\n%s", code, w, out)
		}
	}
	line := regexp.MustCompile(`(?m)^  (kubectl -n kube-system patch configmap coredns .*)$`).FindStringSubmatch(out)
	if line == nil {
		t.Fatalf("plan printed no kubectl patch command:\n%s", out)
	}
	if out, err := c.Shell(t, "", line[1]); err != nil {
		t.Fatalf("the printed command failed: %v\n%s\n%s", err, line[1], out)
	}
	got := c.Kubectl(t, "", "-n", "kube-system", "get", "configmap", "coredns", "-o", "jsonpath={.data.Corefile}")
	if wantCF := strings.Replace(looping, "forward . 0.0.0.0 {", "forward . 192.0.2.10 {", 1); got != wantCF {
		t.Fatalf("after the printed command the Corefile is\n%s\nwant\n%s", got, wantCF)
	}

	if out, code := unloop(t, "check", "--root", root, "--kubeconfig", c.Kubeconfig); code != 0 {
		t.Fatalf("check after the fix exited %d:\n%s", code, out)
	}
}

// credentials: a control-plane node's admin.conf under the root is used
// without any flag; credentials unloop found that reach no API server are a
// note and the node's check goes on; a --kubeconfig that reaches none is an
// error.
func credentials(t *testing.T, c *cluster.Cluster, root, looping string) {
	good, err := os.ReadFile(c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 on loopback: nothing listens there.
	bad := regexp.MustCompile(`server: https://127\.0\.0\.1:\d+`).ReplaceAll(good, []byte("server: https://127.0.0.1:1"))
	node := t.TempDir()
	if err := os.CopyFS(node, os.DirFS(root)); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(node, "etc/kubernetes/admin.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, conf string
		args       []string
		code       int
		want       string
	}{
		{"admin.conf", string(good), nil, 2, "configmap/kube-system/coredns/Corefile:13  forward . 0.0.0.0"},
		{"admin.conf, no API server", string(bad), nil, 0, "the cluster's DNS ConfigMaps were not read through the API"},
		{"--kubeconfig, no API server", string(bad), []string{"--kubeconfig", conf}, 1, "unreadable"},
	} {
		if err := os.WriteFile(conf, []byte(tc.conf), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := unloop(t, append([]string{"check", "--root", node}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%s: check exited %d, want %d and %q:\n%s", tc.name, code, tc.code, tc.want, out)
		}
	}
}

// nodeRoot is a node's root: an os-release is enough to be one, and its
// resolv.conf names a clean upstream (unverified: the root is read offline).
func nodeRoot(t *testing.T) string {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"os-release": "ID=debian\nVERSION_ID=12\n", "resolv.conf": "nameserver 192.0.2.10\n"} {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}
