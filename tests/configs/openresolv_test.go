package configs

import (
	"testing"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// openresolvScript runs in a chroot of the RELEASEopenresolv rootfs
// (openresolv 3.12.0 in bookworm, 3.13.2 in trixie; no systemd-resolved, no
// Debian resolvconf): dhclient's hook registers eth0's server (`resolvconf
// -a eth0`, as /etc/dhcp/dhclient-enter-hooks.d/resolvconf does), the
// looping address goes into /etc/resolvconf.conf, and the real resolvconf
// writes /etc/resolv.conf; unloop checks and applies, resolvconf -u runs
// again, and unloop rolls back.
const openresolvScript = `
set -eu
o=/tmp/out
keep() { cp /etc/resolv.conf "$o/$1.conf"; }
printf '# resolv.conf for eth0\nsearch lan\nnameserver 10.0.0.2\n' | resolvconf -a eth0
case "$1" in
name_servers) echo 'name_servers=169.254.25.10  # node-local-dns' >>/etc/resolvconf.conf ;;
local-only) echo 'name_servers="127.0.0.1"' >>/etc/resolvconf.conf ;;
record) printf '# resolv.conf for eth1\nnameserver 169.254.25.10\n' | resolvconf -a eth1 ;;
esac
resolvconf -u
keep loop
/opt/unloop/unloop check --offline --output json >"$o/check.json" || :
/opt/unloop/unloop apply --offline --output json >"$o/apply.json"
keep applied
# A DHCP renew registers eth1's server again.
[ "$1" = record ] && printf '# resolv.conf for eth1\nnameserver 169.254.25.10\n' | resolvconf -a eth1
resolvconf -u
keep regenerated
/opt/unloop/unloop rollback --offline >"$o/rollback.txt"
keep rolledback
`

// TestOpenresolvRealProgram: the loop written by the real openresolv from
// resolvconf.conf's name_servers, the node cache's address (Kubespray's older
// mode) and 127.0.0.1 (whose resolv_conf_local_only drops eth0's server),
// and from eth1's record (a DHCP server's). check names the input's line;
// apply removes the address from resolvconf.conf's line, or blacklists the
// record's there (a renew registering it again changes nothing), and writes /etc/resolv.conf as the real `resolvconf -u` then writes it,
// byte for byte (eth0's server back in the local-only case), so it stays
// clean; rollback brings the loop back byte for byte. A chroot, no booted node.
func TestOpenresolvRealProgram(t *testing.T) {
	for _, release := range testbed.Releases {
		rootfs, err := node.Rootfs(release + "openresolv")
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range []struct{ input, at, addr string }{
			{"name_servers", "/etc/resolvconf.conf", "169.254.25.10"},
			{"local-only", "/etc/resolvconf.conf", "127.0.0.1"},
			{"record", "/run/resolvconf/interfaces/eth1", "169.254.25.10"},
		} {
			t.Run(release+"/"+tt.input, func(t *testing.T) {
				resolvconfLoop(t, rootfs, openresolvScript, tt.input, tt.at, tt.addr)
			})
		}
	}
}
