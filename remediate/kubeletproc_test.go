package remediate

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/node"
)

// procNode is a node whose host file is resolved's stub content, with a fake
// /proc holding one process (argv NUL-separated, its root the node's /).
func procNode(t *testing.T, argv string, files map[string]string) string {
	t.Helper()
	files["etc/resolv.conf"] = "nameserver 127.0.0.53\noptions edns0 trust-ad\n"
	files["proc/300/cmdline"] = argv
	dir := hostcfgtest.Files(t, files)
	if err := os.Symlink("/", filepath.Join(dir, "proc/300/root")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Online, a kubelet that runs in a way unloop does not know (MicroShift's
// in-process kubelet, no layout of its own here) gives no verdict on a pod
// file it would have to guess; offline, with no kubelet process to see, the
// host file is judged as before.
func TestCheckUnknownRunningKubeletIsNoLoop(t *testing.T) {
	root := mustRoot(t, procNode(t, "/usr/bin/microshift\x00run\x00", map[string]string{}))
	bus := &restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}
	rep, _, err := Check(context.Background(), node.Env{Root: root, Bus: bus}, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "ok" || len(rep.Findings) != 0 {
		t.Errorf("online: status %s, findings %+v; want no verdict", rep.Status, rep.Findings)
	}
	if rep.Kubelet.Source != "unknown" || rep.Kubelet.ResolvConf != "" || !strings.Contains(strings.Join(rep.Notes, "\n"), "microshift (pid 300)") {
		t.Errorf("online: kubelet %+v, notes %q; want unknown, said why", rep.Kubelet, rep.Notes)
	}
	rep, _, err = Check(context.Background(), node.Env{Root: root}, node.Options{Offline: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "error" {
		t.Errorf("offline: status %s; want the host file's loop, judged as before", rep.Status)
	}
}

// Online, kubelet's process names a config no layout knows; that config's
// resolvConf is the pod file.
func TestCheckRunningKubeletConfig(t *testing.T) {
	root := mustRoot(t, procNode(t, "/opt/kube/bin/kubelet\x00--config\x00/opt/site/kubelet.yaml\x00", map[string]string{
		"opt/site/kubelet.yaml": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /etc/site-resolv.conf\n",
		"etc/site-resolv.conf":  "nameserver 192.0.2.53\n",
	}))
	bus := &restartBus{jobErr: func(int) error { return nil }, active: func(int) bool { return true }}
	rep, _, err := Check(context.Background(), node.Env{Root: root, Bus: bus}, node.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Status != "ok" || rep.ResolvConf.Path != "/etc/site-resolv.conf" || rep.Kubelet.Config != "/opt/site/kubelet.yaml" || !rep.Kubelet.Present || rep.Kubelet.PID != 300 {
		t.Errorf("status %s, pod file %s, kubelet %+v, findings %+v", rep.Status, rep.ResolvConf.Path, rep.Kubelet, rep.Findings)
	}
}
