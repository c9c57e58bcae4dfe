package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// The kubelet of the watch's inputs test: kubeadm's layout, where the node's
// own flags name a --config at a site path and a --config-dir whose first
// drop-in is a chain of links inside the root. None of these paths is one
// that a fixed list of kubelet's usual files has.
var watchInputsFiles = map[string]node.File{
	// Not started: the check reads its unit, what runs it does not matter.
	"/etc/systemd/system/kubelet.service": {Data: []byte("[Service]\nExecStart=/usr/bin/kubelet\n")},
	"/etc/systemd/system/kubelet.service.d/10-kubeadm.conf": {Data: []byte(`[Service]
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
ExecStart=
ExecStart=/usr/bin/kubelet --config=/etc/site/kubelet.yaml $KUBELET_KUBEADM_ARGS
`)},
	"/var/lib/kubelet/kubeadm-flags.env":    {Data: []byte(`KUBELET_KUBEADM_ARGS="--config-dir=/etc/site/kubelet.conf.d"` + "\n")},
	"/etc/site/kubelet.yaml":                {Data: []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n")},
	"/etc/site/kubelet.conf.d/10-base.conf": {Link: "/opt/site/current.conf"},
	"/opt/site/current.conf":                {Link: "v2/base.conf"},
	"/opt/site/v2/base.conf":                {Data: []byte("apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n")},
}

// TestWatchSeesCheckInputs is issue 20's regression: `unloop watch` watches
// every file its last check read, not a fixed list. On a booted node, each
// of the kubelet's inputs that only the node's own settings name is changed
// in turn, and the watch must check again on that change, well before its
// next scheduled check (--interval 10m): a --config-dir drop-in,
// kubeadm-flags.env gaining --resolv-conf, a kubelet.service.d drop-in, the
// custom --config file, and the file at the end of a chain of links.
func TestWatchSeesCheckInputs(t *testing.T) {
	n := testbed.Boot(t, binDir, node.Options{Release: "bookworm", Overlay: t.TempDir(), Files: watchInputsFiles})
	startUnitArgs(t, n, []string{"systemd-run", "--unit", "unloop-watch", "--collect",
		"/opt/unloop/unloop", "watch", "--interval", "10m", "--output", "json", "--log-format", "json"})
	log := func() string {
		out, _ := n.Exec(context.Background(), "journalctl", "-b", "--no-pager", "-o", "cat", "-u", "unloop-watch.service")
		return out
	}
	checks := func(trigger string) int {
		c := 0
		for _, l := range strings.Split(log(), "\n") {
			if strings.Contains(l, `"msg":"checked"`) && strings.Contains(l, `"trigger":"`+trigger+`"`) {
				c++
			}
		}
		return c
	}
	// The first check, and its inputs watched (said once, after it; not
	// required: a watch that never says so fails below, on the changes).
	testbed.WaitFor(t, 30*time.Second, "the first check", func() bool { return checks("start") == 1 })
	testbed.Poll(5*time.Second, func() bool { return strings.Contains(log(), "the check's inputs") })

	yaml := "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	for _, c := range []struct{ what, path, data string }{
		{"a --config-dir drop-in", "/etc/site/kubelet.conf.d/20-dns.conf", yaml + "resolvConf: /run/systemd/resolve/resolv.conf\n"},
		{"kubeadm-flags.env gaining --resolv-conf", "/var/lib/kubelet/kubeadm-flags.env",
			`KUBELET_KUBEADM_ARGS="--config-dir=/etc/site/kubelet.conf.d --resolv-conf=/run/systemd/resolve/resolv.conf"` + "\n"},
		{"a kubelet.service.d drop-in", "/etc/systemd/system/kubelet.service.d/20-extra.conf", "[Service]\nEnvironment=KUBELET_EXTRA_ARGS=--v=2\n"},
		{"the custom --config file", "/etc/site/kubelet.yaml", yaml + "clusterDomain: cluster.local\n"},
		{"the target of a chain of links", "/opt/site/v2/base.conf", yaml + "clusterDomain: cluster.local\n"},
	} {
		before := checks("change")
		start := time.Now()
		must(t, n.WriteFile(c.path, []byte(c.data), 0o644))
		if !testbed.Poll(30*time.Second, func() bool { return checks("change") > before }) {
			t.Errorf("%s (%s): no check within 30 s of the change (the next scheduled one is 10 minutes away)", c.what, c.path)
			continue
		}
		t.Logf("%s: checked again %v after the change", c.what, time.Since(start).Round(time.Millisecond))
	}
	if n := checks("interval"); n != 0 {
		t.Errorf("%d scheduled checks: the test ran into the interval", n)
	}
	if t.Failed() {
		t.Logf("watch's log:\n%s", log())
	}
	_, _ = n.Exec(context.Background(), "systemctl", "stop", "unloop-watch.service")
}
