#!/bin/sh
# Before removal (not upgrade): stop the watch and disable both units, so no
# apply starts while the binary is going away.
#   deb: prerm remove|upgrade|deconfigure    rpm: %preun 0 (erase) | 1 (upgrade)
set -e
case "${1:-}" in
remove | 0)
	if command -v systemctl >/dev/null 2>&1; then
		if [ -d /run/systemd/system ]; then
			systemctl stop unloop.path unloop-reapply.service unloop.service >/dev/null 2>&1 || true
		fi
		systemctl disable unloop.service unloop.path >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
