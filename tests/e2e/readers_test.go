package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unloop/unloop/tests/testbed"
)

// emptyResolvCorefile is a CoreDNS that listens on 127.0.0.1 only (beside
// resolved's 127.0.0.53) and forwards '.' to its copy of the pod file.
const emptyResolvCorefile = `.:53 {
    errors
    bind 127.0.0.1
    loop
    forward . /etc/resolv.conf
}
`

// TestRealKubeletResolvConfEmpty runs kubelet v1.34's rule for resolvConf ""
// on the real kubelet: a CoreDNS pod with dnsPolicy Default gets nameserver
// 127.0.0.1 and search "." (GetPodDNS, no --node-ip) and dies of
// plugin/loop; check reports it at the setting, and apply points kubelet at
// a clean file, which the pod's next sandbox holds.
func TestRealKubeletResolvConfEmpty(t *testing.T) {
	b := newKubeletBed(t, testbed.Releases[len(testbed.Releases)-1], "UPSTREAM")
	n := b.Node
	// The node's own DNS from DHCP (dhclient writes the upstream into
	// /etc/resolv.conf): a clean upstream for apply to find.
	n.Run("systemctl", "disable", "--now", "systemd-resolved.service")
	must(t, os.Remove(filepath.Join(must1(n.Path("/etc")), "resolv.conf")))
	must(t, n.WriteFile("/etc/resolv.conf", nil, 0o644))
	b.startDHCP(b.Upstream)
	must(t, n.WriteFile("/etc/coredns-empty/Corefile", []byte(emptyResolvCorefile), 0o644))
	testbed.StartKubelet(t, n, testbed.KubeletConfigFor(n, "resolvConf: \"\"\n"))
	testbed.AddPod(t, n, testbed.Pod{Name: "coredns-empty", HostNetwork: true,
		Labels: map[string]string{"k8s-app": "kube-dns"}, ConfigDir: "/etc/coredns-empty"})
	sb, run := crashLoops(t, n, "coredns-empty")
	copy := string(must1(n.ReadFile(sandboxCopy(sb.ID))))
	if !strings.Contains(copy, "nameserver 127.0.0.1") || !strings.Contains(copy, "search .") {
		t.Fatalf("the sandbox's copy of the pod file with resolvConf \"\":\n%s\nwant nameserver 127.0.0.1 and search .", copy)
	}
	t.Logf("sandbox %s's resolv.conf:\n%s\nCoreDNS: %s", sb.ID[:12], copy, lineWith(n.Run(testbed.Crictl, "logs", run.ID), "FATAL"))

	out, code := testbed.Unloop(t, n, "check", "--output", "json")
	var doc struct {
		Findings []struct{ Code, File, Address string }
	}
	must(t, json.Unmarshal([]byte(out), &doc))
	found := false
	for _, f := range doc.Findings {
		found = found || (f.Code == "nameserver-loopback" && f.File == "/var/lib/kubelet/config.yaml" && f.Address == "127.0.0.1")
	}
	if code != 2 || !found {
		t.Fatalf("check (exit %d) does not report resolvConf \"\" as nameserver-loopback 127.0.0.1 in /var/lib/kubelet/config.yaml:\n%s", code, out)
	}

	if out, code := testbed.Unloop(t, n, "apply", "--strategy", "kubelet"); code != 0 {
		t.Fatalf("apply --strategy kubelet: exit %d:\n%s", code, out)
	}
	sb = newSandbox(t, n, "coredns-empty", sb.ID)
	copy = string(must1(n.ReadFile(sandboxCopy(sb.ID))))
	if strings.Contains(copy, "127.0.0.1") || !strings.Contains(copy, "nameserver ") {
		t.Fatalf("after apply, the new sandbox's copy of the pod file:\n%s", copy)
	}
	if out, code := testbed.Unloop(t, n, "check"); code != 0 {
		t.Fatalf("check after apply: exit %d:\n%s", code, out)
	}
}

// lineWith is the first line of s that holds sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
