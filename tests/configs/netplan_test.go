package configs

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// netplanScript runs in a chroot of the RELEASEnm rootfs (netplan.io 0.106
// in bookworm, 1.1 in trixie): the real `netplan generate` renders the loop
// (Kubespray's nodelocaldns address in cloud-init's YAML) into networkd's
// .network file; unloop checks, applies, the real `netplan generate` runs
// again on the edited YAML, and unloop rolls back and netplan generates once
// more. systemd-resolved does not run in a chroot: its uplink file is
// written from the rendered DNS= lines, in their order, as resolved writes
// them. Each step's files go to /tmp for the test to read.
const netplanScript = `
set -eu
y=/etc/netplan/50-cloud-init.yaml n=/run/systemd/network/10-netplan-eth0.network u=/run/systemd/resolve/resolv.conf
keep() { cp "$y" "/tmp/$1.yaml"; cp "$n" "/tmp/$1.network"; }
mkdir -p /etc/netplan
case "$1" in
static) cat >"$y" <<'EOF_YAML'
# This file is generated from information provided by the datasource.
network:
  version: 2
  ethernets:
    eth0:
      match:
        macaddress: "52:54:00:12:34:56"
      set-name: eth0
      nameservers:
        addresses:
          - 169.254.25.10 # Kubespray: nodelocaldns
          - 10.0.0.2
        search: [cluster.local]
EOF_YAML
;;
dhcp)
	# The DHCP server hands out the node cache's address: networkd's lease
	# and link state as networkd v252 saves them (networkd does not run in
	# a chroot).
	cat >"$y" <<'EOF_YAML'
network:
  version: 2
  ethernets:
    eth0:
      dhcp4: true
EOF_YAML
	mkdir -p /run/systemd/netif/leases /run/systemd/netif/links
	printf 'ADDRESS=10.0.0.57\nDNS=169.254.25.10 10.0.0.2\n' >/run/systemd/netif/leases/2
	printf 'NETWORK_FILE=%s\nDNS=169.254.25.10 10.0.0.2\n' "$n" >/run/systemd/netif/links/2 ;;
esac
chmod 600 "$y"
netplan generate
keep loop
{ printf '# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\n# Do not edit.\n\n'
  sed -n 's/^DNS=/nameserver /p' "$n"
  [ "$1" = static ] || printf 'nameserver 169.254.25.10\nnameserver 10.0.0.2\n'; } >"$u"
/opt/unloop/unloop check --offline --output json >/tmp/check.json || :
/opt/unloop/unloop apply --offline --strategy netplan --output json >/tmp/apply.json || [ $? = 4 ] # 4: in effect at the reload
keep applied
cp "$u" /tmp/applied.uplink
netplan generate
keep regenerated
/opt/unloop/unloop rollback --offline >/tmp/rollback.txt
keep rolledback
netplan generate
keep regenerated-rolledback
`

// TestNetplanRealProgram: the loop written by the real netplan into
// networkd's file; check names the YAML's file and line and the rendered
// file; apply removes the address from the YAML (its comments and every
// other byte kept) and writes the rendered file as the real `netplan
// generate` then writes it, byte for byte, so the fix holds when netplan
// renders again (netplan apply, its generator at boot); rollback brings the
// YAML and the rendered file back byte for byte. No node is booted.
func TestNetplanRealProgram(t *testing.T) {
	for _, release := range testbed.Releases {
		rootfs, err := node.Rootfs(release + "nm")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ input, at, loop, applied string }{
			{"static", "/etc/netplan/50-cloud-init.yaml:11", "DNS=169.254.25.10\n", "DNS=10.0.0.2\n"},
			// The lease brought it: use-dns: false, the lease's clean server kept as a nameserver.
			{"dhcp", "/etc/netplan/50-cloud-init.yaml:5", "DHCP=ipv4\n", "DNS=10.0.0.2\n\n[DHCP]\nRouteMetric=100\nUseMTU=true\nUseDNS=false\n"},
		} {
			t.Run(release+"/"+tt.input, func(t *testing.T) { netplanLoop(t, rootfs, tt.input, tt.at, tt.loop, tt.applied) })
		}
	}
}

// netplanLoop runs netplanScript for input in a chroot of rootfs: check
// names at (file:line); the rendered file holds loop before apply and
// applied after it, as the real netplan generate renders it again.
func netplanLoop(t *testing.T, rootfs, input, at, loopText, appliedText string) {
	out := chrootRunKubelet(t, rootfs, "/run/systemd/resolve",
		"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nresolvConf: /run/systemd/resolve/resolv.conf\n", netplanScript, input)
	read := reader(t, out)
	loop := read("loop.network")
	if !strings.Contains(loop, loopText) {
		t.Fatalf("netplan did not render the loop:\n%s", loop)
	}
	var rep struct {
		Findings []struct {
			Code, File string
			Line       int
			Chain      []string
		}
	}
	must(t, json.Unmarshal([]byte(read("check.json")), &rep))
	found := false
	for _, f := range rep.Findings {
		if f.Code == "netplan-injects-nameserver" && fmt.Sprintf("%s:%d", f.File, f.Line) == at {
			found = strings.Contains(strings.Join(f.Chain, "\n"), "/run/systemd/network/10-netplan-eth0.network")
		}
	}
	if !found {
		t.Errorf("check does not name %s through the rendered file: %s", at, read("check.json"))
	}
	if input == "static" {
		wantYAML := strings.Replace(read("loop.yaml"), "          - 169.254.25.10 # Kubespray: nodelocaldns\n", "", 1)
		if got := read("applied.yaml"); got != wantYAML {
			t.Errorf("the YAML after apply:\n%s\nwant only the looping line gone:\n%s", got, wantYAML)
		}
	}
	applied := read("applied.network")
	if strings.Contains(applied, "169.254.25.10") || !strings.Contains(applied, appliedText) {
		t.Errorf("the rendered file after apply:\n%s", applied)
	}
	if got := read("regenerated.network"); got != applied {
		t.Errorf("netplan generate after apply rendered\n%s\nwhere unloop wrote\n%s", got, applied)
	}
	if got := read("applied.uplink"); strings.Contains(got, "169.254.25.10") {
		t.Errorf("resolved's uplink file after apply (offline: networkd is not reloaded):\n%s", got)
	}
	if got := read("rolledback.yaml"); got != read("loop.yaml") {
		t.Errorf("the YAML after rollback:\n%s\nwant the loop back:\n%s", got, read("loop.yaml"))
	}
	for _, name := range []string{"rolledback.network", "regenerated-rolledback.network"} {
		if got := read(name); got != loop {
			t.Errorf("%s:\n%s\nwant the loop back:\n%s", name, got, loop)
		}
	}
}
