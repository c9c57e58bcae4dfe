package remediate

import (
	"github.com/unloop/unloop/remediate/node"

	"fmt"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/unloop/unloop/hostcfg"
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

// The hook's filter: plain POSIX sh, safe under `set -e` and `set -u` in the
// sourcing script. It only splits and compares the server list, never evaluates
// it, and drops anything that is not made of address characters; set -f in a
// subshell keeps a '*' from the DHCP server from globbing, and its own IFS keeps
// a caller's IFS (RHEL's dhconfig leaves IFS=', |' behind) from splitting
// differently. A zone (fe80::1%eth0, as RHEL writes link-local servers) is
// kept: it names no loop; check warns about it (nameserver-zone-index).
const hookFilter = `
unloop_filter() {
	(
		set -f
		IFS=' 	
'
		unloop_out=''
		for unloop_ns in $1; do
			unloop_addr=${unloop_ns%%[%]*}
			case $unloop_addr in
			'' | *[!0-9A-Fa-f.:]*) continue ;;
			127.* | ::1 | 0:0:0:0:0:0:0:1 | ::ffff:127.* | ::FFFF:127.*) continue ;;
			::ffff:0.0.0.0 | ::FFFF:0.0.0.0) continue ;;
			*[!0.:]*) ;;
			*) continue ;; # 0.0.0.0, ::, 0:0:0:0:0:0:0:0: the local host
			esac
			case $unloop_ns in
			*%*)
				case ${unloop_ns#*%} in
				'' | *[!0-9A-Za-z_.-]*) continue ;;
				esac
				;;
			esac
			case " $unloop_looping " in
			*" $unloop_addr "*) continue ;;
			esac
			unloop_out="${unloop_out:+$unloop_out }$unloop_ns"
		done
		printf '%s' "$unloop_out"
	)
}

unloop_clean() {
	unloop_c=$(unloop_filter "$1")
	printf '%s' "${unloop_c:-$2}"
}

# An empty list would make dhclient-script keep the old (looping) servers, or
# write none: substitute the clean upstreams. A v4 lease may name v6 servers
# (glibc reads both); a v6 lease takes the v4 upstreams when there is no v6
# one, so that resolv.conf never goes without a server. The old_* lists are
# cleaned the same way: at a renew dhclient-script writes the file only when
# new_* differs from old_* (RHEL's at RENEW, RENEW6 and REBIND6, dhcp 4.4.2;
# Debian's at RENEW6 and REBIND6, isc-dhcp-client 4.4.3), so an unchanged
# lease must compare equal after the filter too, and write nothing.
if [ -n "${new_domain_name_servers:-}" ]; then
	new_domain_name_servers=$(unloop_clean "$new_domain_name_servers" "${unloop_upstreams:-$unloop_upstreams6}")
fi
if [ -n "${old_domain_name_servers:-}" ]; then
	old_domain_name_servers=$(unloop_clean "$old_domain_name_servers" "${unloop_upstreams:-$unloop_upstreams6}")
fi
if [ -n "${new_dhcp6_name_servers:-}" ]; then
	new_dhcp6_name_servers=$(unloop_clean "$new_dhcp6_name_servers" "${unloop_upstreams6:-$unloop_upstreams}")
fi
if [ -n "${old_dhcp6_name_servers:-}" ]; then
	old_dhcp6_name_servers=$(unloop_clean "$old_dhcp6_name_servers" "${unloop_upstreams6:-$unloop_upstreams}")
fi
`

// hookRHEL is the second line of defence: RHEL's dhclient-script calls
// unloop_config after it wrote /etc/resolv.conf (and NetworkManager's
// 11-dhclient on "up"). A clean file is not touched; one without any server
// (written before the filter ran, or by a hand) gets the upstreams, since
// glibc would ask 127.0.0.1. Otherwise the filtered
// file is written in full to a temp file beside it, every write checked, and
// renamed over the old one: a full disk or a failed write leaves the old file
// as it was, never an empty or cut one. A link is followed to the file it names
// (the link stays). The temp file takes the old one's mode, owner and SELinux
// label before the rename; where chcon is refused, dhclient's domain gets
// net_conf_t for files it makes in /etc by the policy's own transition.
const hookRHEL = `
unloop_config() {
	unloop_rewrite /etc/resolv.conf ||
		echo "unloop: /etc/resolv.conf left as it was: it could not be rewritten" >&2 || :
}

unloop_rewrite() {
	unloop_file=$1
	if [ -L "$unloop_file" ]; then
		unloop_file=$(readlink -f -- "$1") || return 1
	fi
	[ -f "$unloop_file" ] || return 0
	unloop_dirty=0
	unloop_kept=0
	while IFS= read -r unloop_line || [ -n "$unloop_line" ]; do
		case $unloop_line in
		nameserver*)
			if [ -z "$(unloop_filter "${unloop_line#nameserver}")" ]; then
				unloop_dirty=1
			else
				unloop_kept=1
			fi
			;;
		esac
	done <"$unloop_file" || return 1
	[ "$unloop_dirty" -eq 1 ] || [ "$unloop_kept" -eq 0 ] || return 0
	unloop_tmp="$unloop_file.unloop.$$"
	if ! (
		set -C -f
		IFS=' 	
'
		exec >"$unloop_tmp" || exit 1
		unloop_kept=0
		while IFS= read -r unloop_line || [ -n "$unloop_line" ]; do
			case $unloop_line in
			nameserver*)
				if [ -z "$(unloop_filter "${unloop_line#nameserver}")" ]; then
					continue
				fi
				unloop_kept=$((unloop_kept + 1))
				;;
			esac
			printf '%s\n' "$unloop_line" || exit 1
		done <"$unloop_file" || exit 1
		if [ "$unloop_kept" -eq 0 ]; then
			for unloop_ns in $unloop_upstreams $unloop_upstreams6; do
				printf 'nameserver %s\n' "$unloop_ns" || exit 1
			done
		fi
	); then
		rm -f "$unloop_tmp"
		return 1
	fi
	chmod --reference="$unloop_file" "$unloop_tmp" 2>/dev/null || chmod 644 "$unloop_tmp" || :
	chown --reference="$unloop_file" "$unloop_tmp" 2>/dev/null || :
	chcon --reference="$unloop_file" "$unloop_tmp" 2>/dev/null || :
	if ! mv -f "$unloop_tmp" "$unloop_file"; then
		rm -f "$unloop_tmp"
		return 1
	fi
}

unloop_restore() {
	:
}
`

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
	b.WriteString(hookFilter)
	if rhel {
		b.WriteString(hookRHEL)
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
