package cluster_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/cluster"
	"github.com/unloop/unloop/tests/testbed"
)

// nodeStatus is what a test compares of a Node read back with kubectl.
type nodeStatus struct {
	Metadata struct {
		UID string `json:"uid"`
	} `json:"metadata"`
	Status struct {
		Conditions []condition `json:"conditions"`
	} `json:"status"`
}

type condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
	LastHeartbeatTime  string `json:"lastHeartbeatTime"`
	LastTransitionTime string `json:"lastTransitionTime"`
}

type event struct {
	Type, Reason, Message string
	Count                 int
	InvolvedObject        struct{ Kind, Name, UID string }
	Source                struct{ Component, Host string }
}

const nodeName = "node-a"

// npdCondition is node-problem-detector's condition as its custom plugin
// monitor writes it from configs/node-problem-detector/unloop-plugin.json:
// another writer's, which watch must never touch.
const npdCondition = `{"status":{"conditions":[{"type":"DNSForwardingLoop","status":"False","reason":"NoDNSForwardingLoop",` +
	`"message":"no DNS forwarding loop","lastHeartbeatTime":"2026-01-02T03:04:05Z","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`

// saKubeconfig is a kubeconfig for the service account kube-system/sa with
// a token from the API's TokenRequest (kubectl create token), as its pod
// would have.
func saKubeconfig(t *testing.T, c *cluster.Cluster, sa string) string {
	t.Helper()
	token := strings.TrimSpace(c.Kubectl(t, "", "-n", "kube-system", "create", "token", sa))
	server := c.Kubectl(t, "", "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.server}")
	ca := c.Kubectl(t, "", "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}")
	kubeconfig := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + server + "\n    certificate-authority-data: " + ca +
		"\nusers:\n- name: sa\n  user:\n    token: " + token + "\ncontexts:\n- name: c\n  context:\n    cluster: c\n    user: sa\ncurrent-context: c\n"
	conf := filepath.Join(t.TempDir(), sa+".conf")
	if err := os.WriteFile(conf, []byte(kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

func getNode(t *testing.T, c *cluster.Cluster) (nodeStatus, map[string]condition) {
	t.Helper()
	var n nodeStatus
	if err := json.Unmarshal([]byte(c.Kubectl(t, "", "get", "node", nodeName, "-o", "json")), &n); err != nil {
		t.Fatal(err)
	}
	conds := map[string]condition{}
	for _, cd := range n.Status.Conditions {
		conds[cd.Type] = cd
	}
	return n, conds
}

func nodeEvents(t *testing.T, c *cluster.Cluster) []event {
	t.Helper()
	var list struct{ Items []event }
	out := c.Kubectl(t, "", "-n", "default", "get", "events", "--field-selector", "involvedObject.name="+nodeName, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// watchUntil runs the real unloop watch with args until done says the API
// shows what it should, then stops it by its PID (SIGTERM, as kubelet
// stops the pod) and returns its output.
func watchUntil(t *testing.T, what string, done func() bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "unloop"), append([]string{"watch", "--listen", "", "--node-name", nodeName}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=", "NODE_NAME=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ok := testbed.Poll(60*time.Second, done)
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	if !ok || err != nil {
		t.Fatalf("watch %s: %s not shown (exit: %v):\n%s", strings.Join(args, " "), what, err, out.String())
	}
	return out.String()
}

// nodeCondition: unloop watch, as the DaemonSets' service account (a
// TokenRequest token, bound only to configs/kubernetes's roles), sets its
// own condition on its Node and records Events, as node-problem-detector
// does, on the real API server: True with the loop's code and an Event when
// a loop is found; restarted on the same loop, the transition time kept and
// no new Event, and with an apply that can't fix it, an Event saying it is
// left; fixed by watch --apply, False and an Event naming the run. NPD's
// own DNSForwardingLoop condition is never touched. The role allows exactly
// that: not patching the Node itself, nor other objects.
//
// It runs on TestHelmInstall's control plane (a start is 7 s of
// make test), which leaves the chart installed and
// kube-system/coredns forwarding to 0.0.0.0.
func nodeCondition(t *testing.T, c *cluster.Cluster) {
	looping := getCoreDNS(t, c).Data["Corefile"]
	if !strings.Contains(looping, "forward . 0.0.0.0") {
		t.Fatalf("kube-system/coredns does not loop:\n%s", looping)
	}
	for _, f := range []string{"daemonset.yaml", "daemonset-apply.yaml"} {
		manifest, err := os.ReadFile(filepath.Join("..", "..", "configs", "kubernetes", f))
		if err != nil {
			t.Fatal(err)
		}
		c.Kubectl(t, string(manifest), "apply", "-f", "-")
	}
	c.Kubectl(t, "apiVersion: v1\nkind: Node\nmetadata:\n  name: "+nodeName+"\n", "apply", "-f", "-")
	nodeRBAC(t, c)
	c.Kubectl(t, "", "patch", "node", nodeName, "--subresource=status", "--type=strategic", "-p", npdCondition)
	_, conds := getNode(t, c)
	npd := conds["DNSForwardingLoop"]

	root := nodeRoot(t)
	conf := saKubeconfig(t, c, "unloop-apply")
	cond := func() condition { _, conds := getNode(t, c); return conds["UnloopDNSForwardingLoop"] }
	has := func(reason string) func() bool {
		return func() bool {
			for _, e := range nodeEvents(t, c) {
				if e.Reason == reason {
					return true
				}
			}
			return false
		}
	}

	// Found: True, the loop's code as the reason, a Warning Event.
	watchUntil(t, "the loop found", has("DNSForwardingLoopFound"), "--root", root, "--kubeconfig", conf)
	if got := cond(); got.Status != "True" || got.Reason != "CorefileForwardLoop" || !strings.Contains(got.Message, "configmap/kube-system/coredns") {
		t.Fatalf("after a check of the looping ConfigMap the condition is %+v, want True, CorefileForwardLoop and the ConfigMap", got)
	}
	// As if set an hour ago: a status that stays keeps its transition time.
	const old = "2026-01-01T00:00:00Z"
	c.Kubectl(t, "", "patch", "node", nodeName, "--subresource=status", "--type=strategic", "-p",
		`{"status":{"conditions":[{"type":"UnloopDNSForwardingLoop","lastHeartbeatTime":"`+old+`","lastTransitionTime":"`+old+`"}]}}`)

	// Left: restarted with --apply and a strategy that does not fix a
	// ConfigMap.
	watchUntil(t, "the loop left", has("DNSForwardingLoopLeft"), "--root", root, "--kubeconfig", conf, "--apply", "--strategy", "kubelet")
	if got := cond(); got.Status != "True" || got.LastTransitionTime != old || got.LastHeartbeatTime == old {
		t.Errorf("after a second run on the same loop the condition is %+v, want True, transition %s kept, a new heartbeat", got, old)
	}

	// Fixed by watch --apply.
	watchUntil(t, "the loop fixed", has("DNSForwardingLoopFixed"), "--root", root, "--kubeconfig", conf, "--apply", "--strategy", "corefile")
	if got := cond(); got.Status != "False" || got.Reason != "NoDNSForwardingLoop" || got.LastTransitionTime == old {
		t.Errorf("after watch --apply the condition is %+v, want False, NoDNSForwardingLoop, a new transition time", got)
	}
	if strings.Contains(getCoreDNS(t, c).Data["Corefile"], "0.0.0.0") {
		t.Error("watch --apply left the ConfigMap looping")
	}
	checkEvents(t, c)
	if n, conds := getNode(t, c); conds["DNSForwardingLoop"] != npd || len(n.Status.Conditions) != 2 {
		t.Errorf("NPD's condition is %+v after the watches, want %+v untouched; conditions %+v", conds["DNSForwardingLoop"], npd, n.Status.Conditions)
	}
}

// checkEvents: one Event each (Found once, though two runs saw the loop),
// about the Node by its UID, from unloop-watch.
func checkEvents(t *testing.T, c *cluster.Cluster) {
	n, _ := getNode(t, c)
	evs := nodeEvents(t, c)
	want := map[string]string{"DNSForwardingLoopFound": "Warning", "DNSForwardingLoopLeft": "Warning", "DNSForwardingLoopFixed": "Normal"}
	for _, e := range evs {
		if want[e.Reason] != e.Type || e.Count != 1 || e.InvolvedObject.Kind != "Node" || e.InvolvedObject.UID != n.Metadata.UID || e.Source.Component != "unloop-watch" {
			t.Errorf("Event %+v: want one of %v, count 1, about Node %s (%s), from unloop-watch", e, want, nodeName, n.Metadata.UID)
		}
		if e.Reason == "DNSForwardingLoopFixed" && !strings.Contains(e.Message, "fixed by unloop watch --apply (run ") {
			t.Errorf("the Fixed Event says %q, want the run", e.Message)
		}
	}
	if len(evs) != len(want) {
		t.Errorf("%d Events, want %d: %+v", len(evs), len(want), evs)
	}
}

// nodeRBAC: both DaemonSets' service accounts may get Nodes, patch their
// status and record Events, and nothing more on Nodes or elsewhere; with
// the token, patching the Node itself is refused by the real API server.
func nodeRBAC(t *testing.T, c *cluster.Cluster) {
	for _, sa := range []string{"unloop", "unloop-apply"} {
		for _, tc := range []struct{ verb, what, want string }{
			{"get", "nodes/" + nodeName, "yes"}, {"patch", "nodes/" + nodeName + " --subresource=status", "yes"},
			{"create", "events -n default", "yes"}, {"patch", "events -n default", "yes"},
			{"patch", "nodes/" + nodeName, "no"}, {"update", "nodes/" + nodeName + " --subresource=status", "no"},
			{"list", "nodes", "no"}, {"delete", "events -n default", "no"}, {"patch", "pods -n kube-system --subresource=status", "no"},
			{"get", "secrets -n kube-system", "no"}, {"create", "configmaps -n kube-system", "no"},
		} {
			out, _ := c.Shell(t, "", "kubectl auth can-i --as=system:serviceaccount:kube-system:"+sa+" "+tc.verb+" "+tc.what+" 2>/dev/null")
			if strings.TrimSpace(out) != tc.want {
				t.Errorf("can %s %s %s: %q, want %s", sa, tc.verb, tc.what, strings.TrimSpace(out), tc.want)
			}
		}
	}
	conf := saKubeconfig(t, c, "unloop")
	out, err := c.Shell(t, "", "kubectl --kubeconfig "+conf+" label node "+nodeName+" taken=yes")
	if err == nil || !strings.Contains(out, "forbidden") {
		t.Errorf("with the checking DaemonSet's token, labelling the Node: %v, want forbidden:\n%s", err, out)
	}
}
