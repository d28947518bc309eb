#!/usr/bin/env bash
# Installs strongSwan (two private charon instances are started by the tests
# themselves, see internal/swtest) and tcpdump for the isakmp capture helper.
# Idempotent. Leaves no system charon running.
set -euo pipefail
pkgs="strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins strongswan-pki tcpdump iproute2"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi
# The tests run their own charons in namespaces; a system instance would
# hold ports 500/4500 in the root namespace and /run/charon.pid.
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now strongswan-starter >/dev/null 2>&1 || true
	systemctl disable --now strongswan >/dev/null 2>&1 || true
fi
if [ -f /run/charon.pid ]; then
	pid=$(cat /run/charon.pid)
	# Only the system charon writes /run/charon.pid in the root namespace.
	if [ -n "$pid" ] && [ "$(cat /proc/$pid/comm 2>/dev/null)" = "charon" ]; then
		kill "$pid" || true
	fi
fi
exit 0
