#!/usr/bin/env bash
# Packages for ah's TestScapyInterop and sad's TestBundleScapy: Scapy's IPsec module (python3-scapy,
# with python3-cryptography for its HMACs), an independent implementation of
# RFC 4302 AH that the test checks sealed and opened packets against, run as
# /usr/bin/python3 (the Debian interpreter, whatever python3 is on PATH).
# Idempotent; starts no daemon.
set -euo pipefail
pkgs="python3 python3-scapy python3-cryptography"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
fi
/usr/bin/python3 -c "import scapy.layers.ipsec"
