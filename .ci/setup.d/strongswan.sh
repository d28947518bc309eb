#!/usr/bin/env bash
# strongSwan 5.9.8 for the isakmp captures and the ike TestInterop* tests:
# charon with the kernel-libipsec plugin (userspace ESP over TUN), swanctl,
# pki; iproute2 for the network namespaces; tcpdump for the capture helper.
# internal/swtest starts and stops the charons the tests need, by PID.
# Idempotent. Leaves no system charon running (it would hold UDP 500/4500
# and /run/charon.pid).
set -euo pipefail
. "$(dirname "$0")/../lib.sh"
need_packages strongswan-charon strongswan-swanctl libcharon-extra-plugins \
	libstrongswan-extra-plugins strongswan-pki tcpdump iproute2
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now strongswan-starter strongswan >/dev/null 2>&1 || true
fi
