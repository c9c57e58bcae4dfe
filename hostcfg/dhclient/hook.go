package dhclient

// The shell text of unloop's dhclient hook, kept here beside the parser of
// what dhclient reads; remediate's dhclient strategy writes the hook.

// HookFilter is the filter of unloop's dhclient hook (remediate's dhclient
// strategy writes it after the looping addresses and upstreams): plain POSIX
// sh, safe under `set -e` and `set -u` in the sourcing script. It only splits and compares the server list, never evaluates
// it, and drops anything that is not made of address characters; set -f in a
// subshell keeps a '*' from the DHCP server from globbing, and its own IFS keeps
// a caller's IFS (RHEL's dhconfig leaves IFS=', |' behind) from splitting
// differently. A zone (fe80::1%eth0, as RHEL writes link-local servers) is
// kept: it names no loop; check warns about it (nameserver-zone-index).
const HookFilter = `
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

// HookRHEL is the second line of defence: RHEL's dhclient-script calls
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
const HookRHEL = `
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
