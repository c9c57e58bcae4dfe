package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// TestExitCodesInHelp: every command with exit codes of its own says them in
// its help, from the table its man page's EXIT STATUS is written from.
func TestExitCodesInHelp(t *testing.T) {
	root := NewRootCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	for name := range exitCodes {
		c, _, err := root.Find([]string{name})
		if err != nil || c == root {
			t.Errorf("exit codes for %q, which is no command", name)
			continue
		}
		if !strings.Contains(c.Long, exitHelp(name)) {
			t.Errorf("%s's help lacks %q:\n%s", name, exitHelp(name), c.Long)
		}
	}
}

// TestApplyLeavesDNSPodLoops: on a node that loops through dhclient, a
// kube-system CoreDNS pod whose Corefile also forwards to itself does not
// stop apply: the node is fixed (check clean of the node's own errors
// after), apply exits 5, and its output lists the pod's loop with its fix,
// the edit and the kubectl line, and says the next step.
func TestApplyLeavesDNSPodLoops(t *testing.T) {
	const uid = "9e8d7c6b-5a49-4382-9170-6f5e4d3c2b1b"
	dir, _ := hostcfgtest.Tree(t, filepath.Join("..", "..", "..", "remediate", "testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	vol := filepath.Join(dir, "var/lib/kubelet/pods", uid, "volumes/kubernetes.io~configmap/config-volume")
	for p, data := range map[string]string{
		filepath.Join(vol, "Corefile"): ".:53 {\n    forward . /etc/resolv.conf\n}\nexample.org:53 {\n    forward . 127.0.0.1\n}\n",
		filepath.Join(dir, "var/log/pods/kube-system_coredns-5d78c9869d-q2x8z_"+uid, "coredns", ".keep"): "",
		filepath.Join(dir, "run", ".keep"): "",
	} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, stderr, code := run(t, dir, "apply", "--upstream", "192.0.2.53")
	if code != exitLeft {
		t.Fatalf("apply: exit %d, want %d\n%s%s", code, exitLeft, out, stderr)
	}
	for _, want := range []string{
		"Apply complete:",
		"LEFT FOR YOU corefile-forward-loop /var/lib/kubelet/pods/" + uid + "/volumes/kubernetes.io~configmap/config-volume/Corefile:5 (pod kube-system/coredns-5d78c9869d-q2x8z)",
		"change `forward . 127.0.0.1` to `forward . ADDRESS",
		`kubectl -n kube-system edit configmap $(kubectl -n kube-system get pod coredns-5d78c9869d-q2x8z -o jsonpath='{.spec.volumes[?(@.name=="config-volume")].configMap.name}')`,
		"Next: the node's own loops are fixed; 1 problem in DNS server pods' inputs is left for you",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply's output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr, "unloop: the node's own loops are fixed") {
		t.Errorf("stderr does not say the next step:\n%s", stderr)
	}
	out, _, code = run(t, dir, "check", "--output", "json")
	if code != exitFindings || strings.Contains(out, "dhclient-injects-nameserver") || !strings.Contains(out, `"pod": "kube-system/coredns-5d78c9869d-q2x8z"`) {
		t.Errorf("check after apply: exit %d, want 2 for the pod's loop alone:\n%s", code, out)
	}
}
