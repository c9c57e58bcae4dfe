package configs

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// resolvconfScript runs in a chroot of the RELEASEresolvconf rootfs (Debian's
// resolvconf 1.91+nmu1 and dnsmasq 2.90 in bookworm, 1.94 and 2.91 in trixie;
// no systemd-resolved): the real
// resolvconf writes the loop, unloop checks, applies, resolvconf -u (and
// dnsmasq's own start_resolvconf) run again, and unloop rolls back. Each
// step's output and files go to /tmp/out for the test to read.
const resolvconfScript = `
set -eu
o=/tmp/out
keep() { cp /run/resolvconf/resolv.conf "$o/$1.conf"; }
mkdir -p /run/resolvconf/interface
resolvconf --enable-updates
echo 'nameserver 10.0.0.2' | resolvconf -a eth0.dhclient
case "$1" in
head)
	echo 'nameserver 169.254.25.10' >>/etc/resolvconf/resolv.conf.d/head
	resolvconf -u ;;
dnsmasq)
	# What dnsmasq's unit runs at its start (its systemd-helper); trixie's
	# (2.91) runs resolvconf in the background: wait for it.
	sh -c '. /etc/default/dnsmasq; NAME=dnsmasq; . /usr/share/dnsmasq/init-system-common; start_resolvconf; wait' ;;
esac
keep loop
/opt/unloop/unloop check --offline --output json >"$o/check.json" || :
/opt/unloop/unloop apply --offline --output json >"$o/apply.json"
keep applied
[ "$1" = dnsmasq ] && sh -c '. /etc/default/dnsmasq; NAME=dnsmasq; . /usr/share/dnsmasq/init-system-common; start_resolvconf; wait'
resolvconf -u
keep regenerated
/opt/unloop/unloop rollback --offline >"$o/rollback.txt"
keep rolledback
`

// TestResolvconfRealProgram: the loop written by the real Debian resolvconf
// from its head (the node cache's address, as Kubespray's older mode does)
// and from dnsmasq's registration of itself (lo.dnsmasq, 127.0.0.1, which
// also cuts the servers after it). check names the input's file and line;
// apply fixes it there and writes /run/resolvconf/resolv.conf as the real
// `resolvconf -u` then writes it, byte for byte, so it stays clean; rollback
// brings the loop back byte for byte. No node is booted: a chroot over an
// overlay of the cached rootfs, in a private mount namespace.
func TestResolvconfRealProgram(t *testing.T) {
	for _, release := range testbed.Releases {
		rootfs, err := node.Rootfs(release + "resolvconf")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ input, at, addr string }{
			{"head", "/etc/resolvconf/resolv.conf.d/head", "169.254.25.10"},
			{"dnsmasq", "/run/resolvconf/interface/lo.dnsmasq", "127.0.0.1"},
		} {
			t.Run(release+"/"+tt.input, func(t *testing.T) {
				resolvconfLoop(t, rootfs, resolvconfScript, tt.input, tt.at, tt.addr)
			})
		}
	}
}

// resolvconfLoop runs script (resolvconfScript, openresolvScript) for input
// in a chroot of rootfs and checks what it left: the files it kept of each
// step, and check's finding at the input's file.
func resolvconfLoop(t *testing.T, rootfs, script, input, at, addr string) {
	t.Helper()
	// Debian's resolvconf keeps its records in /run/resolvconf/interface;
	// openresolv makes its own state folder.
	runDir := "/run"
	if script == resolvconfScript {
		runDir = "/run/resolvconf/interface"
	}
	out := chrootRun(t, rootfs, runDir, strings.Replace(script, "o=/tmp/out", "o=/tmp", 1), input)
	read := reader(t, out)
	loop := read("loop.conf")
	if !strings.Contains(loop, "nameserver "+addr+"\n") {
		t.Fatalf("resolvconf did not write the loop:\n%s", loop)
	}
	var rep struct {
		Findings []struct{ Code, File string }
	}
	must(t, json.Unmarshal([]byte(read("check.json")), &rep))
	found := false
	for _, f := range rep.Findings {
		found = found || f.Code == "resolvconf-injects-nameserver" && f.File == at
	}
	if !found {
		t.Errorf("check does not name %s: %s", at, read("check.json"))
	}
	applied, regenerated := read("applied.conf"), read("regenerated.conf")
	if strings.Contains(applied, addr) || !strings.Contains(applied, "nameserver 10.0.0.2\n") {
		t.Errorf("resolvconf's file after apply:\n%s", applied)
	}
	if regenerated != applied {
		t.Errorf("resolvconf -u after apply wrote\n%s\nwhere unloop wrote\n%s", regenerated, applied)
	}
	if got := read("rolledback.conf"); got != loop {
		t.Errorf("after rollback:\n%s\nwant the loop back:\n%s", got, loop)
	}
}
