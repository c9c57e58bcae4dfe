package reliability

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

const (
	nmProfile = "/etc/NetworkManager/system-connections/eth0.nmconnection"
	nmGlobal  = "/etc/NetworkManager/conf.d/90-kubespray-dns.conf"
)

// TestNetworkManagerFixedAtItsSource: a real NetworkManager (bookworm's
// 1.42) writes /etc/resolv.conf (dns=default, rc-manager=file), which
// kubelet gives pods, with the node cache's address, first from the eth0
// profile's ipv4.dns (a keyfile), then from a conf.d file's
// [global-dns-domain-*] servers= (Kubespray's two ways), on one node. For
// each, check traces the address to NetworkManager's file and line; apply
// (auto) removes it there and reloads NetworkManager over D-Bus
// (LoadConnections and Reapply for the profile, Reload CONF|DNS_RC for
// conf.d), NetworkManager writes resolv.conf clean, and it stays clean after
// NetworkManager reloads again; rollback restores the file byte for byte and
// the loop (the same resolv.conf) is back. Then netplan's YAML as the
// source, on the same node (netplanLoopFixed).
func TestNetworkManagerFixedAtItsSource(t *testing.T) {
	for _, release := range testbed.Releases {
		t.Run(release, func(t *testing.T) {
			t.Parallel()
			b := newBedWith(t, release+"nm", func(b *bed) map[string]node.File {
				return map[string]node.File{
					// A file of NetworkManager's own, not resolved's stub link.
					"/etc/resolv.conf":                     {Data: []byte("nameserver " + b.Upstream + "\n")},
					"/etc/NetworkManager/conf.d/node.conf": {Data: []byte("[main]\ndns=default\nrc-manager=file\n")},
					nmProfile:                              {Data: []byte(nmKeyfile(b, nodeCache+";"+b.Upstream+";")), Mode: 0o600},
				}
			}, "NetworkManager.service")
			n := b.Node
			// NetworkManager found eth0 configured at its start and took it
			// as external: bring the profile up over it.
			nmcli(t, b, "connection", "up", "node-eth0")

			// The profile's ipv4.dns.
			nmLoopFixed(t, b, nmProfile, 9, "nmcli", "device", "reapply", "eth0")

			// The conf.d global DNS, the profile clean again.
			must(t, n.WriteFile(nmProfile, []byte(nmKeyfile(b, b.Upstream+";")), 0o600))
			nmcli(t, b, "connection", "load", nmProfile)
			nmcli(t, b, "device", "reapply", "eth0")
			must(t, n.WriteFile(nmGlobal, []byte("# Kubespray: the node cache first\n[global-dns-domain-*]\nservers="+nodeCache+","+b.Upstream+"\n"), 0o644))
			nmcli(t, b, "general", "reload", "conf,dns-rc")
			nmLoopFixed(t, b, nmGlobal, 3, "nmcli", "general", "reload", "conf,dns-rc")

			// netplan rendering eth0 for NetworkManager (issue 24), on this node.
			netplanLoopFixed(t, b)
		})
	}
}

// nmKeyfile is the eth0 profile with ipv4.dns=dns: the bed's address, as
// the node has it, so NetworkManager takes eth0 over as it is.
func nmKeyfile(b *bed, dns string) string {
	return "[connection]\nid=node-eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\naddress1=" + b.NodeAddr + "/24\n" +
		"# Kubespray: the node cache first\ndns=" + dns + "\nmethod=manual\n\n[ipv6]\nmethod=disabled\n"
}

func nmcli(t *testing.T, b *bed, args ...string) {
	t.Helper()
	if out, err := b.Node.Exec(context.Background(), append([]string{"nmcli"}, args...)...); err != nil {
		t.Fatalf("nmcli %s: %v\n%s\nNetworkManager:\n%s", strings.Join(args, " "), err, out, b.journal("NetworkManager.service"))
	}
}

// nmLoopFixed takes the loop NetworkManager writes from line of file through
// check, apply, NetworkManager's reload (reload, a command in the node) and
// rollback.
func nmLoopFixed(t *testing.T, b *bed, file string, line int, reload ...string) {
	n := b.Node
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(b.hostResolv(), "nameserver "+nodeCache+"\n"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			dev, _ := n.Exec(context.Background(), "nmcli", "device")
			t.Fatalf("NetworkManager did not write the node cache into /etc/resolv.conf in 30 s:\n%s\nnmcli device:\n%s\nNetworkManager:\n%s", b.hostResolv(), dev, b.journal("NetworkManager.service"))
		}
	}
	looping, source := b.hostResolv(), nmRead(t, b, file)

	r := b.unloop(time.Minute, "unloop", nil, "check", "--output", "json")
	var rep struct {
		Findings []struct {
			Code, File, Message string
			Line                int
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("check: %v\n%s", err, r)
	}
	traced := false
	for _, f := range rep.Findings {
		traced = traced || f.Code == "networkmanager-injects-nameserver" && f.File == file && f.Line == line
	}
	if r.Code == 0 || !traced || !strings.Contains(r.Stdout, "NetworkManager put it there: "+file) {
		t.Fatalf("check before apply, want networkmanager-injects-nameserver at %s:%d and the resolv.conf line traced there: %s", file, line, r)
	}

	a, clean := applyUntilClean(n, b.hostResolv)
	took := a.r.Dur
	if a.err != nil {
		t.Fatalf("apply: %v\n%s\nNetworkManager:\n%s", a.err, a.r.Stdout, b.journal("NetworkManager.service"))
	}
	res := decode(t, a.r)
	var reloaded bool
	for _, c := range res.Changes {
		if c.Kind == "file" && c.Path != file {
			t.Errorf("apply changed %s: the fix at the source is %s alone", c.Path, file)
		}
		reloaded = reloaded || c.Unit == "NetworkManager.service" && c.Skipped == nil
	}
	if !res.Verified || !reloaded {
		t.Fatalf("apply not verified, or NetworkManager not reloaded: %s", a.r.Stdout)
	}
	fixed := nmRead(t, b, file)
	if strings.Contains(fixed, nodeCache) || !strings.Contains(fixed, b.Upstream) {
		t.Errorf("%s after apply:\n%s", file, fixed)
	}
	if hp, err := n.Path(file); err != nil {
		t.Error(err)
	} else if fi, err := os.Stat(hp); err != nil || file == nmProfile && fi.Mode().Perm() != 0o600 {
		t.Errorf("%s's mode after apply: %v (%v), want a keyfile's 0600", file, fi.Mode(), err)
	}
	t.Logf("%s: apply took %v; /etc/resolv.conf was clean %v after apply started", file, took, clean)
	if rc := b.hostResolv(); clean == 0 || strings.Contains(rc, nodeCache) || !strings.Contains(rc, "nameserver "+b.Upstream+"\n") {
		t.Fatalf("/etc/resolv.conf after apply:\n%s", rc)
	}

	// NetworkManager reloads again: the file stays clean.
	n.Run(reload...)
	if rc := b.hostResolv(); strings.Contains(rc, nodeCache) || !strings.Contains(rc, "nameserver "+b.Upstream+"\n") {
		t.Errorf("/etc/resolv.conf after %s:\n%s", strings.Join(reload, " "), rc)
	}
	if r := b.unloop(time.Minute, "unloop", nil, "check", "--output", "json"); r.Code != 0 {
		t.Errorf("check after apply: %s", r)
	}

	if r := b.unloop(time.Minute, "unloop", nil, "rollback"); r.Code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	if got := nmRead(t, b, file); got != source {
		t.Errorf("%s after rollback:\n%s\nwant, byte for byte:\n%s", file, got, source)
	}
	testbed.WaitFor(t, 20*time.Second, "the loop back in /etc/resolv.conf after rollback", func() bool {
		return b.hostResolv() == looping
	})
}

func nmRead(t *testing.T, b *bed, file string) string {
	t.Helper()
	d, err := b.Node.ReadFile(file)
	must(t, err)
	return string(d)
}

// hostResolv is the node's /etc/resolv.conf as it is now.
func (b *bed) hostResolv() string {
	d, _ := b.Node.ReadFile("/etc/resolv.conf")
	return string(d)
}
