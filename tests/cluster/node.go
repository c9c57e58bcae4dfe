package cluster

import (
	"context"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// A Node is a whole cluster in one booted node: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler as units of the node, and the
// node's real kubelet (on containerd) registered with them by a client
// certificate, kube-proxy for the Services. The node sits on a testbed.Net:
// its address (the API server's advertise address, so the `kubernetes`
// Service has an endpoint pods reach), a default route to the upstream
// CoreDNS on the far side. Everything stops when the node powers off.
type Node struct {
	*testbed.Net
	Node *node.Node
	// Name is the Node object's name: the node's hostname, the CN of the
	// kubelet's certificate (system:node:NAME, as the Node authorizer needs).
	Name string
	t    testing.TB
}

// Where the control plane's files live in the node, as kubeadm lays them out.
const (
	pkiDir = "/etc/kubernetes/pki"
	// AdminConf is the admin's kubeconfig in the node.
	AdminConf = "/etc/kubernetes/admin.conf"
	apiPort   = 6443
)

// controlPlaneStart bounds the control plane's start and the node's
// registration (seconds on an idle machine; this one is shared).
const controlPlaneStart = 3 * time.Minute

// StartNode boots a node (bookworm, with binDir's unloop at /opt/unloop) on a
// Net of its own and starts the cluster in it; it returns once `kubectl get
// nodes` shows the node Ready.
func StartNode(t testing.TB, binDir string) *Node {
	t.Helper()
	c := &Node{Net: testbed.NewNet(t, "ucl", "10.91"), t: t}
	c.Node = testbed.Boot(t, binDir, testbed.KubeletOptions(t, node.Options{Release: "bookworm", NetNS: c.NodeNS, Overlay: t.TempDir()}))
	start := time.Now()
	// Before the node powers off: the pods' containers would be stopped by
	// the node's shutdown with SIGTERM (kubeadm's Corefile lameducks 5 s),
	// and poweroff would outlast its bound. Nothing of them is kept.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = c.Node.Exec(ctx, "sh", "-c", "systemctl kill -s KILL kubelet.service; "+testbed.Crictl+" ps -q | xargs -r "+testbed.Crictl+" stop -t 0; "+
			testbed.Crictl+" pods -q | xargs -r "+testbed.Crictl+" stopp; systemctl kill -s KILL kube-proxy kube-scheduler kube-controller-manager kube-apiserver etcd")
	})
	c.AddNodeAddr()
	c.IP("-n", c.NodeNS, "route", "add", "default", "via", c.Upstream)
	c.IP("-n", c.NetNS, "route", "add", "10.244.0.0/24", "via", c.NodeAddr)
	// Pods reach the API server and the upstream through the node.
	if out, err := exec.Command("nsenter", "--net=/run/netns/"+c.NodeNS, "sysctl", "-qw", "net.ipv4.ip_forward=1").CombinedOutput(); err != nil {
		t.Fatalf("ip_forward in the node's namespace: %v: %s", err, out)
	}
	c.Name = strings.TrimSpace(c.Node.Run("hostname"))
	c.writeConfig()
	// resolved asks the upstream: the node's own DNS works, and kubelet's
	// resolvConf (resolved's uplink file) names a real server.
	c.Node.Run("systemctl", "restart", "systemd-resolved.service")
	testbed.WaitFor(t, time.Minute, "resolved's uplink file names the upstream", func() bool {
		d, _ := c.Node.ReadFile("/run/systemd/resolve/resolv.conf")
		return strings.Contains(string(d), "nameserver "+c.Upstream+"\n")
	})
	for _, u := range c.units() {
		c.Node.Run(append([]string{"systemd-run", "--unit=" + u.name, "--property=Restart=on-failure"}, u.args...)...)
		if u.name == "kube-apiserver" {
			testbed.WaitFor(t, controlPlaneStart, "kube-apiserver's /readyz", func() bool {
				out, err := c.kubectl("get", "--raw", "/readyz")
				return err == nil && out == "ok"
			})
		}
	}
	testbed.StartKubelet(t, c.Node, testbed.KubeletConfigFor(c.Node, "resolvConf: /run/systemd/resolve/resolv.conf\n"))
	if !testbed.Poll(controlPlaneStart, func() bool {
		out, _ := c.kubectl("get", "node", c.Name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return out == "True"
	}) {
		t.Fatalf("node %s not Ready within %s:\n%s\n%s", c.Name, controlPlaneStart, c.Kubectl("get", "nodes", "-o", "wide"), c.Journal(60, "kubelet", "kube-controller-manager"))
	}
	t.Logf("cluster in node %s: Ready %.1fs after boot", c.Name, time.Since(start).Seconds())
	return c
}

// writeConfig writes the certificates, the kubeconfigs, kube-proxy's config
// and the kubelet's drop-in that registers it.
func (c *Node) writeConfig() {
	t := c.t
	pki := certificates(t, filepath.Join(t.TempDir(), "pki"), []net.IP{net.ParseIP(c.NodeAddr), net.ParseIP("127.0.0.1")}, map[string]pkix.Name{
		"controller-manager": {CommonName: "system:kube-controller-manager"},
		"scheduler":          {CommonName: "system:kube-scheduler"},
		// Bound to system:node-proxier by the API server's default RBAC.
		"kube-proxy": {CommonName: "system:kube-proxy"},
		"kubelet":    {CommonName: "system:node:" + c.Name, Organization: []string{"system:nodes"}},
	})
	server := fmt.Sprintf("https://%s:%d", c.NodeAddr, apiPort)
	files := map[string][]byte{
		"/etc/kubernetes/controller-manager.conf":    kubeconfig(server, pki, "controller-manager"),
		"/etc/kubernetes/scheduler.conf":             kubeconfig(server, pki, "scheduler"),
		"/etc/kubernetes/proxy.conf":                 kubeconfig(server, pki, "kube-proxy"),
		"/etc/kubernetes/kubelet.conf":               kubeconfig(server, pki, "kubelet"),
		AdminConf:                                    kubeconfig(server, pki, "admin"),
		"/etc/systemd/resolved.conf.d/upstream.conf": []byte("[Resolve]\nDNS=" + c.Upstream + "\n"),
		"/etc/kubernetes/proxy.yaml":                 []byte(kubeProxyConfig),
		// kubelet.service with the API server: kubeadm's drop-in adds
		// --kubeconfig the same way (10-kubeadm.conf).
		"/etc/systemd/system/kubelet.service.d/10-cluster.conf": []byte("[Service]\nExecStart=\nExecStart=" + testbed.KubeBin +
			"/kubelet --config=/var/lib/kubelet/config.yaml --kubeconfig=/etc/kubernetes/kubelet.conf --node-ip=" + c.NodeAddr + "\n"),
	}
	for name, p := range pki {
		files[pkiDir+"/"+filepath.Base(name)] = readFile(t, p)
	}
	for p, data := range files {
		// Keys and kubeconfigs for root only; resolved reads its config as
		// its own user.
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".key") || strings.HasSuffix(p, ".conf") && strings.HasPrefix(p, "/etc/kubernetes/") {
			mode = 0o600
		}
		if err := c.Node.WriteFile(p, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	c.Node.Run("systemctl", "daemon-reload")
}

// kubeProxyConfig: iptables mode; the conntrack settings it would write are
// this machine's (nf_conntrack_max is not per namespace), so none is set;
// no NodePorts on localhost, which need route_localnet set, and a node's
// /proc/sys is read-only.
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: /etc/kubernetes/proxy.conf
mode: iptables
iptables:
  localhostNodePorts: false
clusterCIDR: 10.244.0.0/24
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`

type unit struct {
	name string
	args []string
}

// units are the control plane's programs in the order they start, with
// their flags (REAL-NODE.md's recipe; a node-reachable advertise address,
// so the endpoint reconciler is kube-apiserver's default).
func (c *Node) units() []unit {
	bin := func(name string, args ...string) unit {
		return unit{name, append([]string{testbed.KubeBin + "/" + name}, args...)}
	}
	return []unit{
		bin("etcd", "--name=node", "--data-dir=/var/lib/etcd",
			"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
			"--listen-peer-urls=http://127.0.0.1:2380", "--initial-advertise-peer-urls=http://127.0.0.1:2380",
			"--initial-cluster=node=http://127.0.0.1:2380", "--unsafe-no-fsync"),
		bin("kube-apiserver", "--etcd-servers=http://127.0.0.1:2379",
			"--advertise-address="+c.NodeAddr, fmt.Sprintf("--secure-port=%d", apiPort), "--cert-dir=/var/lib/kube-apiserver",
			"--tls-cert-file="+pkiDir+"/apiserver.crt", "--tls-private-key-file="+pkiDir+"/apiserver.key",
			"--client-ca-file="+pkiDir+"/ca.crt",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file="+pkiDir+"/sa.key", "--service-account-signing-key-file="+pkiDir+"/sa.key",
			"--service-cluster-ip-range=10.96.0.0/12",
			"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--allow-privileged=true"),
		bin("kube-controller-manager", "--kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--service-account-private-key-file="+pkiDir+"/sa.key", "--use-service-account-credentials=true",
			// Publishes kube-root-ca.crt, which every pod's token volume mounts.
			"--root-ca-file="+pkiDir+"/ca.crt",
			"--leader-elect=false", "--bind-address=127.0.0.1", "--flex-volume-plugin-dir=/var/lib/kube-controller-manager/flex"),
		bin("kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf", "--leader-elect=false", "--bind-address=127.0.0.1"),
		bin("kube-proxy", "--config=/etc/kubernetes/proxy.yaml", "--hostname-override="+c.Name),
	}
}

// kubectl runs the real kubectl in the node as the admin.
func (c *Node) kubectl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := c.Node.Exec(ctx, append([]string{testbed.KubeBin + "/kubectl", "--kubeconfig=" + AdminConf, "--cache-dir=/var/cache/kubectl"}, args...)...)
	return strings.TrimSpace(out), err
}

// KubectlErr is kubectl's output and error.
func (c *Node) KubectlErr(args ...string) (string, error) { return c.kubectl(args...) }

// Kubectl is kubectl that fails the test on error.
func (c *Node) Kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.kubectl(args...)
	if err != nil {
		c.t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// Apply is `kubectl apply -f` of manifest (written into the node first).
func (c *Node) Apply(manifest string) string {
	c.t.Helper()
	f := fmt.Sprintf("/var/lib/unloop-test/%d.yaml", time.Now().UnixNano())
	if err := c.Node.WriteFile(f, []byte(manifest), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return c.Kubectl("apply", "-f", f)
}

// Journal is the last lines of the units' logs in the node.
func (c *Node) Journal(lines int, units ...string) string {
	args := []string{"journalctl", "-b", "--no-pager", "-o", "cat", "-n", fmt.Sprint(lines)}
	for _, u := range units {
		args = append(args, "-u", u)
	}
	out, _ := c.Node.Exec(context.Background(), args...)
	return out
}

// Diagnose is what explains a failure of the cluster's DNS: the pods, the
// endpoints, CoreDNS's logs, kube-proxy's rules and log.
func (c *Node) Diagnose() string {
	var b strings.Builder
	for _, args := range [][]string{
		{"-n", "kube-system", "get", "pods,endpointslices,services", "-o", "wide"},
		{"get", "endpointslices", "-o", "wide"},
		{"-n", "kube-system", "logs", "-l", "k8s-app=kube-dns", "--tail=30", "--prefix"},
		{"-n", "kube-system", "describe", "pods", "-l", "k8s-app=kube-dns"},
	} {
		out, err := c.kubectl(args...)
		fmt.Fprintf(&b, "$ kubectl %s (%v)\n%s\n", strings.Join(args, " "), err, out)
	}
	out, _ := c.Node.Exec(context.Background(), "sh", "-c", "iptables-save -t nat | grep -E 'KUBE-SVC|10.96' | head -40")
	fmt.Fprintf(&b, "$ iptables-save -t nat\n%s\n%s", out, c.Journal(30, "kube-proxy"))
	return b.String()
}
