#!/bin/sh
# After removal: systemd forgets the units. A purge also removes unloop's
# run journal (the originals `unloop rollback` would restore): after a purge
# there is nothing to roll back with, which is what purge means.
#   deb: postrm remove|purge|upgrade|...     rpm: %postun 0 (erase) | 1 (upgrade)
set -e
if [ "${1:-}" = purge ]; then
	rm -rf /var/lib/unloop
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
