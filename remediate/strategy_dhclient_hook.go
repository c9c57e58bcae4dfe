package remediate

import (
	"github.com/unloop/unloop/remediate/node"

	"fmt"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/dhclient"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// How the dhclient-scripts run hooks, as read in their sources:
//
//   - Debian and Ubuntu (isc-dhcp-client): every file in
//     /etc/dhcp/dhclient-enter-hooks.d is sourced first, before
//     make_resolv_conf writes /etc/resolv.conf.
//   - RHEL 7, its rebuilds and Amazon Linux 2 (dhcp-4.2.5-68.el7_5.1's
//     dhclient-script: github.com/gogobiz/centos-dhcp-jaguar, branch c7,
//     SOURCES/dhclient-script): the script sources /etc/dhcp/dhclient-enter-hooks
//     first, only when it is executable, after setting exit_status=0 (a
//     non-zero exit_status makes it exit). make_resolv_conf then writes the
//     file through initscripts' change_resolv_conf (network-functions,
//     fedora-sysv/initscripts 9.49), which truncates and rewrites it in place;
//     an empty server list keeps the old servers. At the end of dhconfig and
//     dh6config, so after make_resolv_conf, each executable
//     /etc/dhcp/dhclient.d/NAME.sh is sourced and NAME_config called; EXPIRE,
//     FAIL, RELEASE and STOP (and their v6 kinds) call NAME_restore.
//   - RHEL 8 and 9 (Fedora's script since dhcp-4.3.2-6, "run also scripts in
//     dhclient-[enter/exit]-hooks.d dir"; read at 4.4.2: the rpms/dhcp mirror
//     VersatusHPC/rpms-dhcp): the same order, but dhclient-enter-hooks is
//     sourced from a function (run_hook) whenever it is a regular file,
//     executable or not, with exit_status local to it, and the script writes
//     resolv.conf itself (no initscripts since 4.3.2-11).
//
// So on RHEL the filter runs from dhclient-enter-hooks; dhclient.d's
// unloop_config, which runs after the write, is the second line of defence.

// RHELEnterHooks is the one enter hook RHEL's dhclient-script sources. It may
// be the admin's own: unloop splices a marked block into it.
const RHELEnterHooks = "/etc/dhcp/dhclient-enter-hooks"

// dhclientLayout says which dhclient-script the node runs: RHEL's (rhel, with
// its major version when os-release names one) or Debian's. Without an
// os-release of a known RHEL, RHEL's is recognised by its dhclient.d folder
// (and no enter-hooks.d) or by /etc/redhat-release.
func dhclientLayout(n *node.Node, r *hostcfg.Root) (rhel bool, major int) {
	if major = n.OS.RHELMajor(); major != 0 {
		return true, major
	}
	rhel = !r.Exists("/etc/dhcp/dhclient-enter-hooks.d") &&
		(r.Exists("/etc/dhcp/dhclient.d") || r.Exists("/etc/redhat-release"))
	return rhel, 0
}

// dhclientHook returns where the filter goes on this node, its mode and
// content: Debian's enter-hooks.d/unloop, or RHEL's dhclient.d/unloop.sh (which
// the enter hook sources, and which holds the second line of defence).
func dhclientHook(rhel bool, looping, ups []netip.Addr) (string, fs.FileMode, []byte) {
	var v4, v6, loop []string
	for _, a := range looping {
		loop = append(loop, a.String())
		if a.Is4() {
			// A DHCPv6 server can hand out the same address IPv4-mapped.
			loop = append(loop, "::ffff:"+a.String(), "::FFFF:"+a.String())
		}
	}
	for _, a := range ups {
		if a.Is4() {
			v4 = append(v4, a.String())
		} else {
			v6 = append(v6, a.String())
		}
	}
	path, mode := DebianHook, fs.FileMode(0o644)
	if rhel {
		path, mode = RHELHook, 0o755
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: keeps DNS forwarding loops out of /etc/resolv.conf.\n", resolvconf.UnloopMarker)
	if rhel {
		fmt.Fprintf(&b, "# %s sources this before dhclient-script writes /etc/resolv.conf;\n", RHELEnterHooks)
		b.WriteString("# dhclient-script's unloop_config call afterwards is a second line of defence.\n")
	} else {
		b.WriteString("# dhclient-script sources this at every lease and renew, before it writes\n# /etc/resolv.conf.\n")
	}
	b.WriteString("# Written by `unloop apply --strategy dhclient`; `unloop rollback` removes it.\n")
	fmt.Fprintf(&b, "unloop_looping='%s'\n", strings.Join(loop, " "))
	fmt.Fprintf(&b, "unloop_upstreams='%s'\n", strings.Join(v4, " "))
	fmt.Fprintf(&b, "unloop_upstreams6='%s'\n", strings.Join(v6, " "))
	b.WriteString(dhclient.HookFilter)
	if rhel {
		b.WriteString(dhclient.HookRHEL)
	}
	return path, mode, []byte(b.String())
}

// The block spliced into RHELEnterHooks (hostcfg/block: rollback removes it
// by its marker lines): it sources unloop's filter, and sets nothing else
// (never exit_status, which would stop dhclient-script).
const (
	enterNote = "keeps DNS forwarding loops out of /etc/resolv.conf; `unloop rollback` removes this block"
	enterBody = "if [ -f " + RHELHook + " ]; then\n" +
		"\t. " + RHELHook + "\n" +
		"fi\n"
)
