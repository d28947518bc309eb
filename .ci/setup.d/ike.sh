#!/usr/bin/env bash
# Packages for ike's TestInterop* tests: strongSwan 5.9.8 (charon with the
# kernel-libipsec plugin for userspace ESP, swanctl, pki) and iproute2 for
# the network namespaces (internal/swtest starts and stops the charons).
# Idempotent. Leaves no system charon running.
set -euo pipefail
pkgs="strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-extra-plugins strongswan-pki iproute2"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi
# A system charon would hold UDP 500/4500 in the root namespace.
if command -v systemctl >/dev/null 2>&1; then
	systemctl disable --now strongswan-starter >/dev/null 2>&1 || true
	systemctl disable --now strongswan >/dev/null 2>&1 || true
fi
exit 0
