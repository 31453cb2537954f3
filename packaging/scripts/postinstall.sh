#!/bin/sh
# planet package: after unpacking. Creates the planet user and directories and
# enables planet.timer and planet.socket on the first install.
# Called as: deb postinst "configure" [<old version>]; rpm %post <count>.
set -e

first_install=false
case "$1" in
configure) [ -z "$2" ] && first_install=true ;;
1) first_install=true ;;
2) ;;
*) exit 0 ;; # abort-upgrade, abort-remove, ...: nothing to redo
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/planet.conf
elif ! getent passwd planet >/dev/null 2>&1; then
	useradd --system --user-group --home-dir /var/lib/planet --no-create-home \
		--shell /usr/sbin/nologin --comment "planet dependency scanner" planet
fi

if command -v systemd-tmpfiles >/dev/null 2>&1; then
	systemd-tmpfiles --create /usr/lib/tmpfiles.d/planet.conf
else
	install -d -o planet -g planet -m 0755 /var/lib/planet
fi

# node_exporter's textfile directory (Debian's path; prometheus-node-exporter
# may not be installed yet). User planet gets one ACL entry to create and
# replace planet.prom there; owner, group and mode stay as they are. -P: never
# through a symlink, since the parent may belong to user prometheus.
textfile_dir=/var/lib/prometheus/node-exporter
if [ ! -e "$textfile_dir" ]; then
	install -d -m 0755 "$textfile_dir"
fi
if [ -d "$textfile_dir" ] && [ ! -L "$textfile_dir" ] && command -v setfacl >/dev/null 2>&1; then
	setfacl -P -m u:planet:rwx "$textfile_dir"
else
	echo "planet: could not let user planet write $textfile_dir (needs setfacl, package acl); planet.service will fail to write planet.prom" >&2
fi

if command -v systemctl >/dev/null 2>&1; then
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	if $first_install; then
		# Enabling works without a running systemd (it only makes the
		# timers.target.wants link), so an image built now scans once booted.
		systemctl enable planet.timer planet.socket >/dev/null 2>&1 || true
		if [ -d /run/systemd/system ]; then
			systemctl start planet.socket planet.timer || true
		fi
	fi
fi
exit 0
