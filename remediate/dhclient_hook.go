package remediate

import (
	"fmt"
	"io/fs"
	"net/netip"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// The hook's filter: plain POSIX sh, safe under `set -e` and `set -u` in the
// sourcing script. It only splits and compares the server list, never evaluates
// it, and drops anything that is not made of address characters; set -f in a
// subshell keeps a '*' from the DHCP server from globbing.
const hookFilter = `
unloop_filter() {
	(
		set -f
		unloop_out=''
		for unloop_ns in $1; do
			case $unloop_ns in
			*[!0-9A-Fa-f.:]*) continue ;;
			127.* | ::1 | 0:0:0:0:0:0:0:1 | ::ffff:127.* | ::FFFF:127.*) continue ;;
			esac
			case " $unloop_looping " in
			*" $unloop_ns "*) continue ;;
			esac
			unloop_out="${unloop_out:+$unloop_out }$unloop_ns"
		done
		printf '%s' "$unloop_out"
	)
}

# An empty list would make dhclient-script keep the old (looping) servers:
# substitute the clean upstreams instead.
if [ -n "${new_domain_name_servers:-}" ]; then
	new_domain_name_servers=$(unloop_filter "$new_domain_name_servers")
	if [ -z "$new_domain_name_servers" ]; then
		new_domain_name_servers=$unloop_upstreams
	fi
fi
if [ -n "${new_dhcp6_name_servers:-}" ]; then
	new_dhcp6_name_servers=$(unloop_filter "$new_dhcp6_name_servers")
	if [ -z "$new_dhcp6_name_servers" ]; then
		new_dhcp6_name_servers=$unloop_upstreams6
	fi
fi
`

// RHEL's dhclient-script runs dhclient.d's NAME_config after it wrote
// /etc/resolv.conf, so there the file itself is filtered too.
const hookRHEL = `
unloop_config() {
	unloop_file=/etc/resolv.conf
	[ -f "$unloop_file" ] || return 0
	unloop_tmp="$unloop_file.unloop.$$"
	unloop_kept=0
	: >"$unloop_tmp" || return 0
	while IFS= read -r unloop_line || [ -n "$unloop_line" ]; do
		case $unloop_line in
		nameserver*)
			unloop_ns=$(unloop_filter "${unloop_line#nameserver}")
			if [ -z "$unloop_ns" ]; then
				continue
			fi
			unloop_kept=$((unloop_kept + 1))
			;;
		esac
		printf '%s\n' "$unloop_line" >>"$unloop_tmp"
	done <"$unloop_file"
	if [ "$unloop_kept" -eq 0 ]; then
		for unloop_ns in $unloop_upstreams; do
			printf 'nameserver %s\n' "$unloop_ns" >>"$unloop_tmp"
		done
	fi
	cat "$unloop_tmp" >"$unloop_file"
	rm -f "$unloop_tmp"
}

unloop_restore() {
	:
}
`

// dhclientHook returns where the hook goes on this node, its mode and content.
// Debian and Ubuntu source /etc/dhcp/dhclient-enter-hooks.d/*; RHEL runs
// executable /etc/dhcp/dhclient.d/*.sh.
func dhclientHook(r *hostcfg.Root, looping, ups []netip.Addr) (string, fs.FileMode, []byte) {
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
	rhel := !r.Exists("/etc/dhcp/dhclient-enter-hooks.d") &&
		(r.Exists("/etc/dhcp/dhclient.d") || r.Exists("/etc/redhat-release"))
	path, mode := DebianHook, fs.FileMode(0o644)
	if rhel {
		path, mode = RHELHook, 0o755
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: keeps DNS forwarding loops out of /etc/resolv.conf.\n", resolvconf.UnloopMarker)
	b.WriteString("# dhclient-script sources this at every lease and renew. Written by\n")
	b.WriteString("# `unloop apply --strategy dhclient`; `unloop rollback` removes it.\n")
	fmt.Fprintf(&b, "unloop_looping='%s'\n", strings.Join(loop, " "))
	fmt.Fprintf(&b, "unloop_upstreams='%s'\n", strings.Join(v4, " "))
	fmt.Fprintf(&b, "unloop_upstreams6='%s'\n", strings.Join(v6, " "))
	b.WriteString(hookFilter)
	if rhel {
		b.WriteString(hookRHEL)
	}
	return path, mode, []byte(b.String())
}
