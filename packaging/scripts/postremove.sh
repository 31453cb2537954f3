#!/bin/sh
# planet package: after removing the files.
# Called as: deb postrm "remove" | "purge" | "upgrade" ...; rpm %postun <count>.
#
# remove: planet.prom goes too, or node_exporter would go on serving the last
#         scan's metrics as if they were current.
# purge (deb), erase (rpm has no purge): also the state directory and the
#         postinst's ACL entry on the textfile directory. The planet user stays, as Debian
#         policy asks of system users (files it owned may remain elsewhere).
set -e

textfile=/var/lib/prometheus/node-exporter/planet.prom

case "$1" in
remove)
	rm -f "$textfile"
	;;
purge | 0)
	rm -f "$textfile"
	rm -rf /var/lib/planet
	if command -v setfacl >/dev/null 2>&1 && [ -d /var/lib/prometheus/node-exporter ]; then
		setfacl -P -x u:planet /var/lib/prometheus/node-exporter 2>/dev/null || true
	fi
	;;
*)
	exit 0
	;;
esac

if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
exit 0
