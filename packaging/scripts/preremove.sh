#!/bin/sh
# planet package: before removing the files. Stops and disables the timer
# and the socket.
# Called as: deb prerm "remove" | "upgrade" ...; rpm %preun <count> (0: erase).
set -e

case "$1" in
remove | 0) ;;
*) exit 0 ;; # an upgrade keeps the timer as the admin left it
esac

if command -v systemctl >/dev/null 2>&1; then
	if [ -d /run/systemd/system ]; then
		systemctl stop planet.timer planet.socket planet.service >/dev/null 2>&1 || true
	fi
	systemctl disable planet.timer planet.socket >/dev/null 2>&1 || true
fi
exit 0
