#!/usr/bin/env bash
# Installs what the auth package's interop tests need:
#   - MIT Kerberos KDC and kadmin.local (krb5-kdc, krb5-admin-server) for the
#     TestKerberos* tests, which start their own throwaway KDC on 127.0.0.1;
#   - MIT gss-client and gss-server (krb5-gss-samples), the independent
#     GSS-API implementation the TestKerberosMIT*/OurInitiatorToMIT* tests
#     exchange tokens with (loopback and a socket pair only);
#   - strongSwan's pki tool (strongswan-pki), used only to regenerate the
#     certificates kept in auth/testdata (the tests read the committed files);
#   - openssl, the independent implementation TestSignaturesOpenSSL checks
#     the AUTH signatures against.
# Idempotent. Leaves no system KDC or kadmind running: the tests run their
# own krb5kdc with their own config, and a system daemon is not needed.
set -euo pipefail

pkgs="krb5-kdc krb5-admin-server krb5-user krb5-gss-samples strongswan-pki openssl"
missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	# Do not let package scripts start system daemons (policy-rc.d 101 =
	# action forbidden); remove our policy again afterwards if we made it.
	made_policy=0
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		made_policy=1
	fi
	apt-get -o DPkg::Lock::Timeout=600 update
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y $missing
	if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# Make sure no system KDC or kadmind is running (they would not collide with
# the tests' ports, which are chosen free at run time, but CI should not keep
# daemons it did not ask for).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
	systemctl disable --now krb5-kdc krb5-admin-server 2>/dev/null || true
fi
for svc in krb5-kdc krb5-admin-server; do
	if [ -x "/etc/init.d/$svc" ]; then "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
done
echo "kerberos setup: krb5kdc=$(command -v krb5kdc) kdb5_util=$(command -v kdb5_util) kadmin.local=$(command -v kadmin.local) pki=$(command -v pki)"
