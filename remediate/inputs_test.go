package remediate

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/document"
	"github.com/unloop/unloop/remediate/node"
)

// inputsNode is kubeadm's kubelet with everything a node's own flags name:
// a --config (a link to a link, inside the root) and a --config-dir with a
// sub-folder, named from kubeadm-flags.env and a unit drop-in.
const inputsNode = `
-- etc/resolv.conf --
nameserver 10.0.0.2
-- lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet
-- etc/systemd/system/kubelet.service.d/10-kubeadm.conf --
[Service]
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStart=
ExecStart=/usr/bin/kubelet --config=/etc/site/kubelet.yaml $KUBELET_KUBEADM_ARGS
-- var/lib/kubelet/kubeadm-flags.env --
KUBELET_KUBEADM_ARGS="--config-dir=/etc/kubernetes/kubelet.conf.d"
-- etc/site/kubelet.yaml -> /opt/site/current.yaml --
-- opt/site/current.yaml -> v2/kubelet.yaml --
-- opt/site/v2/kubelet.yaml --
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
-- etc/kubernetes/kubelet.conf.d/20-site.conf --
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
-- etc/kubernetes/kubelet.conf.d/sub/30-dns.conf --
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
`

// Check's report lists every node path it read (unloop watch watches
// them): the files the node's own flags name, which no fixed list has,
// each link on the way to them, and none of it in the document.
func TestCheckInputs(t *testing.T) {
	dir := t.TempDir()
	if err := hostcfgtest.Write(dir, txtar.Parse([]byte(inputsNode))); err != nil {
		t.Fatal(err)
	}
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep, _, err := Check(context.Background(), node.Env{Root: root}, node.Options{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"/etc/resolv.conf",
		"/etc/systemd/system/kubelet.service.d/*.conf",
		"/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
		"/var/lib/kubelet/kubeadm-flags.env",
		"/etc/site/kubelet.yaml",
		"/opt/site/current.yaml",
		"/opt/site/v2/kubelet.yaml",
		"/etc/kubernetes/kubelet.conf.d",
		"/etc/kubernetes/kubelet.conf.d/sub",
		"/etc/kubernetes/kubelet.conf.d/sub/30-dns.conf",
	} {
		if !slices.Contains(rep.Inputs, p) {
			t.Errorf("Inputs lack %s:\n%q", p, rep.Inputs)
		}
	}
	if k := rep.Kubelet; k.Config != "/etc/site/kubelet.yaml" || k.ConfigDir != "/etc/kubernetes/kubelet.conf.d" {
		t.Errorf("the node was not read as meant: config %q, config-dir %q", k.Config, k.ConfigDir)
	}
	// The document has no inputs: DESIGN.md §4 lists its fields.
	b, err := json.Marshal(document.NewCheck(rep))
	if err != nil || strings.Contains(strings.ToLower(string(b)), `"inputs"`) {
		t.Errorf("check's document names the inputs (%v): %s", err, b)
	}
}
