#!/bin/sh
# After install or upgrade: systemd sees the new units; a first install
# enables the boot unit and the watch (they start at the next boot, or now
# with `systemctl start unloop.service unloop.path`: installing a package
# does not change the node's DNS by itself).
#   deb: postinst configure [OLD-VERSION]    rpm: %post 1 (install) | 2 (upgrade)
set -e
first=false
case "${1:-}" in
configure) [ -n "${2:-}" ] || first=true ;;
1) first=true ;;
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
if $first && command -v systemctl >/dev/null 2>&1; then
	systemctl enable unloop.service unloop.path >/dev/null 2>&1 ||
		echo "unloop: could not enable unloop.service and unloop.path; enable them by hand" >&2
fi
exit 0
