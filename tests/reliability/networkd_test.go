package reliability

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

const (
	uplinkFile  = "/run/systemd/resolve/resolv.conf"
	networkFile = "/etc/systemd/network/10-eth0.network"
	unloopDrop  = "/etc/systemd/network/10-eth0.network.d/99-unloop-dns.conf"
	nodeCache   = "169.254.25.10"
)

// TestNetworkdFixedAtItsSource: a real systemd-networkd (bookworm's v252,
// trixie's v257) hands resolved the node cache's address from a .network file's DNS=, and
// resolved writes it into its uplink file, which kubelet gives pods. apply
// (auto) fixes it where it is made: unloop's drop-in sets DNS= again without
// the address, networkd is reloaded, and resolved rewrites its uplink file
// clean, which networkctl shows too. rollback removes the drop-in, reloads
// networkd, and the loop (the same uplink file, byte for byte) is back.
func TestNetworkdFixedAtItsSource(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newBed(t, release)
		networkdLoopFixed(t, b, "DNS="+nodeCache+"\nDNS="+b.Upstream+"\n", "[Network]\nDNS=\nDNS="+b.Upstream+"\n")
	})
}

// TestNetworkdLeaseFixedAtItsSource: the same with the node cache's address
// handed out by a real DHCP server (dnsmasq) to networkd's own DHCP client:
// the drop-in says [DHCPv4] UseDNS=no and keeps the lease's clean server.
func TestNetworkdLeaseFixedAtItsSource(t *testing.T) {
	testbed.ForEachRelease(t, func(t *testing.T, release string) {
		b := newBed(t, release)
		b.DHCP("option:dns-server," + nodeCache + "," + b.Upstream)
		networkdLoopFixed(t, b, "DHCP=ipv4\n", "[Network]\nDNS=\nDNS="+b.Upstream+"\n\n[DHCPv4]\nUseDNS=no\n")
	})
}

// networkdLoopFixed runs networkd on the bed with a .network file for eth0
// of these [Network] settings, and takes the loop through apply and
// rollback; the drop-in must hold want.
func networkdLoopFixed(t *testing.T, b *bed, settings, want string) {
	n := b.Node
	// KeepConfiguration=static keeps the bed's address on eth0 (networkd
	// drops addresses it did not configure, v252); no IPv6 link-local
	// address to wait for.
	network := "[Match]\nName=eth0\n\n[Network]\nKeepConfiguration=static\nLinkLocalAddressing=no\n" + settings
	must(t, n.WriteFile(networkFile, []byte(network), 0o644))
	kcfg := strings.Replace(testbed.KubeletConfig, "healthzPort: 0\n", "healthzPort: 0\nresolvConf: "+uplinkFile+"\n", 1)
	must(t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(kcfg), 0o644))
	n.Run("systemctl", "restart", "kubelet.service")
	n.Run("systemctl", "start", "systemd-networkd.service")
	testbed.WaitFor(t, 30*time.Second, "networkd's servers in resolved's uplink file", func() bool {
		return strings.Contains(b.uplink(), "nameserver "+nodeCache+"\n")
	})
	looping := b.uplink()

	if r := b.unloop(time.Minute, "unloop", nil, "plan", "--output", "json"); r.Code != 0 || decode(t, r).Status != "error" || !decode(t, r).has("networkd-injects-nameserver") {
		t.Fatalf("plan before apply, want networkd-injects-nameserver: %s", r)
	}

	// The time from apply's start to resolved's file being clean, watched
	// from the host while apply runs.
	a, clean := applyUntilClean(n, b.uplink, nodeCache)
	if a.err != nil {
		t.Fatalf("apply: %v\n%s\nnetworkd:\n%s", a.err, a.r.Stdout, b.journal("systemd-networkd.service"))
	}
	rep := decode(t, a.r)
	if !rep.Verified || rep.Run == "" {
		t.Fatalf("apply not verified: %s", a.r.Stdout)
	}
	var reloaded bool
	for _, c := range rep.Changes {
		if c.Kind == "file" && c.Path != unloopDrop {
			t.Errorf("apply changed %s: the fix at the source is the drop-in alone", c.Path)
		}
		reloaded = reloaded || c.Unit == "systemd-networkd.service" && c.Skipped == nil
	}
	if !reloaded {
		t.Errorf("apply did not reload systemd-networkd: %s", a.r.Stdout)
	}
	if d, err := n.ReadFile(unloopDrop); err != nil || !strings.HasSuffix(string(d), want) {
		t.Errorf("drop-in (%v):\n%s\nwant it to end with:\n%s", err, d, want)
	}
	t.Logf("apply took %v; resolved's uplink file was clean %v after apply started", a.r.Dur, clean)
	if up := b.uplink(); clean == 0 || strings.Contains(up, nodeCache) || !strings.Contains(up, "nameserver "+b.Upstream+"\n") {
		t.Fatalf("uplink file after apply:\n%s", up)
	}
	if st := n.Run("networkctl", "status", "eth0"); strings.Contains(st, nodeCache) {
		t.Errorf("networkctl still hands resolved %s:\n%s", nodeCache, st)
	}
	if r := b.unloop(time.Minute, "unloop", nil, "check", "--output", "json"); r.Code != 0 {
		t.Errorf("check after apply: %s", r)
	}

	if r := b.unloop(time.Minute, "unloop", nil, "rollback"); r.Code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	if _, err := n.ReadFile(unloopDrop); err == nil {
		t.Errorf("%s left after rollback", unloopDrop)
	}
	if out, _ := n.Exec(context.Background(), "ls", "-A", "/etc/systemd/network"); strings.TrimSpace(out) != "10-eth0.network" {
		t.Errorf("/etc/systemd/network after rollback: %q, want only the .network file", out)
	}
	if d, _ := n.ReadFile(networkFile); string(d) != network {
		t.Errorf("%s after rollback:\n%s", networkFile, d)
	}
	testbed.WaitFor(t, 20*time.Second, "the loop back in resolved's uplink file after rollback", func() bool {
		return b.uplink() == looping
	})
}

// uplink is resolved's uplink file as it is now.
func (b *bed) uplink() string {
	d, _ := b.Node.ReadFile(uplinkFile)
	return string(d)
}

// applied is an apply run in a node: its output and how long it took.
type applied struct {
	r   result
	err error
}

// applyUntilClean runs apply in n and, from the host, watches file (a
// reader of the node's file) while it runs: clean is the time from apply's
// start to the file no longer naming loop (an address), 0 when it never
// did while apply ran.
func applyUntilClean(n *node.Node, file func() string, loop string) (a applied, clean time.Duration) {
	done := make(chan applied, 1)
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := n.Exec(ctx, "/opt/unloop/unloop", "apply", "--output", "json")
		done <- applied{result{Stdout: out, Dur: time.Since(start)}, err}
	}()
	for waiting := true; waiting; {
		select {
		case a = <-done:
			waiting = false
		case <-time.After(5 * time.Millisecond):
		}
		if clean == 0 && !strings.Contains(file(), "nameserver "+loop+"\n") {
			clean = time.Since(start)
		}
	}
	return a, clean
}
