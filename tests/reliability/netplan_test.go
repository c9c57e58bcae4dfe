package reliability

import (
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/testbed"
)

const (
	netplanYAML     = "/etc/netplan/60-node.yaml"
	netplanRendered = "/run/NetworkManager/system-connections/netplan-eth0.nmconnection"
)

// netplanLoopFixed, on TestNetworkManagerFixedAtItsSource's node (no node
// of its own: make test's budget): the real netplan (bookworm's 0.106,
// trixie's 1.1) renders eth0 for NetworkManager from YAML whose nameservers
// hold the node cache's address, and NetworkManager writes it into
// /etc/resolv.conf. check traces it to the YAML's line through the rendered
// keyfile; apply removes it from the YAML (and writes the keyfile as netplan
// generate would) and reloads NetworkManager over D-Bus, so /etc/resolv.conf
// is clean; netplan generates again and NetworkManager reloads its profiles:
// it stays clean, the keyfile what unloop wrote; rollback restores both
// files byte for byte and the loop is back.
func netplanLoopFixed(t *testing.T, b *bed) {
	n := b.Node
	n.Run("rm", "-f", nmGlobal, nmProfile)
	nmcli(t, b, "general", "reload", "conf,dns-rc")
	nmcli(t, b, "connection", "reload")
	yaml := "# the node's own address; Kubespray put the node cache first\nnetwork:\n  version: 2\n  renderer: NetworkManager\n  ethernets:\n    eth0:\n" +
		"      addresses: [" + b.NodeAddr + "/24]\n      nameservers:\n        addresses:\n          - " + nodeCache + "\n          - " + b.Upstream + "\n"
	must(t, n.WriteFile(netplanYAML, []byte(yaml), 0o600))
	n.Run("netplan", "generate")
	nmcli(t, b, "connection", "reload")
	nmcli(t, b, "connection", "up", "netplan-eth0")
	testbed.WaitFor(t, 30*time.Second, "NetworkManager writing netplan's servers into /etc/resolv.conf", func() bool {
		return b.hostResolv() != "" && strings.Contains(b.hostResolv(), "nameserver "+nodeCache+"\n")
	})
	looping, rendered := b.hostResolv(), nmRead(t, b, netplanRendered)

	if r := b.unloop(time.Minute, "unloop", nil, "check", "--output", "json"); r.Code == 0 || !decode(t, r).has("netplan-injects-nameserver") ||
		!strings.Contains(r.Stdout, netplanYAML) || !strings.Contains(r.Stdout, netplanRendered) {
		t.Fatalf("check before apply, want netplan-injects-nameserver at %s through %s: %s", netplanYAML, netplanRendered, r)
	}
	a, clean := applyUntilClean(n, b.hostResolv)
	if a.err != nil {
		t.Fatalf("apply: %v\n%s\nNetworkManager:\n%s", a.err, a.r.Stdout, b.journal("NetworkManager.service"))
	}
	res := decode(t, a.r)
	reloaded := false
	for _, c := range res.Changes {
		if c.Kind == "file" && c.Path != netplanYAML && c.Path != netplanRendered {
			t.Errorf("apply changed %s: the fix is netplan's YAML and the file it renders", c.Path)
		}
		reloaded = reloaded || c.Unit == "NetworkManager.service" && c.Skipped == nil
	}
	if !res.Verified || !reloaded {
		t.Fatalf("apply not verified, or NetworkManager not reloaded: %s", a.r.Stdout)
	}
	t.Logf("netplan: apply took %v; /etc/resolv.conf was clean %v after apply started", a.r.Dur, clean)
	if rc := b.hostResolv(); clean == 0 || strings.Contains(rc, nodeCache) || !strings.Contains(rc, "nameserver "+b.Upstream+"\n") {
		t.Fatalf("/etc/resolv.conf after apply:\n%s", rc)
	}
	written := nmRead(t, b, netplanRendered)

	// netplan renders the edited YAML again, NetworkManager reloads it.
	n.Run("netplan", "generate")
	if got := nmRead(t, b, netplanRendered); got != written {
		t.Errorf("netplan generate after apply rendered\n%s\nwhere unloop wrote\n%s", got, written)
	}
	nmcli(t, b, "connection", "reload")
	nmcli(t, b, "device", "reapply", "eth0")
	if rc := b.hostResolv(); strings.Contains(rc, nodeCache) {
		t.Errorf("/etc/resolv.conf after netplan generate and a reload:\n%s", rc)
	}

	if r := b.unloop(time.Minute, "unloop", nil, "rollback"); r.Code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	if got := nmRead(t, b, netplanYAML); got != yaml {
		t.Errorf("%s after rollback:\n%s\nwant, byte for byte:\n%s", netplanYAML, got, yaml)
	}
	if got := nmRead(t, b, netplanRendered); got != rendered {
		t.Errorf("%s after rollback:\n%s\nwant, byte for byte:\n%s", netplanRendered, got, rendered)
	}
	testbed.WaitFor(t, 20*time.Second, "the loop back in /etc/resolv.conf after rollback", func() bool {
		return b.hostResolv() == looping
	})
}
