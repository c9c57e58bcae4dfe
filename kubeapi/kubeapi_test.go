package kubeapi

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const conf = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: https://192.0.2.1:6443
users:
- name: u
  user:
    token: t
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

// TestConnectOrder: the flag beats KUBECONFIG, which beats the node's
// admin kubeconfigs (kubeadm's before k3s's), which beat the service account.
func TestConnectOrder(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "flag.conf")
	if err := os.WriteFile(flag, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	node := func(have ...string) func(string) ([]byte, bool, error) {
		return func(p string) ([]byte, bool, error) {
			for _, h := range have {
				if h == p {
					return []byte(conf), true, nil
				}
			}
			return nil, false, nil
		}
	}
	for _, tc := range []struct {
		name string
		w    Where
		from string
	}{
		{"flag", Where{Kubeconfig: flag, Env: "/nonexistent", ReadNode: node(NodeKubeconfigs...)}, "--kubeconfig " + flag},
		{"env", Where{Env: flag, ReadNode: node(NodeKubeconfigs...)}, "KUBECONFIG"},
		{"kubeadm", Where{ReadNode: node(NodeKubeconfigs...), InCluster: true}, "/etc/kubernetes/admin.conf"},
		{"k3s", Where{ReadNode: node("/etc/rancher/k3s/k3s.yaml"), InCluster: true}, "/etc/rancher/k3s/k3s.yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Connect(tc.w)
			if err != nil {
				t.Fatal(err)
			}
			if c.From != tc.from {
				t.Errorf("credentials from %q, want %q", c.From, tc.from)
			}
		})
	}
	if _, err := Connect(Where{ReadNode: node()}); !errors.Is(err, ErrNoCredentials) {
		t.Errorf("nothing anywhere: %v, want ErrNoCredentials", err)
	}
	if _, err := Connect(Where{Kubeconfig: filepath.Join(dir, "missing")}); err == nil || errors.Is(err, ErrNoCredentials) {
		t.Errorf("a --kubeconfig that does not load: %v, want an error naming it", err)
	}
}

// TestPatchCommand: quotes in the Corefile survive the shell.
func TestPatchCommand(t *testing.T) {
	got, err := PatchCommand("kube-system", "coredns", "Corefile", ".:53 {\n    hosts { 1.2.3.4 it's }\n}\n")
	if err != nil {
		t.Fatal(err)
	}
	want := `kubectl -n kube-system patch configmap coredns --type merge -p '{"data":{"Corefile":".:53 {\n    hosts { 1.2.3.4 it'\''s }\n}\n"}}'`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
